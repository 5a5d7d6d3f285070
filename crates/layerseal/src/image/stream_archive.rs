//! A docker-archive read as one stream (the Docker daemon's export): each
//! layer is converted as it passes by, keyed by its path in the archive;
//! at the end `manifest.json` says which ones make the image and in what
//! order, and each is checked against its config diff_id. Outputs are
//! written under temporary names and renamed (or removed) at the end.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use super::pipeline::{output_paths, ImageError, ImageOptions, LayerResult};
use crate::compress;
use crate::layer::{convert_tar, LayerError};
use crate::source::digest::ThreadMeasured;
use crate::source::store::{normalize, Store, MAX_JSON};
use crate::source::{docker_archive, Digest, SourceError};

/// The JSON documents of the archive and the layers seen, as a store.
struct Seen {
    json: HashMap<String, Vec<u8>>,
    layers: HashSet<String>,
    links: HashMap<String, String>,
    describe: String,
}

impl Seen {
    fn resolve(&self, path: &str) -> String {
        let mut p = normalize(path);
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        p
    }
}

impl Store for Seen {
    fn open(&self, path: &str) -> Result<(Box<dyn Read + Send>, u64), SourceError> {
        let p = self.resolve(path);
        let b = self
            .json
            .get(&p)
            .ok_or_else(|| SourceError::NotFound(format!("{}: {p}", self.describe)))?;
        Ok((Box::new(io::Cursor::new(b.clone())), b.len() as u64))
    }
    fn exists(&self, path: &str) -> bool {
        let p = self.resolve(path);
        self.json.contains_key(&p) || self.layers.contains(&p)
    }
    fn describe(&self) -> String {
        self.describe.clone()
    }
}

struct Converted {
    root: String,
    diff_id: Digest,
    blob: Digest,
    compression: compress::Compression,
    image: Option<PathBuf>,
    hash_device: Option<PathBuf>,
    image_size: u64,
}

