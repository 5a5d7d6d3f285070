//! One layer, end to end: decompress → tar → ext4 → dm-verity → files.
//!
//! One pass: the tar is never stored, the image is never re-read; level 0
//! of the tree is hashed on all cores while the image streams.

mod finish;
mod formats;

use std::io::{self, Read};
use std::path::PathBuf;

use crate::atomic::AtomicFile;
use crate::compress::{self, Compression};
use crate::ext4::{self, ConvertError};
use crate::verity::{self, Superblock};
use finish::OpenOutputs;
use formats::{BuildContext, Builder};

/// Files to write. With no image path, only the root hash is computed.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// The filesystem image (with the hash tree appended unless a separate
    /// hash device is given).
    pub image: Option<PathBuf>,
    /// A separate hash device: verity superblock block + tree.
    pub hash_device: Option<PathBuf>,
    /// Append a fixed VHD footer to each file written.
    pub vhd: bool,
}

/// Which filesystem to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsFormat {
    /// ext4 as hcsshim's tar2ext4 writes it.
    #[default]
    Ext4,
    /// EROFS as mkfs.erofs 1.9.3 writes it for containerd.
    Erofs,
}

/// Where an EROFS image's UUID comes from (containerd derives it as
/// uuid5(URL, "erofs:blobs/" + digest)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErofsUuid {
    /// The digest of the layer as given (compressed or not), as the differ.
    #[default]
    BlobDigest,
    /// The diff_id (uncompressed digest), as the image converter.
    DiffId,
    Fixed([u8; 16]),
}

#[derive(Debug, Clone)]
pub struct LayerOptions {
    /// Metadata reservation (compactext4 `MaximumDiskSize`; ext4 only).
    pub max_disk_size: u64,
    pub outputs: Outputs,
    /// Hashing threads; 0 = all cores.
    pub threads: usize,
    pub format: FsFormat,
    pub erofs_uuid: ErofsUuid,
    /// The dm-verity superblock UUID (default: derived from the root hash).
    pub verity_uuid: Option<[u8; 16]>,
    /// EROFS only: a tar-index image (`mkfs.erofs --tar=i`) with the tar
    /// appended, instead of a full image.
    pub tar_index: bool,
    /// EROFS only: the mkfs.erofs options and release to reproduce
    /// (default `-T0 --mkfs-time`, erofs-utils 1.9.3).
    pub mkfs: crate::erofs::MkfsOptions,
}

impl Default for LayerOptions {
    fn default() -> Self {
        LayerOptions {
            max_disk_size: ext4::LAYOUT_128G,
            outputs: Outputs::default(),
            threads: 0,
            format: FsFormat::Ext4,
            erofs_uuid: ErofsUuid::BlobDigest,
            verity_uuid: None,
            tar_index: false,
            mkfs: crate::erofs::MkfsOptions::default(),
        }
    }
}

/// The digests an EROFS UUID may be derived from, known once the layer
/// stream has been read to its end.
pub struct StreamDigests<'a> {
    pub blob: &'a dyn Fn() -> crate::source::Digest,
    pub diff_id: &'a dyn Fn() -> crate::source::Digest,
}

