//! A resolved image: its layers in manifest order, each with where its
//! blob lives, the blob digest to verify and the diff_id from the config.

use std::io::Read;
use std::sync::Arc;

use serde_json::Value;

use super::digest::Digest;
use super::error::{malformed, SourceError};
use super::platform::Platform;
use super::store::Store;

#[derive(Debug, Clone)]
pub struct Layer {
    pub index: usize,
    /// Path of the blob in the store.
    pub path: String,
    /// Digest of the blob as stored (None when the source gives none, as
    /// legacy docker-archives: the diff_id check still applies).
    pub digest: Option<Digest>,
    pub size: Option<u64>,
    pub media_type: Option<String>,
    pub diff_id: Digest,
}

pub struct Image {
    /// What the user asked for, for messages.
    pub reference: String,
    pub manifest_digest: Option<Digest>,
    pub config_digest: Option<Digest>,
    pub platform: Option<Platform>,
    pub config: Value,
    pub layers: Vec<Layer>,
    pub store: Arc<dyn Store>,
}

impl Image {
    /// A manifest (`manifest = true`) or blob of this image's store, read
    /// whole and checked against `d`; None when the store does not keep it.
    pub fn raw_document(&self, d: &Digest, manifest: bool) -> Option<Vec<u8>> {
        let opened = if manifest {
            self.store.open_manifest(d)
        } else {
            self.store.open(&super::store::blob_path(d))
        };
        let (r, _) = opened.ok()?;
        let mut buf = Vec::new();
        r.take(super::store::MAX_JSON).read_to_end(&mut buf).ok()?;
        (d.algorithm != "sha256" || Digest::sha256_of(&buf) == *d).then_some(buf)
    }

    /// The manifest bytes whose digest is `manifest_digest` (sources
    /// without a manifest, such as docker-archives, have none).
    pub fn raw_manifest(&self) -> Option<Vec<u8>> {
        self.raw_document(self.manifest_digest.as_ref()?, true)
    }
}

/// `rootfs.diff_ids` of an image config.
pub fn diff_ids(config: &Value, what: &str) -> Result<Vec<Digest>, SourceError> {
    let ids = config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| malformed(what, "config has no rootfs.diff_ids"))?;
    ids.iter()
        .map(|v| {
            let s = v
                .as_str()
                .ok_or_else(|| malformed(what, "diff_id is not a string"))?;
            Digest::parse(s).map_err(|e| malformed(what, e))
        })
        .collect()
}

/// The platform an image config declares.
pub fn config_platform(config: &Value) -> Option<Platform> {
    let os = config["os"].as_str()?;
    let arch = config["architecture"].as_str()?;
    Some(Platform::new(os, arch, config["variant"].as_str()))
}
