//! The composefs signature artifact: an OCI image manifest that refers
//! to the signed image as its `subject`, with an empty config and one
//! layer per signature (raw PKCS#7 DER) annotated with the digest it
//! signs (spec: composefs.md §6.4). Serialized exactly as composefs-rs
//! does (field order, compact), so the same signature gives the same
//! artifact digest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::source::Digest;
use crate::verity::Algorithm;

pub const ARTIFACT_TYPE: &str = "application/vnd.composefs.metadata.v1";
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.composefs.signature.v1+pkcs7";
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// `composefs.merged.erofs.v1.fsverity-sha256-12` and friends.
pub fn merged_annotation_key(algorithm: Algorithm) -> String {
    let alg = match algorithm {
        Algorithm::Sha256 => "sha256",
        Algorithm::Sha512 => "sha512",
    };
    format!("composefs.merged.erofs.v1.fsverity-{alg}-12")
}

pub use crate::source::layout_referrers::Descriptor;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    #[serde(rename = "artifactType")]
    pub artifact_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub subject: Descriptor,
}

pub use crate::source::layout_referrers::Artifact;

fn descriptor(media_type: &str, data: &[u8]) -> (Descriptor, Digest) {
    let d = Descriptor::of(media_type, data);
    let digest = Digest::parse(&d.digest).expect("a digest we just wrote");
    (d, digest)
}

/// The artifact carrying `signatures` ((annotation key, signed digest in
/// hex, DER)) for the manifest `subject`.
pub fn build(subject: &[u8], signatures: &[(String, String, Vec<u8>)]) -> Artifact {
    let (config, config_digest) = descriptor(EMPTY_MEDIA_TYPE, EMPTY_CONFIG);
    let (subject, _) = descriptor(MANIFEST_MEDIA_TYPE, subject);
    let mut blobs = vec![(config_digest, EMPTY_CONFIG.to_vec())];
    let mut layers = Vec::new();
    for (key, value, der) in signatures {
        let (mut d, digest) = descriptor(SIGNATURE_MEDIA_TYPE, der);
        d.annotations = BTreeMap::from([(key.clone(), value.clone())]);
        layers.push(d);
        blobs.push((digest, der.clone()));
    }
    let manifest = ArtifactManifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        artifact_type: ARTIFACT_TYPE.into(),
        config,
        layers,
        subject,
    };
    Artifact::new(&manifest, blobs)
}

/// Parse an artifact manifest; anything that is not a composefs
/// signature artifact is an error.
pub fn parse(bytes: &[u8]) -> Result<ArtifactManifest, String> {
    let m: ArtifactManifest =
        serde_json::from_slice(bytes).map_err(|e| format!("artifact manifest: {e}"))?;
    if m.artifact_type != ARTIFACT_TYPE {
        return Err(format!(
            "artifactType is {:?}, not {ARTIFACT_TYPE}",
            m.artifact_type
        ));
    }
    Ok(m)
}

/// The signature layers of an artifact: (annotation key, value, blob
/// digest).
pub fn signatures(m: &ArtifactManifest) -> Vec<(String, String, String)> {
    m.layers
        .iter()
        .filter(|l| l.media_type == SIGNATURE_MEDIA_TYPE)
        .flat_map(|l| {
            l.annotations
                .iter()
                .map(move |(k, v)| (k.clone(), v.clone(), l.digest.clone()))
        })
        .collect()
}
