//! Sealing an image (spec: composefs.md §6.4, inline mode): a new config
//! with the label `containers.composefs.fsverity = <merged image id>` and
//! a new manifest whose config descriptor, layer descriptors and top level
//! carry the fs-verity digests (`composefs.config.…`, `composefs.layer.
//! erofs.v1.…`, `composefs.merged.erofs.v1.…`), each optionally with its
//! PKCS#7 signature (`<key>.sig`, base64 DER).
//!
//! Where composefs-rs PR 226 has known bugs this follows the intent:
//! * the config digest is the fs-verity digest of the sealed config JSON
//!   itself (the PR measures its splitstream object instead);
//! * a layer's digest is the V1 image of that layer alone with its
//!   whiteouts kept in overlayfs's lower-layer form (0:0 devices, opaque
//!   directories), so the image is usable as an overlay lower (the PR
//!   applies the whiteouts to an empty tree, losing them). Layers without
//!   whiteouts get the PR's digests.
//!
//! JSON documents are written in the field order of the OCI structures
//! (as composefs-rs serializes them); fields it does not know are kept,
//! after the known ones.

use serde_json::{Map, Value};

use super::artifact::{self, MANIFEST_MEDIA_TYPE};
use super::import::{compute_id_for_tag, open_tag, store_documents, Documents};
use super::oci::{tree_image, DigestOnly, MergedTree, XattrFilter};
use super::repo::Repository;
use super::sign::Signer;
use super::signatures::{other, SignatureError};
use super::splitstream::SplitStream;
use crate::source::Digest;
use crate::verity::{fsverity, hex_lower, Algorithm};

pub const LABEL: &str = "containers.composefs.fsverity";

fn alg_suffix(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Sha256 => "fsverity-sha256-12",
        Algorithm::Sha512 => "fsverity-sha512-12",
    }
}

pub fn config_key(a: Algorithm) -> String {
    format!("composefs.config.{}", alg_suffix(a))
}

pub fn layer_key(a: Algorithm) -> String {
    format!("composefs.layer.erofs.v1.{}", alg_suffix(a))
}

/// What sealing produced.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    /// fs-verity digest of `config`.
    pub config_verity: Vec<u8>,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub merged_id: Vec<u8>,
    pub layer_ids: Vec<Vec<u8>>,
}

/// `{"k":v,…}` with `order`'s keys first (when present), then the rest
/// sorted; `nested` says how to write a key's value.
fn ordered(
    map: &Map<String, Value>,
    order: &[&str],
    nested: &dyn Fn(&str, &Value) -> String,
) -> String {
    let mut parts = Vec::new();
    for k in order {
        if let Some(v) = map.get(*k) {
            parts.push(format!("{}:{}", Value::from(*k), nested(k, v)));
        }
    }
    for (k, v) in map {
        if !order.contains(&k.as_str()) {
            parts.push(format!("{}:{}", Value::from(k.as_str()), nested(k, v)));
        }
    }
    format!("{{{}}}", parts.join(","))
}

fn plain(_: &str, v: &Value) -> String {
    v.to_string()
}

fn object_or_plain(v: &Value, order: &[&str]) -> String {
    match v.as_object() {
        Some(m) => ordered(m, order, &plain),
        None => v.to_string(),
    }
}

