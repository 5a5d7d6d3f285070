//! What a verifier concludes about one artifact and one image, layer by
//! layer: is the layer covered, does its signature chain to the CA and
//! sign the annotated root hash, and is that the layer's root hash.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::Serialize;

use super::artifact::{Descriptor, Manifest, LAYER_DIGEST_ANNOTATION, ROOT_HASH_ANNOTATION};
use crate::pkcs7::{verify_embedded, SignError, Trust};
use crate::source::Layer;

/// The verdict on one image layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerCheck {
    pub index: usize,
    pub layer_digest: String,
    /// The root hash the artifact signs for this layer.
    pub signed_root_hash: Option<String>,
    /// The root hash computed from the layer (None with trusted annotations).
    pub computed_root_hash: Option<String>,
    /// Subject of the signer certificate, once its signature verified.
    pub signer: Option<String>,
    /// Why the layer fails; None when it passes.
    pub problem: Option<String>,
}

impl LayerCheck {
    pub fn passed(&self) -> bool {
        self.problem.is_none()
    }
}

/// Fetches a blob named by a descriptor.
pub type BlobFn<'a> = &'a dyn Fn(&Descriptor) -> Result<Vec<u8>, String>;

fn is_root_hash(s: &str) -> bool {
    !s.is_empty()
        && s.len().is_multiple_of(2)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn explain(e: SignError) -> String {
    match e {
        SignError::BadSignature => {
            "the signature does not verify over the annotated root hash with the embedded certificate's key".into()
        }
        SignError::Untrusted(t) => t.to_string(),
        other => other.to_string(),
    }
}

/// Check one signature entry: the annotated root hash and the signer
/// subject when its signature verifies and chains to `trust`.
pub fn check_entry(
    entry: &Descriptor,
    blob: BlobFn<'_>,
    trust: &Trust,
    now: SystemTime,
) -> Result<(String, String), (Option<String>, String)> {
    let root = entry
        .annotations
        .get(ROOT_HASH_ANNOTATION)
        .cloned()
        .ok_or((None, format!("no {ROOT_HASH_ANNOTATION} annotation")))?;
    if !is_root_hash(&root) {
        return Err((
            None,
            format!("root-hash annotation {root:?} is not lowercase hex"),
        ));
    }
    let der = blob(entry).map_err(|e| (Some(root.clone()), e))?;
    let signer = verify_embedded(&der, root.as_bytes(), trust, now)
        .map_err(|e| (Some(root.clone()), explain(e)))?;
    Ok((root, signer))
}

/// Check `manifest` against every layer of an image: each must be
/// covered, in order, by a signature that verifies against `trust`, and
/// (with `computed`) sign the layer's actual root hash. Artifact entries
/// beyond the image's layers are reported on the last layer.
pub fn check_artifact(
    layers: &[Layer],
    manifest: &Manifest,
    blob: BlobFn<'_>,
    trust: &Trust,
    computed: Option<&[String]>,
    now: SystemTime,
) -> Vec<LayerCheck> {
    let mut out = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let layer_digest = layer
            .digest
            .as_ref()
            .map_or_else(|| layer.diff_id.to_string(), ToString::to_string);
        let mut check = LayerCheck {
            index: i,
            layer_digest: layer_digest.clone(),
            signed_root_hash: None,
            computed_root_hash: computed.and_then(|c| c.get(i).cloned()),
            signer: None,
            problem: None,
        };
        let Some(entry) = manifest.layers.get(i) else {
            check.problem = Some(format!(
                "not covered: the artifact signs {} layer(s), the image has {}",
                manifest.layers.len(),
                layers.len()
            ));
            out.push(check);
            continue;
        };
        let named = entry.annotations.get(LAYER_DIGEST_ANNOTATION);
        if named != Some(&layer_digest) {
            check.problem = Some(match named {
                Some(other) => {
                    format!("the artifact's entry {i} signs layer {other}, not this one")
                }
                None => format!("the artifact's entry {i} has no {LAYER_DIGEST_ANNOTATION}"),
            });
            out.push(check);
            continue;
        }
        match check_entry(entry, blob, trust, now) {
            Ok((root, signer)) => {
                check.signer = Some(signer);
                if let Some(actual) = &check.computed_root_hash {
                    if *actual != root {
                        check.problem = Some(format!(
                            "signed root hash {root} is not the layer's root hash {actual}"
                        ));
                    }
                }
                check.signed_root_hash = Some(root);
            }
            Err((root, why)) => {
                check.signed_root_hash = root;
                check.problem = Some(why);
            }
        }
        out.push(check);
    }
    if manifest.layers.len() > layers.len() {
        if let Some(last) = out.last_mut() {
            let extra = format!(
                "the artifact signs {} layers, the image has {}",
                manifest.layers.len(),
                layers.len()
            );
            last.problem = Some(match last.problem.take() {
                Some(p) => format!("{p}; {extra}"),
                None => extra,
            });
        }
    }
    out
}

/// The root hashes an artifact signs validly, by layer blob digest (for
/// reuse instead of recomputing), and the entries refused with why.
pub fn verified_root_hashes(
    manifest: &Manifest,
    blob: BlobFn<'_>,
    trust: &Trust,
    now: SystemTime,
) -> (HashMap<String, String>, Vec<(String, String)>) {
    let mut good = HashMap::new();
    let mut refused = Vec::new();
    for entry in &manifest.layers {
        let Some(layer) = entry.annotations.get(LAYER_DIGEST_ANNOTATION) else {
            continue;
        };
        match check_entry(entry, blob, trust, now) {
            Ok((root, _)) => {
                good.insert(layer.clone(), root);
            }
            Err((_, why)) => refused.push((layer.clone(), why)),
        }
    }
    (good, refused)
}
