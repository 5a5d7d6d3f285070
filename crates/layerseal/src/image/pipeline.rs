//! Whole images from a [`Image`]: every layer converted, several at once, results in
//! manifest order. Each layer is one pass: blob (digest checked as it
//! streams) → decompress → tar (diff_id checked) → ext4 → dm-verity.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::cache::{cache_get, cache_layout, cache_put};
use super::layer_stream::open_layer;
use crate::compress::Compression;
use crate::layer::{
    convert_tar_checked, ErofsUuid, FsFormat, LayerError, LayerOptions, Outputs, StreamDigests,
};
use crate::source::{Digest, Image, Layer};

/// Where to write each layer's files; None for root hashes only.
#[derive(Debug, Clone)]
pub struct OutputPlan {
    pub dir: PathBuf,
    /// Separate hash-device VHDs (`--hash-dev-vhd`).
    pub hash_device: bool,
    pub vhd: bool,
    /// EROFS images (`.erofs` names).
    pub erofs: bool,
    /// Lay files out as containerd's layer content cache expects.
    pub containerd_cache: bool,
}

#[derive(Clone)]
pub struct ImageOptions {
    pub max_disk_size: u64,
    pub outputs: Option<OutputPlan>,
    /// Layers converted at once (0 = one per core, at most the layer count).
    pub jobs: usize,
    /// Reuse root hashes computed before (hash-only runs), keyed by diff_id.
    pub cache: Option<PathBuf>,
    /// Called with (layer index, compressed bytes read so far).
    pub progress: Option<super::layer_stream::ProgressFn>,
    pub format: FsFormat,
    pub erofs_uuid: ErofsUuid,
    /// EROFS tar-index layers (index + tar, 512-byte verity blocks).
    pub tar_index: bool,
    /// EROFS: the mkfs.erofs options and release to reproduce.
    pub mkfs: crate::erofs::MkfsOptions,
}

