//! EROFS images as `mkfs.erofs --tar=f --aufs -Enoinline_data -b4096`
//! (erofs-utils 1.9.3, or 1.8.10 / 1.8.6) writes them for containerd's EROFS
//! snapshotter, with the options a differ is configured with
//! ([`options`]: `-T`, `--mkfs-time`, `--sort=none`): [`tree`] (tar → tree
//! with mkfs's rules), `alloc` (its block allocator), [`build`]
//! (traversal, jobs, image bytes), `format`(mod@format) (on-disk structures).
//!
//! By default file data is laid out in path order, so it is spooled while
//! the tar is read; with `--sort=none` mkfs puts it in tar order from block
//! 1 and it streams straight into the sink ([`tree::Tree::from_tar_streaming`]).

pub(crate) mod alloc;
pub mod build;
pub(crate) mod format;
pub mod options;
pub mod reader;
pub mod tar_index;
pub mod tree;

use std::io::Read;

use crate::sink::BlockSink;
pub use build::ErofsSummary;
pub use options::{MkfsOptions, MkfsVersion};

#[derive(Debug, thiserror::Error)]
pub enum ErofsError {
    #[error("{0}")]
    Tree(#[from] tree::TreeError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Convert a (decompressed) tar stream into an EROFS image in `sink`.
pub fn convert<R: Read, S: BlockSink>(
    input: R,
    sink: S,
    uuid: [u8; 16],
) -> Result<(S, ErofsSummary), ErofsError> {
    convert_with(input, sink, uuid, &MkfsOptions::default())
}

/// [`convert`] as mkfs.erofs run with `opts` (build time, `--sort`,
/// erofs-utils release) writes the image.
pub fn convert_with<R: Read, S: BlockSink>(
    input: R,
    sink: S,
    uuid: [u8; 16],
    opts: &MkfsOptions,
) -> Result<(S, ErofsSummary), ErofsError> {
    if opts.sort_none {
        // Data in tar order: it streams straight into the sink.
        let mut sink = sink;
        sink.reserve_leading(1)?;
        let (tree, _) = tree::Tree::from_tar_streaming(input, &mut sink, opts)?;
        return Ok(build::write_streamed(&tree, sink, uuid)?);
    }
    let (tree, _) = tree::Tree::from_tar_with(input, None, opts)?;
    Ok(build::write(&tree, sink, uuid)?)
}

/// RFC 9562 version-5 UUID (SHA-1, URL namespace) of `name`, as containerd
/// derives EROFS UUIDs: `uuid5(URL, "erofs:blobs/" + digest)`.
pub fn uuid5_url(name: &str) -> [u8; 16] {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid5_matches_the_vectors() {
        // basic.tar: uuid5(URL, "erofs:blobs/sha256:0a64e5...") = 68aedc1a-093d-599c-8138-b885413d4c82
        let u = super::uuid5_url(
            "erofs:blobs/sha256:0a64e54b684ecadfb260857ee4eb9d550bb1775bd8d87ec4bfdb04a6d5f889cf",
        );
        let hex: String = u.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "68aedc1a093d599c8138b885413d4c82");
    }
}
