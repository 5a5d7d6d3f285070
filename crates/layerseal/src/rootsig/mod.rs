//! Signed dm-verity root hashes as OCI referrers (Notation's dm-verity
//! format): sign every layer's root hash of an image, publish the
//! artifact beside the image (OCI layout or registry), find it again and
//! check it — the signatures against a CA, the annotated root hashes
//! against the layers, the coverage of every layer.
//!
//! [`artifact`] is the manifest format; [`places`] where artifacts live;
//! [`check`] what a verifier concludes per layer.

pub mod artifact;
pub mod check;
pub mod places;

use serde_json::json;

use crate::image::pipeline::{convert_image, ImageOptions, LayerResult};
use crate::layer::{ErofsUuid, FsFormat};
use crate::pkcs7::Signer;
use crate::source::Image;

pub use artifact::{Artifact, LayerSignature};

/// What determines a root hash besides the layer: the format and its
/// options, as one compact JSON text (the artifact's recipe annotation).
pub fn recipe(opts: &ImageOptions) -> String {
    let v = match opts.format {
        FsFormat::Ext4 => json!({"format": "ext4", "max_disk_size": opts.max_disk_size}),
        FsFormat::Erofs => {
            let uuid = match opts.erofs_uuid {
                ErofsUuid::BlobDigest => "blob".to_string(),
                ErofsUuid::DiffId => "diffid".to_string(),
                ErofsUuid::Fixed(u) => crate::verity::hex_lower(&u),
            };
            json!({
                "format": if opts.tar_index { "erofs-tar-index" } else { "erofs" },
                "mkfs_options": opts.mkfs.words().join(" "),
                "erofs_utils": opts.mkfs.version.reproduces(),
                "uuid": uuid,
            })
        }
    };
    v.to_string()
}

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignImageError {
    #[error("{0}: the source keeps no manifest to attach signatures to (use a registry, an OCI layout or an oci-archive)")]
    NoManifest(String),
    #[error("{reference}: layer {index} has no blob digest to name in the artifact")]
    NoLayerDigest { reference: String, index: usize },
    #[error("{0}")]
    Convert(#[from] crate::image::pipeline::ImageError),
    #[error("signing layer {index}: {source}")]
    Sign {
        index: usize,
        source: crate::pkcs7::SignError,
    },
}

/// Compute every layer's root hash of `image` with `opts`, sign each and
/// build the artifact. Returns it with the per-layer results.
pub fn sign_image(
    image: &Image,
    opts: &ImageOptions,
    signer: &Signer,
) -> Result<(Artifact, Vec<LayerResult>), SignImageError> {
    let subject = image
        .raw_manifest()
        .ok_or_else(|| SignImageError::NoManifest(image.reference.clone()))?;
    if let Some(l) = image.layers.iter().find(|l| l.digest.is_none()) {
        return Err(SignImageError::NoLayerDigest {
            reference: image.reference.clone(),
            index: l.index,
        });
    }
    let results = convert_image(image, opts)?;
    let mut layers = Vec::new();
    for (l, r) in image.layers.iter().zip(&results) {
        let signature = signer
            .sign_with_certificate(r.root_hash.as_bytes())
            .map_err(|source| SignImageError::Sign {
                index: l.index,
                source,
            })?;
        layers.push(LayerSignature {
            layer_digest: l.digest.as_ref().expect("checked above").to_string(),
            root_hash: r.root_hash.clone(),
            signature,
        });
    }
    Ok((artifact::build(&subject, &recipe(opts), &layers), results))
}
