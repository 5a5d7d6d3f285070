//! The root-hash cache: results of hash-only runs, keyed by diff_id and
//! everything else the root depends on (format, layout, mkfs options and
//! release, and for blob-named EROFS UUIDs the blob), under the tool's
//! version. A failed cache write never fails the command.

use std::path::{Path, PathBuf};

use crate::layer::{ErofsUuid, FsFormat, LayerOptions};
use crate::source::{Digest, Layer};

fn cache_key(dir: &Path, layout: &str, diff_id: &Digest) -> PathBuf {
    // The tool version is part of the key: a release that changed the
    // output must not reuse an older result.
    dir.join(format!("v{}", env!("CARGO_PKG_VERSION")))
        .join(layout)
        .join(format!("{}-{}.roothash", diff_id.algorithm, diff_id.hex))
}

/// What a cached root depends on besides the diff_id: format, layout,
/// mkfs options and release, and for EROFS UUIDs named after the blob,
/// the blob digest (one diff_id can come gzip- or zstd-compressed).
pub(super) fn cache_layout(opts: &LayerOptions, layer: &Layer) -> String {
    match opts.format {
        FsFormat::Ext4 => format!("ext4-{}G", opts.max_disk_size >> 30),
        FsFormat::Erofs => {
            let uuid = match (&opts.erofs_uuid, &layer.digest) {
                (ErofsUuid::BlobDigest, Some(d)) => format!("blob-{}", d.hex),
                (u, _) => format!("{u:?}").to_lowercase(),
            };
            format!(
                "erofs{}-uuid-{uuid}-{}",
                if opts.tar_index { "-tarindex" } else { "" },
                opts.mkfs.cache_key().replace(' ', "_"),
            )
        }
    }
}

/// A cached `ROOT [IMAGE_SIZE]` line.
pub(super) fn cache_get(
    dir: &Path,
    layout: &str,
    diff_id: &Digest,
) -> Option<(String, Option<u64>)> {
    let s = std::fs::read_to_string(cache_key(dir, layout, diff_id)).ok()?;
    let mut words = s.split_whitespace();
    let root = words.next()?;
    let size = words.next().and_then(|w| w.parse().ok());
    (root.len() == 64 && root.bytes().all(|c| c.is_ascii_hexdigit()))
        .then(|| (root.to_string(), size))
}

pub(super) fn cache_put(dir: &Path, layout: &str, diff_id: &Digest, root: &str, image_size: u64) {
    let path = cache_key(dir, layout, diff_id);
    if let Some(parent) = path.parent() {
        if std::fs::create_dir_all(parent).is_ok() {
            if let Ok(f) = crate::atomic::AtomicFile::create(&path) {
                use std::io::Write;
                if f.file()
                    .write_all(format!("{root} {image_size}\n").as_bytes())
                    .is_ok()
                {
                    let _ = f.commit();
                }
            }
        }
    }
}