/// What a conversion produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerReport {
    pub root_hash: String,
    pub compression: Compression,
    /// Bytes of the ext4 image (= dm-verity data size = hash offset when
    /// the tree is appended).
    pub image_size: u64,
    pub tree_size: u64,
    pub data_blocks: u64,
    pub verity_uuid: [u8; 16],
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("input file is not a tar archive")]
    NotTar,
    #[error("{0}")]
    Convert(#[from] ConvertError),
    #[error("{path}: {source}")]
    Output { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Input(io::Error),
    #[error("{0}")]
    Verification(String),
    #[error("{0}")]
    Erofs(String),
    #[error("compressed layer stream is corrupt: {0} (found after the end of the tar archive)")]
    Trailing(io::Error),
}

impl From<crate::erofs::tree::TreeError> for LayerError {
    fn from(e: crate::erofs::tree::TreeError) -> Self {
        LayerError::Erofs(e.to_string())
    }
}

fn out_err(path: &std::path::Path) -> impl FnOnce(io::Error) -> LayerError + '_ {
    move |source| LayerError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// Read the stream to its end (it checks the gzip/zstd checksums — a
/// corrupt byte may otherwise decode to plausible tar data — and is what a
/// diff_id covers), then run the caller's checks.
fn drain_and_check<R: Read + ?Sized>(
    tar: &mut R,
    check: &dyn Fn() -> Result<(), String>,
) -> Result<(), LayerError> {
    io::copy(tar, &mut io::sink()).map_err(LayerError::Trailing)?;
    check().map_err(LayerError::Verification)
}

/// A stream that gives back the first block after it was peeked.
struct Peeked<R> {
    head: Vec<u8>,
    at: usize,
    rest: R,
}

impl<R: Read> Read for Peeked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at < self.head.len() {
            let n = buf.len().min(self.head.len() - self.at);
            buf[..n].copy_from_slice(&self.head[self.at..self.at + n]);
            self.at += n;
            return Ok(n);
        }
        self.rest.read(buf)
    }
}

/// dmverity-vhd's "is a tar" test on the first block: a checksum-valid
/// header or an all-zero block (or nothing: an empty archive).
fn looks_like_tar(head: &[u8]) -> bool {
    // No bytes at all is an empty archive to Go's reader (a clean end).
    if head.is_empty() {
        return true;
    }
    if head.len() < 512 {
        return false;
    }
    let block: &[u8; 512] = head[..512].try_into().expect("512 bytes");
    block.iter().all(|&c| c == 0) || crate::tar::is_header_block(block)
}

/// Convert one layer stream (gzip, zstd or plain tar).
pub fn convert_layer<R: Read + Send>(
    input: R,
    opts: &LayerOptions,
) -> Result<LayerReport, LayerError> {
    convert_layer_from(input, None, opts)
}

