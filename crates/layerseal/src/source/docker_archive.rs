//! docker-archive tarballs: `manifest.json` (an array of images, each with
//! `Config`, `RepoTags`, `Layers`), in the three styles real tools write:
//! legacy `docker save` (`<id>/layer.tar`), skopeo (top-level
//! `<diffid>.tar`, per-layer symlinks) and Docker ≥ 25 (paths into an OCI
//! `blobs/` tree).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use super::digest::Digest;
use super::error::{malformed, SourceError};
use super::image::{config_platform, diff_ids, Image, Layer};
use super::store::{normalize, Store};

/// Normalise a docker reference for comparison: default registry and
/// `library/` namespace spelled out, `:latest` when no tag or digest.
pub fn normalize_ref(r: &str) -> String {
    let r = r.trim();
    let (name, suffix) = match r.rfind(['@', ':']) {
        Some(i) if !r[i..].contains('/') => (&r[..i], &r[i..]),
        _ => (r, ":latest"),
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}{suffix}")
}

/// One image of `manifest.json` (Docker's own format, not OCI's).
#[derive(Debug, Deserialize)]
struct ArchiveImage {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
    /// Docker >= 25: size and media type of each layer blob, by digest.
    #[serde(rename = "LayerSources", default)]
    layer_sources: HashMap<String, LayerSource>,
}

#[derive(Debug, Deserialize)]
struct LayerSource {
    size: Option<u64>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
}

/// Resolve the image `reference` (or the only one) in a docker-archive.
pub fn resolve(store: Arc<dyn Store>, reference: Option<&str>) -> Result<Image, SourceError> {
    let where_ = store.describe();
    let what = format!("{where_}: manifest.json");
    let images: Vec<ArchiveImage> = serde_json::from_value(store.read_json("manifest.json")?)
        .map_err(|e| malformed(&what, format!("not Docker's manifest.json: {e}")))?;
    if images.is_empty() {
        return Err(malformed(
            format!("{where_}: manifest.json"),
            "lists no images",
        ));
    }
    let tags = |m: &ArchiveImage| -> Vec<String> { m.repo_tags.clone().unwrap_or_default() };
    let chosen = match reference {
        // skopeo's `docker-archive:FILE:@N`: the Nth image of manifest.json.
        Some(r) if r.starts_with('@') => {
            let n: usize = r[1..].parse().map_err(|_| {
                SourceError::NotFound(format!("{where_}: {r:?} is not an image index (@N)"))
            })?;
            images.get(n).ok_or_else(|| {
                SourceError::NotFound(format!(
                    "{where_}: image index {r} out of range ({} images)",
                    images.len()
                ))
            })?
        }
        Some(r) => {
            let want = normalize_ref(r);
            match images
                .iter()
                .find(|m| tags(m).iter().any(|t| normalize_ref(t) == want))
            {
                Some(m) => m,
                // Upstream ignores the name with --tarball; do the same when
                // there is only one image.
                None if images.len() == 1 => &images[0],
                None => {
                    let all: Vec<String> = images.iter().flat_map(tags).collect();
                    return Err(SourceError::NotFound(format!(
                        "{where_}: image {r:?} (available: {})",
                        all.join(", ")
                    )));
                }
            }
        }
        None if images.len() == 1 => &images[0],
        None => {
            let all: Vec<String> = images.iter().flat_map(tags).collect();
            return Err(SourceError::Ambiguous(format!(
                "{where_} holds {} images; name one (available: {})",
                images.len(),
                all.join(", ")
            )));
        }
    };
    let config_path = chosen.config.as_str();
    let config = store.read_json(config_path)?;
    let ids = diff_ids(&config, config_path)?;
    let paths = &chosen.layers;
    if paths.len() != ids.len() {
        return Err(malformed(
            &what,
            format!(
                "{} layers but the config lists {} diff_ids",
                paths.len(),
                ids.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    for (i, (p, diff_id)) in paths.iter().zip(ids).enumerate() {
        let path = normalize(p);
        if !store.exists(&path) {
            return Err(SourceError::NotFound(format!(
                "{where_}: layer {i} ({path})"
            )));
        }
        // Docker >= 25: blobs/<alg>/<hex> names the blob's digest;
        // LayerSources gives its size and media type.
        let digest = path
            .strip_prefix("blobs/")
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(alg, hex)| Digest::parse(&format!("{alg}:{hex}")).ok());
        let source = digest
            .as_ref()
            .and_then(|d| chosen.layer_sources.get(&d.to_string()));
        layers.push(Layer {
            index: i,
            path,
            size: source.and_then(|s| s.size),
            media_type: source.and_then(|s| s.media_type.clone()),
            digest,
            diff_id,
        });
    }
    let config_digest = Digest::parse(&format!(
        "sha256:{}",
        config_path
            .trim_end_matches(".json")
            .rsplit('/')
            .next()
            .unwrap_or("")
    ))
    .ok();
    Ok(Image {
        reference: reference.map_or(where_.clone(), str::to_string),
        manifest_digest: None,
        config_digest,
        platform: config_platform(&config),
        config,
        layers,
        store,
    })
}

#[cfg(test)]
mod tests {
    use super::normalize_ref;

    #[test]
    fn references() {
        assert_eq!(normalize_ref("alpine"), "docker.io/library/alpine:latest");
        assert_eq!(
            normalize_ref("real/bookworm:latest"),
            "docker.io/real/bookworm:latest"
        );
        assert_eq!(
            normalize_ref("docker.io/real/bookworm:latest"),
            "docker.io/real/bookworm:latest"
        );
        assert_eq!(normalize_ref("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(normalize_ref("127.0.0.1:5000/x:v1"), "127.0.0.1:5000/x:v1");
    }
}
