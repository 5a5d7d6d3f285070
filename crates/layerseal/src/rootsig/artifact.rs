//! The referrer artifact of Notation's dm-verity proposal: an OCI image
//! manifest whose `subject` is the signed image's manifest, with the
//! empty config and one `application/pkcs7-signature` layer per image
//! layer, in manifest order (spec: docs/dmverity-signatures.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::source::Digest;

pub const ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature.dm-verity";
pub const SIGNATURE_MEDIA_TYPE: &str = "application/pkcs7-signature";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_CONFIG: &[u8] = b"{}";

pub const SIGNATURE_ANNOTATION: &str = "io.cncf.notary.dm-verity.signature";
pub const LAYER_DIGEST_ANNOTATION: &str = "io.cncf.notary.layer.digest";
pub const ROOT_HASH_ANNOTATION: &str = "io.cncf.notary.dm-verity.root-hash";
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
/// Ours: the filesystem format and the options that determine the root
/// hash, so consumers can tell artifacts for ext4 and EROFS variants apart.
pub const RECIPE_ANNOTATION: &str = "dev.layerseal.dm-verity.recipe";

pub use crate::source::layout_referrers::Descriptor;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    #[serde(rename = "artifactType")]
    pub artifact_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub subject: Descriptor,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// One image layer's signed root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSignature {
    /// The image layer's blob digest.
    pub layer_digest: String,
    /// Lowercase hex.
    pub root_hash: String,
    /// DER PKCS#7.
    pub signature: Vec<u8>,
}

pub use crate::source::layout_referrers::Artifact;

/// The media type a manifest document declares (OCI manifest if none).
pub fn media_type_of(manifest: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(manifest)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .unwrap_or_else(|| MANIFEST_MEDIA_TYPE.to_string())
}

/// The artifact signing `layers` of the image whose manifest is
/// `subject`; `recipe` says how the root hashes were computed.
pub fn build(subject: &[u8], recipe: &str, layers: &[LayerSignature]) -> Artifact {
    let mut blobs = vec![(Digest::sha256_of(EMPTY_CONFIG), EMPTY_CONFIG.to_vec())];
    let descriptors = layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut d = Descriptor::of(SIGNATURE_MEDIA_TYPE, &l.signature);
            d.annotations = BTreeMap::from([
                (LAYER_DIGEST_ANNOTATION.into(), l.layer_digest.clone()),
                (ROOT_HASH_ANNOTATION.into(), l.root_hash.clone()),
                (TITLE_ANNOTATION.into(), format!("layer-{i}.pkcs7.sig")),
            ]);
            blobs.push((Digest::sha256_of(&l.signature), l.signature.clone()));
            d
        })
        .collect();
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        artifact_type: ARTIFACT_TYPE.into(),
        config: Descriptor::of(EMPTY_MEDIA_TYPE, EMPTY_CONFIG),
        layers: descriptors,
        subject: Descriptor::of(&media_type_of(subject), subject),
        annotations: BTreeMap::from([
            (SIGNATURE_ANNOTATION.into(), "true".into()),
            (RECIPE_ANNOTATION.into(), recipe.into()),
        ]),
    };
    // Equal layers give equal (deterministic RSA) signatures: one blob.
    let mut seen = std::collections::HashSet::new();
    blobs.retain(|(d, _)| seen.insert(d.to_string()));
    Artifact::new(&manifest, blobs)
}

/// Parse an artifact manifest and check it is one of ours (type, the
/// signature annotation, signature layers).
pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
    let m: Manifest =
        serde_json::from_slice(bytes).map_err(|e| format!("not an artifact manifest: {e}"))?;
    if m.artifact_type != ARTIFACT_TYPE {
        return Err(format!("artifact type is {:?}", m.artifact_type));
    }
    if m.annotations.get(SIGNATURE_ANNOTATION).map(String::as_str) != Some("true") {
        return Err(format!("no {SIGNATURE_ANNOTATION}: \"true\" annotation"));
    }
    if let Some(l) = m
        .layers
        .iter()
        .find(|l| l.media_type != SIGNATURE_MEDIA_TYPE)
    {
        return Err(format!("a layer has media type {:?}", l.media_type));
    }
    Ok(m)
}