fn remove_outputs(c: &Converted) {
    for p in [&c.image, &c.hash_device].into_iter().flatten() {
        let _ = std::fs::remove_file(p);
        let mut side = p.as_os_str().to_os_string();
        side.push(".dmverity");
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
}

fn err(what: &str, message: impl std::fmt::Display) -> ImageError {
    ImageError {
        index: 0,
        what: what.to_string(),
        message: message.to_string(),
    }
}

/// Convert the layers of the docker-archive streaming from `input`,
/// selecting image `name` (or the only one).
pub fn convert_archive_stream<R: Read>(
    input: R,
    describe: &str,
    name: Option<&str>,
    opts: &ImageOptions,
) -> Result<Vec<LayerResult>, ImageError> {
    let mut seen = Seen {
        json: HashMap::new(),
        layers: HashSet::new(),
        links: HashMap::new(),
        describe: describe.into(),
    };
    let mut converted: HashMap<String, Converted> = HashMap::new();
    let result = (|| -> Result<Vec<LayerResult>, ImageError> {
        let mut archive = tar::Archive::new(input);
        let entries = archive.entries().map_err(|e| err(describe, e))?;
        for (n, entry) in entries.enumerate() {
            let mut entry =
                entry.map_err(|e| err(describe, format!("not a readable tar stream: {e}")))?;
            let path = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
            match entry.header().entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                    let resolved = if entry.header().entry_type() == tar::EntryType::Symlink
                        && !target.starts_with('/')
                    {
                        normalize(&format!("{dir}/{target}"))
                    } else {
                        normalize(&target)
                    };
                    seen.links.insert(path, resolved);
                    continue;
                }
                tar::EntryType::Regular => {}
                _ => continue,
            }
            // JSON documents (manifest, configs, the OCI index) start with
            // '{' or '['; a layer (tar or compressed) never does. Only those
            // are read whole; layers stream.
            let size = entry.size();
            let mut first = [0u8; 1];
            let got = entry
                .read(&mut first)
                .map_err(|e| err(describe, format!("{path}: {e}")))?;
            if got == 1 && matches!(first[0], b'{' | b'[') && size <= MAX_JSON {
                let mut buf = vec![first[0]];
                entry
                    .read_to_end(&mut buf)
                    .map_err(|e| err(describe, format!("{path}: {e}")))?;
                if serde_json::from_slice::<serde_json::Value>(&buf).is_ok() {
                    seen.json.insert(path, buf);
                }
                continue;
            }
            let reader: Box<dyn Read> =
                Box::new(io::Cursor::new(first[..got].to_vec()).chain(&mut entry));
            let (blob, blob_m) = ThreadMeasured::new(reader);
            let (compression, decoded) = compress::open(blob).map_err(|e| err(&path, e))?;
            let (decoded, diff_m) = ThreadMeasured::new(decoded);
            let (image, hash_device) = match &opts.outputs {
                Some(plan) => (
                    Some(
                        plan.dir
                            .join(format!(".layerseal-stream-{}-{n}.tmp", std::process::id())),
                    ),
                    plan.hash_device.then(|| {
                        plan.dir.join(format!(
                            ".layerseal-stream-{}-{n}.hash.tmp",
                            std::process::id()
                        ))
                    }),
                ),
                None => (None, None),
            };
            let lopts = opts.layer_options(image.clone(), hash_device.clone(), 0);
            match convert_tar(decoded, &lopts) {
                Ok(report) => {
                    seen.layers.insert(path.clone());
                    converted.insert(
                        path,
                        Converted {
                            root: report.root_hash,
                            diff_id: diff_m.finish().0,
                            blob: blob_m.finish().0,
                            compression,
                            image,
                            hash_device,
                            image_size: report.image_size,
                        },
                    );
                }
                Err(LayerError::NotTar) => continue,
                Err(e) => return Err(err(&path, e)),
            }
        }
        // Which layers make the image, in order, with their diff_ids.
        let links = seen.links.clone();
        let real_path = |p: &str| {
            let mut p = normalize(p);
            for _ in 0..16 {
                match links.get(&p) {
                    Some(t) => p = t.clone(),
                    None => break,
                }
            }
            p
        };
        let store: Arc<dyn Store> = Arc::new(seen);
        let image = docker_archive::resolve(store, name).map_err(|e| err(describe, e))?;
        let mut out = Vec::new();
        for layer in &image.layers {
            let c = converted
                .get(&real_path(&layer.path))
                .ok_or_else(|| ImageError {
                    index: layer.index,
                    what: layer.path.clone(),
                    message: "layer missing from the export".into(),
                })?;
            if c.diff_id != layer.diff_id {
                return Err(ImageError {
                    index: layer.index,
                    what: layer.path.clone(),
                    message: format!(
                        "diff_id mismatch: the config says {}, the uncompressed layer is {}",
                        layer.diff_id, c.diff_id
                    ),
                });
            }
            if let Some(d) = &layer.digest {
                if d.algorithm == "sha256" && d != &c.blob {
                    return Err(ImageError {
                        index: layer.index,
                        what: layer.path.clone(),
                        message: format!("blob digest mismatch: expected {d}, got {}", c.blob),
                    });
                }
            }
            out.push((layer.clone(), c));
        }
        // Move the outputs of the image's layers into place.
        let mut results = Vec::new();
        for (layer, c) in out {
            let (image_path, hash_path) = match &opts.outputs {
                Some(plan) => {
                    let (d, h) = output_paths(plan, &layer);
                    if let Some(parent) = d.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| err(&parent.display().to_string(), e))?;
                    }
                    if let Some(tmp) = &c.image {
                        std::fs::rename(tmp, &d).map_err(|e| err(&d.display().to_string(), e))?;
                        // An EROFS image's sidecar travels with it.
                        let side = |p: &std::path::Path| {
                            let mut s = p.as_os_str().to_os_string();
                            s.push(".dmverity");
                            PathBuf::from(s)
                        };
                        if side(tmp).exists() {
                            std::fs::rename(side(tmp), side(&d))
                                .map_err(|e| err(&d.display().to_string(), e))?;
                        }
                    }
                    if let (Some(tmp), Some(h)) = (&c.hash_device, &h) {
                        std::fs::rename(tmp, h).map_err(|e| err(&h.display().to_string(), e))?;
                    }
                    (Some(d), h)
                }
                None => (None, None),
            };
            results.push(LayerResult {
                index: layer.index,
                diff_id: layer.diff_id.clone(),
                digest: layer.digest.clone(),
                root_hash: c.root.clone(),
                compression: Some(c.compression),
                image: image_path,
                hash_device: hash_path,
                cached: false,
                image_size: Some(c.image_size),
            });
        }
        Ok(results)
    })();
    // Temporaries not moved into place (unused layers, or all on failure).
    converted.values().for_each(remove_outputs);
    result
}
