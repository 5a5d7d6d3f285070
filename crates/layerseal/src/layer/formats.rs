//! The filesystem builders a layer's tar can go through, chosen once from
//! the options: each reads the tar and returns level 0 of the dm-verity
//! tree (the data blocks' digests), having written the image if asked.

use std::cell::RefCell;
use std::io::{self, Read};

use super::{drain_and_check, ErofsUuid, FsFormat, LayerError, LayerOptions, StreamDigests};
use crate::atomic::AtomicFile;
use crate::sink::BlockSink;
use crate::verity::{self, HashingSink, OutputError, Params};

/// The format a layer becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Builder {
    /// hcsshim's tar2ext4.
    Ext4,
    /// mkfs.erofs: the whole tree read, then the image written in
    /// traversal order.
    Erofs,
    /// mkfs.erofs --sort=none: file data streams into the image in tar order.
    ErofsSortNone,
    /// mkfs.erofs --tar=i: an index image followed by the tar itself.
    ErofsTarIndex,
}

/// What every builder needs while it writes.
pub(super) struct BuildContext<'a> {
    pub opts: &'a LayerOptions,
    pub params: Params,
    pub image: Option<&'a AtomicFile>,
    pub check: &'a dyn Fn() -> Result<(), String>,
    pub digests: Option<&'a StreamDigests<'a>>,
    /// Write failures of the output, whatever error they surface as.
    pub output_errors: RefCell<Vec<OutputError>>,
}

impl BuildContext<'_> {
    /// A hashing sink writing into the image (if any) from offset 0.
    fn new_sink(&self) -> Result<HashingSink, LayerError> {
        let sink_file = match self.image {
            Some(f) => Some((f.file().try_clone().map_err(super::out_err(f.target()))?, 0)),
            None => None,
        };
        let sink = HashingSink::new(self.params.clone(), sink_file, self.opts.threads)
            .map_err(LayerError::Input)?;
        self.output_errors.borrow_mut().push(sink.output_error());
        Ok(sink)
    }

    /// An I/O error while writing: the output's when there is one.
    pub fn output_err(&self, e: io::Error) -> LayerError {
        match self.image {
            Some(f) => LayerError::Output {
                path: f.target().to_path_buf(),
                source: e,
            },
            None => LayerError::Input(e),
        }
    }

    /// The UUID the EROFS superblock carries (containerd derives it from
    /// a digest of the layer).
    fn erofs_uuid(&self) -> Result<[u8; 16], LayerError> {
        let named = |d: crate::source::Digest| crate::erofs::uuid5_url(&format!("erofs:blobs/{d}"));
        match (self.opts.erofs_uuid, self.digests) {
            (ErofsUuid::Fixed(u), _) => Ok(u),
            (ErofsUuid::BlobDigest, Some(d)) => Ok(named((d.blob)())),
            (ErofsUuid::DiffId, Some(d)) => Ok(named((d.diff_id)())),
            (_, None) => Err(LayerError::Erofs(
                "no digest to derive the EROFS UUID from".into(),
            )),
        }
    }

    fn drain<R: Read>(&self, tar: &mut R) -> Result<(), LayerError> {
        drain_and_check(tar, self.check)
    }
}

impl Builder {
    pub fn for_options(opts: &LayerOptions) -> Self {
        match opts.format {
            FsFormat::Ext4 => Builder::Ext4,
            FsFormat::Erofs if opts.tar_index => Builder::ErofsTarIndex,
            FsFormat::Erofs if opts.mkfs.sort_none => Builder::ErofsSortNone,
            FsFormat::Erofs => Builder::Erofs,
        }
    }

    /// The dm-verity parameters of this format's images.
    pub fn params(self) -> Params {
        match self {
            Builder::ErofsTarIndex => crate::erofs::tar_index::verity_params(),
            _ => Params::standard(),
        }
    }

    /// Read the tar, write the image (if any), return level 0 of the tree.
    pub fn level0<R: Read>(
        self,
        tar: &mut R,
        ctx: &BuildContext<'_>,
        in_place: Option<std::fs::File>,
    ) -> Result<verity::Level0, LayerError> {
        let opts = ctx.opts;
        match self {
            Builder::Ext4 => {
                let (sink, _) =
                    crate::ext4::convert(&mut *tar, ctx.new_sink()?, opts.max_disk_size)?;
                ctx.drain(tar)?;
                sink.finish().map_err(|e| ctx.output_err(e))
            }
            Builder::ErofsTarIndex => {
                // The index describes the whole tar: read it all (keeping
                // it), then stream index + tar into the output.
                let indexed = crate::erofs::tar_index::IndexedTar::read(
                    &mut *tar,
                    in_place,
                    &opts.mkfs,
                    |rest| drain_and_check(rest, ctx.check),
                )?;
                let out = ctx.image.map(|f| f.file());
                let (digests, blocks) = indexed
                    .write(ctx.erofs_uuid()?, &ctx.params, out, opts.threads)
                    .map_err(|e| ctx.output_err(e))?;
                Ok(verity::Level0 { digests, blocks })
            }
            Builder::ErofsSortNone => {
                // Block 0 (the superblock) is written last, once known.
                let mut sink = ctx.new_sink()?;
                sink.reserve_leading(1).map_err(|e| ctx.output_err(e))?;
                let (tree, _) =
                    crate::erofs::tree::Tree::from_tar_streaming(&mut *tar, &mut sink, &opts.mkfs)?;
                ctx.drain(tar)?;
                let (sink, _) = crate::erofs::build::write_streamed(&tree, sink, ctx.erofs_uuid()?)
                    .map_err(|e| ctx.output_err(e))?;
                sink.finish().map_err(|e| ctx.output_err(e))
            }
            Builder::Erofs => {
                // Nothing written: hash file data while it decompresses
                // instead of spooling it for the traversal-order pass.
                let (tree, _) = if ctx.image.is_none() && in_place.is_none() {
                    crate::erofs::tree::Tree::from_tar_hashed(
                        &mut *tar,
                        &opts.mkfs,
                        ctx.params.clone(),
                        opts.threads,
                    )?
                } else {
                    crate::erofs::tree::Tree::from_tar_with(&mut *tar, in_place, &opts.mkfs)?
                };
                ctx.drain(tar)?;
                let (sink, _) =
                    crate::erofs::build::write(&tree, ctx.new_sink()?, ctx.erofs_uuid()?)
                        .map_err(LayerError::Input)?;
                sink.finish().map_err(|e| ctx.output_err(e))
            }
        }
    }
}
