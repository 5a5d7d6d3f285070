//! OCI image layouts (directory or archive): index.json → (nested) index
//! → manifest → config, with tag and platform selection. Indexes,
//! manifests and descriptors are oci-spec's typed structures; the config
//! stays JSON (its raw form matters to composefs, and only `rootfs`,
//! `os` and `architecture` are read from it).

use std::sync::Arc;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde_json::Value;

use super::digest::Digest;
use super::error::{malformed, SourceError};
use super::image::{config_platform, diff_ids, Image, Layer};
use super::platform::Platform;
use super::store::Store;

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const MAX_NESTING: usize = 4;

pub use super::store::blob_path;

fn is_index(v: &Value) -> bool {
    v.get("manifests").is_some()
        || v["mediaType"]
            .as_str()
            .is_some_and(|m| m.contains("index") || m.contains("manifest.list"))
}

/// A JSON document as the typed structure it must be.
fn typed<T: serde::de::DeserializeOwned>(
    doc: Value,
    what: &str,
    kind: &str,
) -> Result<T, SourceError> {
    serde_json::from_value(doc).map_err(|e| malformed(what, format!("not a valid {kind}: {e}")))
}

fn descriptor_digest(d: &Descriptor, what: &str) -> Result<Digest, SourceError> {
    Digest::parse(d.digest().as_ref()).map_err(|e| malformed(what, e))
}

fn descriptor_platform(d: &Descriptor) -> Option<Platform> {
    let p = d.platform().as_ref()?;
    Some(Platform::new(
        &p.os().to_string(),
        &p.architecture().to_string(),
        p.variant().as_deref(),
    ))
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations().as_ref()?.get(REF_NAME).map(String::as_str)
}

/// Read a blob the descriptor `desc` points at, checking its digest and
/// the size the descriptor declares.
fn read_blob_json(
    store: &dyn Store,
    d: &Digest,
    desc: &Descriptor,
    what: &str,
) -> Result<Value, SourceError> {
    read_json_checked(store, d, Some(desc.size()), what, false)
}

fn read_json_checked(
    store: &dyn Store,
    d: &Digest,
    declared_size: Option<u64>,
    what: &str,
    manifest: bool,
) -> Result<Value, SourceError> {
    let path = blob_path(d);
    let (mut r, _) = if manifest {
        store.open_manifest(d)?
    } else {
        store.open(&path)?
    };
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut (&mut r).take(super::store::MAX_JSON), &mut buf).map_err(
        |e| SourceError::Io {
            path: path.clone().into(),
            source: e,
        },
    )?;
    let got = Digest::sha256_of(&buf);
    if d.algorithm == "sha256" && &got != d {
        return Err(malformed(
            what,
            format!("{path}: digest mismatch: expected {d}, got {got}"),
        ));
    }
    if let Some(size) = declared_size {
        if size != buf.len() as u64 {
            return Err(malformed(
                what,
                format!(
                    "{path}: its descriptor declares {size} bytes, the blob has {}",
                    buf.len()
                ),
            ));
        }
    }
    serde_json::from_slice(&buf).map_err(|e| malformed(format!("{what} ({path})"), e))
}

use std::io::Read as _;

/// Pick one manifest descriptor out of an index's entries.
fn choose<'a>(
    entries: &'a [Descriptor],
    platform: &Platform,
    what: &str,
) -> Result<&'a Descriptor, SourceError> {
    if entries.is_empty() {
        return Err(malformed(what, "index lists no manifests"));
    }
    if entries.len() == 1 {
        return Ok(&entries[0]);
    }
    let with_platform: Vec<(&Descriptor, Platform)> = entries
        .iter()
        .filter_map(|d| descriptor_platform(d).map(|p| (d, p)))
        .collect();
    if let Some((d, _)) = with_platform.iter().find(|(_, p)| platform.matches(p)) {
        return Ok(d);
    }
    if !with_platform.is_empty() {
        return Err(SourceError::NoPlatform {
            requested: platform.to_string(),
            available: with_platform.iter().map(|(_, p)| p.to_string()).collect(),
        });
    }
    Err(SourceError::Ambiguous(format!(
        "{what}: {} manifests and none declares a platform; name one",
        entries.len()
    )))
}

/// Resolve a descriptor (index or manifest) down to an image.
fn resolve_descriptor(
    store: Arc<dyn Store>,
    desc: &Descriptor,
    platform: &Platform,
    reference: &str,
    depth: usize,
) -> Result<Image, SourceError> {
    let digest = descriptor_digest(desc, reference)?;
    let doc = read_json_checked(store.as_ref(), &digest, Some(desc.size()), reference, true)?;
    resolve_document_at(store, doc, digest, platform, reference, depth)
}

/// Resolve an index or manifest document already read (and checked).
pub fn resolve_document(
    store: Arc<dyn Store>,
    doc: Value,
    digest: Digest,
    platform: &Platform,
    reference: &str,
) -> Result<Image, SourceError> {
    resolve_document_at(store, doc, digest, platform, reference, 0)
}