impl ImageOptions {
    /// Options for one layer of this image, written to `image` / `hash_device`.
    pub fn layer_options(
        &self,
        image: Option<PathBuf>,
        hash_device: Option<PathBuf>,
        threads: usize,
    ) -> LayerOptions {
        LayerOptions {
            max_disk_size: self.max_disk_size,
            outputs: Outputs {
                image,
                hash_device,
                vhd: self.outputs.as_ref().is_some_and(|p| p.vhd),
            },
            threads,
            format: self.format,
            erofs_uuid: self.erofs_uuid,
            verity_uuid: None,
            tar_index: self.tar_index,
            mkfs: self.mkfs.clone(),
        }
    }
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            max_disk_size: crate::ext4::LAYOUT_128G,
            outputs: None,
            jobs: 0,
            cache: None,
            progress: None,
            format: FsFormat::Ext4,
            erofs_uuid: ErofsUuid::BlobDigest,
            tar_index: false,
            mkfs: crate::erofs::MkfsOptions::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerResult {
    pub index: usize,
    pub diff_id: Digest,
    pub digest: Option<Digest>,
    pub root_hash: String,
    pub compression: Option<Compression>,
    pub image: Option<PathBuf>,
    pub hash_device: Option<PathBuf>,
    pub cached: bool,
    /// Bytes of the filesystem image (= the dm-verity hash offset when the
    /// tree is appended); None for cache entries that predate it.
    pub image_size: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("layer {index} ({what}): {message}")]
pub struct ImageError {
    pub index: usize,
    pub what: String,
    pub message: String,
}

/// upstream's file-name sanitising: `/` → `_`, one trailing `.tar` cut.
pub fn sanitise(name: &str) -> String {
    let s = name.replace('/', "_");
    s.strip_suffix(".tar").map(str::to_string).unwrap_or(s)
}

/// File names dmverity-vhd uses: `<diffid hex>.vhd`, and for the hash
/// device the sanitised blob path (`blobs_sha256_<hex>.hash-dev.vhd`).
pub fn output_paths(plan: &OutputPlan, layer: &Layer) -> (PathBuf, Option<PathBuf>) {
    let ext = if plan.vhd {
        "vhd"
    } else if plan.erofs {
        "erofs"
    } else {
        "img"
    };
    if plan.containerd_cache {
        // containerd's layer content cache: sha256/<xx>/<diffID>.erofs
        let hex = &layer.diff_id.hex;
        let data = plan
            .dir
            .join(&layer.diff_id.algorithm)
            .join(&hex[..2])
            .join(format!("{hex}.{ext}"));
        return (data, None);
    }
    let data = plan.dir.join(format!("{}.{ext}", layer.diff_id.hex));
    let hash = plan.hash_device.then(|| {
        plan.dir
            .join(format!("{}.hash-dev.{ext}", sanitise(&layer.path)))
    });
    (data, hash)
}

fn convert_one(
    image: &Image,
    layer: &Layer,
    opts: &ImageOptions,
    threads: usize,
) -> Result<LayerResult, ImageError> {
    let what = layer
        .digest
        .as_ref()
        .map_or_else(|| layer.path.clone(), ToString::to_string);
    let fail = |message: String| ImageError {
        index: layer.index,
        what: what.clone(),
        message,
    };
    if opts.outputs.is_none() {
        if let Some(dir) = &opts.cache {
            if let Some((root, image_size)) = cache_get(
                dir,
                &cache_layout(&opts.layer_options(None, None, threads), layer),
                &layer.diff_id,
            ) {
                return Ok(LayerResult {
                    index: layer.index,
                    diff_id: layer.diff_id.clone(),
                    digest: layer.digest.clone(),
                    root_hash: root,
                    compression: None,
                    image: None,
                    hash_device: None,
                    cached: true,
                    image_size,
                });
            }
        }
    }
    let opened = open_layer(image, layer, opts.progress.as_ref()).map_err(fail)?;
    let (compression, decoded) = (opened.compression, opened.tar);
    let (data, hash) = match &opts.outputs {
        Some(plan) => {
            let (d, h) = output_paths(plan, layer);
            if let Some(parent) = d.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| fail(format!("{}: {e}", parent.display())))?;
            }
            (Some(d), h)
        }
        None => (None, None),
    };
    let lopts = opts.layer_options(data.clone(), hash.clone(), threads);
    let check = || opened.check.verify();
    // containerd's differ names EROFS images after the blob digest; an
    // archive without one (legacy docker-archive) has uncompressed layers,
    // whose blob digest is the diff_id.
    let blob_digest = || {
        layer
            .digest
            .clone()
            .unwrap_or_else(|| layer.diff_id.clone())
    };
    let diff_id = || layer.diff_id.clone();
    let digests = StreamDigests {
        blob: &blob_digest,
        diff_id: &diff_id,
    };
    let report = convert_tar_checked(decoded, &lopts, &check, Some(&digests)).map_err(|e| {
        fail(match e {
            LayerError::Convert(c) => format!("failed to convert tar to ext4: {}", c.detailed()),
            other => other.to_string(),
        })
    })?;
    if opts.outputs.is_none() {
        if let Some(dir) = &opts.cache {
            cache_put(
                dir,
                &cache_layout(&lopts, layer),
                &layer.diff_id,
                &report.root_hash,
                report.image_size,
            );
        }
    }
    Ok(LayerResult {
        index: layer.index,
        diff_id: layer.diff_id.clone(),
        digest: layer.digest.clone(),
        root_hash: report.root_hash,
        compression: Some(compression),
        image: data,
        hash_device: hash,
        cached: false,
        image_size: Some(report.image_size),
    })
}

/// Convert every layer; on the first failure, stop and remove what this
/// run already wrote.
pub fn convert_image(image: &Image, opts: &ImageOptions) -> Result<Vec<LayerResult>, ImageError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = image.layers.len();
    let jobs = if opts.jobs == 0 { cores } else { opts.jobs }.clamp(1, n.max(1));
    // Every layer may hash on all cores: layers differ in size by orders
    // of magnitude (a base layer and a few small ones), so a fixed share
    // would leave cores idle once the small ones finish. Largest first,
    // so the long one starts at once.
    let threads = cores;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(image.layers[i].size.unwrap_or(0)));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<LayerResult, ImageError>>>> =
        Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= n {
                    return;
                }
                let i = order[k];
                let r = convert_one(image, &image.layers[i], opts, threads);
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                results.lock().expect("results")[i] = Some(r);
            });
        }
    });
    let results = results.into_inner().expect("results");
    let mut done = Vec::new();
    let mut first_error = None;
    for r in results.into_iter().flatten() {
        match r {
            Ok(l) => done.push(l),
            Err(e) if first_error.is_none() => first_error = Some(e),
            Err(_) => {}
        }
    }
    if let Some(e) = first_error {
        for l in &done {
            for p in [&l.image, &l.hash_device].into_iter().flatten() {
                let _ = std::fs::remove_file(p);
                let mut side = p.as_os_str().to_os_string();
                side.push(".dmverity");
                let _ = std::fs::remove_file(PathBuf::from(side));
            }
        }
        return Err(e);
    }
    done.sort_by_key(|l| l.index);
    Ok(done)
}