/// An image config in oci-spec's field order.
fn config_json(v: &Value) -> Result<String, SignatureError> {
    let m = v
        .as_object()
        .ok_or_else(|| other("config is not a JSON object"))?;
    Ok(ordered(
        m,
        &[
            "created",
            "author",
            "architecture",
            "os",
            "os.version",
            "os.features",
            "variant",
            "config",
            "rootfs",
            "history",
        ],
        &|k, v| match k {
            "config" => object_or_plain(
                v,
                &[
                    "User",
                    "ExposedPorts",
                    "Env",
                    "Entrypoint",
                    "Cmd",
                    "Volumes",
                    "WorkingDir",
                    "Labels",
                    "StopSignal",
                    "ArgsEscaped",
                ],
            ),
            "rootfs" => object_or_plain(v, &["type", "diff_ids"]),
            "history" => match v.as_array() {
                Some(a) => format!(
                    "[{}]",
                    a.iter()
                        .map(|h| object_or_plain(
                            h,
                            &["created", "created_by", "author", "comment", "empty_layer"]
                        ))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                None => v.to_string(),
            },
            _ => v.to_string(),
        },
    ))
}

const DESCRIPTOR_ORDER: &[&str] = &[
    "mediaType",
    "digest",
    "size",
    "urls",
    "annotations",
    "platform",
    "artifactType",
];

/// A manifest in oci-spec's field order.
fn manifest_json(v: &Value) -> Result<String, SignatureError> {
    let m = v
        .as_object()
        .ok_or_else(|| other("manifest is not a JSON object"))?;
    Ok(ordered(
        m,
        &[
            "schemaVersion",
            "mediaType",
            "artifactType",
            "config",
            "layers",
            "subject",
            "annotations",
        ],
        &|k, v| match k {
            "config" | "subject" => object_or_plain(v, DESCRIPTOR_ORDER),
            "layers" => match v.as_array() {
                Some(a) => format!(
                    "[{}]",
                    a.iter()
                        .map(|d| object_or_plain(d, DESCRIPTOR_ORDER))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                None => v.to_string(),
            },
            _ => v.to_string(),
        },
    ))
}

/// The id of one stored layer on its own.
pub fn layer_id(repo: &Repository, stream: &SplitStream) -> Result<Vec<u8>, SignatureError> {
    let mut tree = MergedTree::single_layer();
    let mut store = DigestOnly {
        algorithm: repo.algorithm(),
        threads: repo.threads,
    };
    tree.apply_layer(repo.stream_reader(stream), &mut store)
        .map_err(other)?;
    let image = tree_image(&tree, 1).map_err(other)?;
    fsverity::digest(&image[..], repo.algorithm(), 1).map_err(other)
}

fn annotate(
    target: &mut Value,
    key: &str,
    digest: &[u8],
    signer: Option<&Signer>,
    alg: Algorithm,
) -> Result<(), SignatureError> {
    use base64::Engine;
    let obj = target
        .as_object_mut()
        .ok_or_else(|| other("descriptor is not a JSON object"))?;
    let ann = obj
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    let ann = ann
        .as_object_mut()
        .ok_or_else(|| other("annotations is not a JSON object"))?;
    ann.insert(key.to_string(), Value::from(hex_lower(digest)));
    if let Some(s) = signer {
        let der = super::sign::sign_fsverity(s, alg, digest)?;
        ann.insert(
            format!("{key}.sig"),
            Value::from(base64::engine::general_purpose::STANDARD.encode(der)),
        );
    }
    Ok(())
}

/// Seal `tag` (optionally signing inline), store the sealed config and
/// manifest in the repository and point `tag` at the sealed manifest.
pub fn seal_tag(
    repo: &Repository,
    tag: &str,
    signer: Option<&Signer>,
) -> Result<Sealed, SignatureError> {
    let alg = repo.algorithm();
    let stored = open_tag(repo, tag)?;
    let (image, merged_id) = compute_id_for_tag(repo, tag, 1, XattrFilter::AllowlistOnly)?;
    let image_id = repo.commit_image(&image)?;

    let mut config: Value =
        serde_json::from_slice(&stored.config).map_err(|e| other(format!("config: {e}")))?;
    let diff_ids = crate::source::image::diff_ids(&config, tag).map_err(other)?;
    let mut layer_ids = Vec::new();
    let mut layer_streams = Vec::new();
    for d in &diff_ids {
        let digest = stored
            .config_stream
            .named(&d.to_string())
            .ok_or_else(|| other(format!("{tag}: layer {d} not in the repository")))?
            .to_vec();
        let stream = repo.stream_object(&digest)?;
        layer_ids.push(layer_id(repo, &stream)?);
        layer_streams.push((d.to_string(), digest));
    }

    let obj = config
        .as_object_mut()
        .ok_or_else(|| other("config is not a JSON object"))?;
    let cfg = obj
        .entry("config")
        .or_insert_with(|| Value::Object(Map::new()));
    let cfg = cfg
        .as_object_mut()
        .ok_or_else(|| other("config.config is not a JSON object"))?;
    let labels = cfg
        .entry("Labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if labels.is_null() {
        *labels = Value::Object(Map::new());
    }
    labels
        .as_object_mut()
        .ok_or_else(|| other("config Labels is not a JSON object"))?
        .insert(LABEL.into(), Value::from(hex_lower(&merged_id)));
    let sealed_config = config_json(&config)?.into_bytes();
    let config_digest = Digest::sha256_of(&sealed_config);
    let config_verity = fsverity::digest(&sealed_config[..], alg, 1).map_err(other)?;

    let mut manifest: Value =
        serde_json::from_slice(&stored.manifest).map_err(|e| other(format!("manifest: {e}")))?;
    {
        let c = &mut manifest["config"];
        c["digest"] = Value::from(config_digest.to_string());
        c["size"] = Value::from(sealed_config.len());
        annotate(c, &config_key(alg), &config_verity, signer, alg)?;
    }
    let layers = manifest["layers"]
        .as_array_mut()
        .ok_or_else(|| other("manifest without layers"))?;
    if layers.len() != layer_ids.len() {
        return Err(other("manifest and config disagree on the layer count"));
    }
    for (l, id) in layers.iter_mut().zip(&layer_ids) {
        annotate(l, &layer_key(alg), id, signer, alg)?;
    }
    annotate(
        &mut manifest,
        &artifact::merged_annotation_key(alg),
        &merged_id,
        signer,
        alg,
    )?;
    let media_type = manifest["mediaType"]
        .as_str()
        .unwrap_or(MANIFEST_MEDIA_TYPE)
        .to_string();
    if media_type != MANIFEST_MEDIA_TYPE {
        return Err(other(format!(
            "only OCI image manifests can be sealed, not {media_type}"
        )));
    }
    let sealed_manifest = manifest_json(&manifest)?.into_bytes();
    let manifest_digest = Digest::sha256_of(&sealed_manifest);

    let docs = Documents {
        config: &sealed_config,
        config_digest: &config_digest,
        manifest: &sealed_manifest,
        manifest_digest: &manifest_digest,
    };
    store_documents(
        repo,
        tag,
        &docs,
        layer_streams,
        ("composefs.image.v1", image_id),
    )?;
    Ok(Sealed {
        config: sealed_config,
        config_digest,
        config_verity,
        manifest: sealed_manifest,
        manifest_digest,
        merged_id,
        layer_ids,
    })
}