fn resolve_document_at(
    store: Arc<dyn Store>,
    doc: Value,
    digest: Digest,
    platform: &Platform,
    reference: &str,
    depth: usize,
) -> Result<Image, SourceError> {
    if is_index(&doc) {
        if depth >= MAX_NESTING {
            return Err(malformed(reference, "indexes nested too deeply"));
        }
        let index: ImageIndex = typed(doc, reference, "image index")?;
        let chosen = choose(index.manifests(), platform, reference)?;
        return resolve_descriptor(store, chosen, platform, reference, depth + 1);
    }
    if doc.get("layers").is_none() && doc["schemaVersion"] == 1 {
        return Err(SourceError::Unsupported(format!(
            "{reference}: Docker schema 1 manifests are not supported"
        )));
    }
    let manifest: ImageManifest = typed(doc, reference, "image manifest")?;
    manifest_image(store, &manifest, Some(digest), reference)
}

/// An image from a manifest document (layers + config).
pub fn manifest_image(
    store: Arc<dyn Store>,
    manifest: &ImageManifest,
    manifest_digest: Option<Digest>,
    reference: &str,
) -> Result<Image, SourceError> {
    let config_digest = descriptor_digest(manifest.config(), reference)?;
    let config = read_blob_json(store.as_ref(), &config_digest, manifest.config(), reference)?;
    let ids = diff_ids(&config, reference)?;
    let layer_descs = manifest.layers();
    if layer_descs.len() != ids.len() {
        return Err(malformed(
            reference,
            format!(
                "manifest lists {} layers but the config {} diff_ids",
                layer_descs.len(),
                ids.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    for (i, (d, diff_id)) in layer_descs.iter().zip(ids).enumerate() {
        let digest = descriptor_digest(d, reference)?;
        layers.push(Layer {
            index: i,
            path: blob_path(&digest),
            digest: Some(digest),
            size: Some(d.size()),
            media_type: Some(d.media_type().to_string()),
            diff_id,
        });
    }
    Ok(Image {
        reference: reference.to_string(),
        manifest_digest,
        config_digest: Some(config_digest),
        platform: config_platform(&config),
        config,
        layers,
        store,
    })
}

/// Untagged entries that refer to another manifest (signatures and other
/// referrer artifacts, which `notation sign --oci-layout` and oras list in
/// `index.json`) are not images to pick when no tag is given.
fn images_only(store: &dyn Store, entries: &[Descriptor]) -> Vec<Descriptor> {
    if entries.len() < 2 {
        return entries.to_vec();
    }
    let is_referrer = |d: &Descriptor| {
        if ref_name(d).is_some() {
            return false;
        }
        if d.artifact_type().is_some() {
            return true;
        }
        let Ok(digest) = descriptor_digest(d, "index.json") else {
            return false;
        };
        store
            .read_json(&blob_path(&digest))
            .is_ok_and(|doc| doc["subject"].is_object())
    };
    entries
        .iter()
        .filter(|d| !is_referrer(d))
        .cloned()
        .collect()
}

/// Resolve an image in an OCI layout (`index.json` at the store root).
pub fn resolve(
    store: Arc<dyn Store>,
    tag: Option<&str>,
    platform: &Platform,
) -> Result<Image, SourceError> {
    let where_ = store.describe();
    let index: ImageIndex = typed(
        store.read_json("index.json")?,
        &format!("{where_}: index.json"),
        "image index",
    )?;
    let entries = index.manifests();
    let reference = match tag {
        Some(t) => format!("{where_}:{t}"),
        None => where_.clone(),
    };
    let candidates: Vec<Descriptor> = match tag {
        Some(t) => entries
            .iter()
            .filter(|d| ref_name(d) == Some(t))
            .cloned()
            .collect(),
        None => images_only(store.as_ref(), entries),
    };
    if candidates.is_empty() {
        let tags: Vec<&str> = entries.iter().filter_map(|d| ref_name(d)).collect();
        return Err(match tag {
            Some(t) => SourceError::NotFound(format!(
                "{where_}: tag {t:?} (available: {})",
                tags.join(", ")
            )),
            None => malformed(&where_, "index.json lists no manifests"),
        });
    }
    let chosen = if candidates.len() == 1 {
        candidates[0].clone()
    } else if candidates.iter().all(|d| descriptor_platform(d).is_some()) {
        choose(&candidates, platform, &reference)?.clone()
    } else {
        let tags: Vec<&str> = candidates.iter().filter_map(|d| ref_name(d)).collect();
        return Err(SourceError::Ambiguous(format!(
            "{where_} holds {} images; name one with :TAG (available: {})",
            candidates.len(),
            tags.join(", ")
        )));
    };
    resolve_descriptor(store, &chosen, platform, &reference, 0)
}
