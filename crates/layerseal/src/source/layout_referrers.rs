//! Referrers kept in an OCI layout, as `notation sign --oci-layout` and
//! oras keep them: the artifact's blobs under `blobs/`, its manifest
//! listed in `index.json` (untagged, with its `artifactType`), found
//! again by the `subject` its manifest names.

use std::io::Read;
use std::path::Path;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::digest::Digest;
use super::store::MAX_JSON;

fn io_err(p: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", p.display())
}

fn blob_file(dir: &Path, d: &Digest) -> std::path::PathBuf {
    dir.join("blobs").join(&d.algorithm).join(&d.hex)
}

/// A content descriptor as the artifacts we write carry it (annotations
/// sorted, left out when empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor of `data` (sha256), without annotations.
    pub fn of(media_type: &str, data: &[u8]) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest: Digest::sha256_of(data).to_string(),
            size: data.len() as u64,
            annotations: BTreeMap::new(),
        }
    }
}

/// A finished referrer artifact: its manifest bytes and digest, and the
/// blobs it names (config, signatures).
#[derive(Debug, Clone)]
pub struct Artifact {
    pub manifest: Vec<u8>,
    pub digest: Digest,
    pub blobs: Vec<(Digest, Vec<u8>)>,
}

impl Artifact {
    /// Serialize `manifest` compactly (the field order of its type) with
    /// the blobs it names.
    pub fn new(manifest: &impl serde::Serialize, blobs: Vec<(Digest, Vec<u8>)>) -> Self {
        let bytes = serde_json::to_vec(manifest).expect("manifest serializes");
        Artifact {
            digest: Digest::sha256_of(&bytes),
            manifest: bytes,
            blobs,
        }
    }
}

/// Add an artifact (its blobs, then its manifest) to the layout at `dir`,
/// created if needed, and list the manifest in `index.json`. Each file is
/// written under a temporary name and renamed; existing blobs are kept.
pub fn add_artifact(
    dir: &Path,
    manifest: &[u8],
    media_type: &str,
    artifact_type: &str,
    blobs: &[(Digest, Vec<u8>)],
) -> Result<Digest, String> {
    let digest = Digest::sha256_of(manifest);
    let put = |d: &Digest, bytes: &[u8]| -> Result<(), String> {
        let p = blob_file(dir, d);
        if p.exists() {
            return Ok(());
        }
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        }
        crate::atomic::write_file(&p, bytes).map_err(|e| io_err(&p, e))
    };
    for (d, b) in blobs {
        put(d, b)?;
    }
    put(&digest, manifest)?;
    let layout = dir.join("oci-layout");
    if !layout.exists() {
        crate::atomic::write_file(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(|e| io_err(&layout, e))?;
    }
    // Concurrent writers (two `sign` runs on one layout) must not lose an
    // entry: the read-modify-rename of index.json happens under an
    // exclusive lock on the layout directory itself (no extra file in it).
    let dir_lock = std::fs::File::open(dir).map_err(|e| io_err(dir, e))?;
    dir_lock.lock().map_err(|e| io_err(dir, e))?;
    let index_path = dir.join("index.json");
    let mut index: Value = match std::fs::read(&index_path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| io_err(&index_path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            json!({"schemaVersion": 2, "manifests": []})
        }
        Err(e) => return Err(io_err(&index_path, e)),
    };
    if list_manifest(&mut index, manifest, media_type, artifact_type)
        .map_err(|e| io_err(&index_path, e))?
    {
        let text = serde_json::to_vec(&index).expect("json");
        crate::atomic::write_file(&index_path, &text).map_err(|e| io_err(&index_path, e))?;
    }
    Ok(digest)
}

/// Add a manifest's descriptor (with its artifact type) to an image
/// index's `manifests` unless it is listed; true when added. Shared by
/// layouts' index.json and registries' fallback referrers tag.
pub(crate) fn list_manifest(
    index: &mut Value,
    manifest: &[u8],
    media_type: &str,
    artifact_type: &str,
) -> Result<bool, &'static str> {
    let digest = Digest::sha256_of(manifest).to_string();
    let list = index["manifests"]
        .as_array_mut()
        .ok_or("an index without a manifests list")?;
    if list.iter().any(|m| m["digest"] == digest) {
        return Ok(false);
    }
    list.push(json!({
        "mediaType": media_type,
        "digest": digest,
        "size": manifest.len(),
        "artifactType": artifact_type,
    }));
    Ok(true)
}

/// A blob of the layout, read whole (up to `limit` bytes) and checked
/// against its digest.
pub fn read_blob(dir: &Path, d: &Digest, limit: u64) -> Result<Vec<u8>, String> {
    let p = blob_file(dir, d);
    let f = std::fs::File::open(&p).map_err(|e| io_err(&p, e))?;
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io_err(&p, e))?;
    if buf.len() as u64 > limit {
        return Err(io_err(&p, format!("larger than {limit} bytes")));
    }
    if d.algorithm == "sha256" && Digest::sha256_of(&buf) != *d {
        return Err(io_err(&p, format!("content does not match {d}")));
    }
    Ok(buf)
}

/// The manifests listed in the layout's `index.json` whose `subject` is
/// `subject` and whose artifact type is `artifact_type`: (digest, bytes).
pub fn referrers(
    dir: &Path,
    subject: &Digest,
    artifact_type: &str,
) -> Result<Vec<(Digest, Vec<u8>)>, String> {
    let index_path = dir.join("index.json");
    let text = std::fs::read(&index_path).map_err(|e| io_err(&index_path, e))?;
    let index: Value = serde_json::from_slice(&text).map_err(|e| io_err(&index_path, e))?;
    let mut out = Vec::new();
    for entry in index["manifests"].as_array().into_iter().flatten() {
        if entry["artifactType"]
            .as_str()
            .is_some_and(|t| t != artifact_type)
        {
            continue;
        }
        let Some(d) = entry["digest"].as_str().and_then(|s| Digest::parse(s).ok()) else {
            continue;
        };
        let Ok(bytes) = read_blob(dir, &d, MAX_JSON) else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if doc["artifactType"] == artifact_type && doc["subject"]["digest"] == subject.to_string() {
            out.push((d, bytes));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writers racing on one layout each get their entry into index.json.
    #[test]
    fn concurrent_writers_lose_no_entry() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        std::thread::scope(|s| {
            for i in 0..8 {
                s.spawn(move || {
                    for j in 0..5 {
                        let manifest = format!(r#"{{"n":{i},"m":{j}}}"#).into_bytes();
                        add_artifact(dir, &manifest, "application/json", "x/y", &[]).unwrap();
                    }
                });
            }
        });
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 40);
        let found = referrers(dir, &Digest::sha256_of(b"nothing"), "x/y").unwrap();
        assert!(found.is_empty());
    }
}