/// [`convert_layer`] for a layer that is also a file on disk (`input`
/// reads it from the start, possibly through a progress wrapper). An
/// uncompressed tar is then not copied aside for EROFS: file data is read
/// from `file` by offset when the image is written.
pub fn convert_layer_from<R: Read + Send>(
    input: R,
    file: Option<std::fs::File>,
    opts: &LayerOptions,
) -> Result<LayerReport, LayerError> {
    use crate::source::digest::{ThreadMeasured, ThreadMeasurement};
    // Hash the blob or the uncompressed stream only when an EROFS UUID
    // is derived from it (each is a full SHA-256 pass).
    let erofs = opts.format == FsFormat::Erofs;
    let (input, blob): (Box<dyn Read + Send + '_>, Option<ThreadMeasurement>) =
        if erofs && opts.erofs_uuid == ErofsUuid::BlobDigest {
            let (r, m) = ThreadMeasured::new(input);
            (Box::new(r), Some(m))
        } else {
            (Box::new(input), None)
        };
    let (compression, stream) = compress::open(input).map_err(LayerError::Input)?;
    let (stream, diff): (Box<dyn Read + '_>, Option<ThreadMeasurement>) =
        if erofs && opts.erofs_uuid == ErofsUuid::DiffId {
            let (r, m) = ThreadMeasured::new(stream);
            (Box::new(r), Some(m))
        } else {
            (stream, None)
        };
    let finish = |m: &Option<ThreadMeasurement>| {
        m.as_ref()
            .map_or_else(|| crate::source::Digest::sha256_of(b""), |m| m.finish().0)
    };
    let digests = StreamDigests {
        blob: &|| finish(&blob),
        diff_id: &|| finish(&diff),
    };
    let in_place = file.filter(|_| compression == Compression::None);
    let mut report = convert_tar_inner(stream, opts, &|| Ok(()), Some(&digests), in_place)?;
    report.compression = compression;
    Ok(report)
}

/// Convert an already decompressed tar stream. The stream is read to its
/// end (what a diff_id covers), so a caller hashing it sees every byte.
pub fn convert_tar<R: Read>(stream: R, opts: &LayerOptions) -> Result<LayerReport, LayerError> {
    convert_tar_checked(stream, opts, &|| Ok(()), None)
}

/// [`convert_tar`], calling `check` after the stream was read to its end
/// and before any output is moved into place (digest checks go there).
pub fn convert_tar_checked<R: Read>(
    stream: R,
    opts: &LayerOptions,
    check: &dyn Fn() -> Result<(), String>,
    digests: Option<&StreamDigests>,
) -> Result<LayerReport, LayerError> {
    convert_tar_inner(stream, opts, check, digests, None)
}

fn convert_tar_inner<R: Read>(
    mut stream: R,
    opts: &LayerOptions,
    check: &dyn Fn() -> Result<(), String>,
    digests: Option<&StreamDigests>,
    in_place: Option<std::fs::File>,
) -> Result<LayerReport, LayerError> {
    let mut tar = open_tar(&mut stream)?;
    let create = |p: &Option<PathBuf>| {
        p.as_deref()
            .map(|p| AtomicFile::create(p).map_err(out_err(p)))
            .transpose()
    };
    let outs = OpenOutputs {
        image: create(&opts.outputs.image)?,
        hash_dev: create(&opts.outputs.hash_device)?,
    };
    let builder = Builder::for_options(opts);
    let ctx = BuildContext {
        opts,
        params: builder.params(),
        image: outs.image.as_ref(),
        check,
        digests,
        output_errors: std::cell::RefCell::new(Vec::new()),
    };
    // A full disk (or quota, or I/O error) while writing the image shows
    // up inside the filesystem writer; name the output, not the entry.
    let level0 = builder.level0(&mut tar, &ctx, in_place).map_err(|e| {
        let failed = ctx.output_errors.borrow().iter().find_map(|o| o.get());
        match (failed, &outs.image) {
            (Some(source), Some(f)) => LayerError::Output {
                path: f.target().to_path_buf(),
                source,
            },
            _ => e,
        }
    })?;
    let params = ctx.params.clone();
    let data_blocks = level0.blocks;
    let tree = verity::build_tree_spooled(&params, level0.digests, data_blocks)
        .map_err(|e| ctx.output_err(e))?;
    let image_size = data_blocks * u64::from(params.data_block_size);
    let verity_uuid = opts
        .verity_uuid
        .unwrap_or_else(|| verity::derive_uuid("dm-verity superblock", &tree.root));
    let sb = Superblock {
        hash_type: 1,
        uuid: verity_uuid,
        params: params.clone(),
        data_blocks,
    };
    let placed = finish::place_hash_area(&outs, &params, &tree, &sb, image_size)?;
    if opts.outputs.vhd {
        finish::write_vhd_footers(&outs, &placed, &tree.root)?;
    }
    let side = finish::sidecar(&outs, opts.format, &tree.root_hex(), image_size)?;
    finish::commit(outs, side)?;
    Ok(LayerReport {
        root_hash: tree.root_hex(),
        compression: Compression::None,
        image_size,
        tree_size: tree.len(),
        data_blocks,
        verity_uuid,
    })
}

/// The stream as a tar: its first block checked, then buffered.
fn open_tar<R: Read>(stream: &mut R) -> Result<io::BufReader<Peeked<&mut R>>, LayerError> {
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match stream.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(LayerError::Input(e)),
        }
    }
    head.truncate(n);
    if !looks_like_tar(&head) {
        return Err(LayerError::NotTar);
    }
    Ok(io::BufReader::with_capacity(
        1 << 20,
        Peeked {
            head,
            at: 0,
            rest: stream,
        },
    ))
}
