//! Signing a pulled image, keeping the signature artifact in the
//! repository as composefs-rs does (`streams/refs/oci-referrers/<subject
//! manifest>/<artifact>`), exporting it to an OCI layout, and verifying
//! an image against a certificate.

use std::path::Path;

use super::artifact::{self, Artifact};
use super::import::{compute_id_for_tag, manifest_content_id, open_tag, ImportError};
use super::oci::XattrFilter;
use super::repo::{RepoError, Repository};
use super::sign::{self, Signer};
use crate::source::Digest;
use crate::verity::hex_lower;

const OCI_BLOB: [u8; 8] = *b"oci_blob";

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Sign(#[from] sign::SignError),
    #[error("{0}")]
    Other(String),
}

pub(crate) fn other(e: impl std::fmt::Display) -> SignatureError {
    SignatureError::Other(e.to_string())
}

fn blob_content_id(d: &Digest) -> String {
    format!("oci-blob-{}:{}", d.algorithm, d.hex)
}

/// The merged image id of a tag (V1, default xattr filter): what is signed.
pub fn merged_id(repo: &Repository, tag: &str) -> Result<Vec<u8>, SignatureError> {
    Ok(compute_id_for_tag(repo, tag, 1, XattrFilter::AllowlistOnly)?.1)
}

/// Sign the merged image of `tag` and store the artifact.
pub fn sign_tag(repo: &Repository, tag: &str, signer: &Signer) -> Result<Artifact, SignatureError> {
    let stored = open_tag(repo, tag)?;
    let id = merged_id(repo, tag)?;
    let der = sign::sign_fsverity(signer, repo.algorithm(), &id)?;
    let key = artifact::merged_annotation_key(repo.algorithm());
    let art = artifact::build(&stored.manifest, &[(key, hex_lower(&id), der)]);
    store_artifact(repo, &stored.manifest, &art)?;
    Ok(art)
}

fn store_artifact(repo: &Repository, subject: &[u8], art: &Artifact) -> Result<(), SignatureError> {
    let mut refs = Vec::new();
    for (d, bytes) in &art.blobs {
        let (file, _) = repo.one_chunk_stream(bytes, OCI_BLOB, &[])?;
        refs.push((
            d.to_string(),
            repo.write_stream(&blob_content_id(d), &file)?,
        ));
    }
    let (file, _) = repo.one_chunk_stream(
        &art.manifest,
        super::splitstream::content_type::OCI_MANIFEST,
        &refs,
    )?;
    let id = manifest_content_id(&art.digest);
    repo.write_stream(&id, &file)?;
    let subject = Digest::sha256_of(subject);
    repo.add_referrer(&subject.to_string(), &art.digest.to_string(), &id)?;
    Ok(())
}

/// The signature artifacts stored for a tag: (manifest bytes, blobs).
pub fn artifacts_for_tag(repo: &Repository, tag: &str) -> Result<Vec<Artifact>, SignatureError> {
    let stored = open_tag(repo, tag)?;
    let subject = Digest::sha256_of(&stored.manifest).to_string();
    let mut out = Vec::new();
    for name in repo.referrers(&subject)? {
        let (stream, _) = repo.read_stream(&name)?;
        let manifest = repo.small_stream_content(&stream)?;
        let mut blobs = Vec::new();
        for (blob_name, idx) in &stream.named_refs {
            let blob_stream = repo.stream_object(&stream.stream_refs[*idx])?;
            let d = Digest::parse(blob_name).map_err(other)?;
            blobs.push((d, repo.small_stream_content(&blob_stream)?));
        }
        out.push(Artifact {
            digest: Digest::sha256_of(&manifest),
            manifest,
            blobs,
        });
    }
    Ok(out)
}

/// What verification found.
#[derive(Debug, Clone)]
pub struct Verified {
    pub image_id: Vec<u8>,
    pub artifact: Digest,
    pub signatures: usize,
}

/// Check the tag's merged image against its stored signatures: the
/// recomputed image id must be what each merged signature names, and
/// each must verify with `cert_pem`. No signature is a failure.
pub fn verify_tag(
    repo: &Repository,
    tag: &str,
    cert_pem: &[u8],
) -> Result<Verified, SignatureError> {
    let id = merged_id(repo, tag)?;
    let key = artifact::merged_annotation_key(repo.algorithm());
    let mut last_error = None;
    for art in artifacts_for_tag(repo, tag)? {
        match verify_artifact(&art, &key, repo.algorithm(), &id, cert_pem) {
            Ok(n) => {
                return Ok(Verified {
                    image_id: id,
                    artifact: art.digest,
                    signatures: n,
                })
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        other(format!(
            "{tag}: no composefs signature stored for this image"
        ))
    }))
}

/// All merged-image signatures in one artifact must name `id` and
/// verify; returns how many there were (at least one).
pub fn verify_artifact(
    art: &Artifact,
    key: &str,
    algorithm: crate::verity::Algorithm,
    id: &[u8],
    cert_pem: &[u8],
) -> Result<usize, SignatureError> {
    let manifest = artifact::parse(&art.manifest).map_err(other)?;
    let mut n = 0;
    for (k, value, blob) in artifact::signatures(&manifest) {
        if k != key {
            continue;
        }
        if value != hex_lower(id) {
            return Err(other(format!(
                "the signature is for image {value}, but the image is now {}",
                hex_lower(id)
            )));
        }
        let der = art
            .blobs
            .iter()
            .find(|(d, _)| d.to_string() == blob)
            .map(|(_, b)| b)
            .ok_or_else(|| other(format!("signature blob {blob} missing")))?;
        sign::verify_fsverity(der, algorithm, id, cert_pem)?;
        n += 1;
    }
    if n == 0 {
        return Err(other(format!(
            "artifact {} has no {key} signature",
            art.digest
        )));
    }
    Ok(n)
}

/// Write the tag's signature artifacts into an OCI layout (created if
/// needed): blobs under `blobs/sha256/`, each artifact manifest listed
/// in `index.json` with its `artifactType`.
pub fn export_to_layout(repo: &Repository, tag: &str, dir: &Path) -> Result<usize, SignatureError> {
    use crate::source::layout_referrers::add_artifact;
    let arts = artifacts_for_tag(repo, tag)?;
    let stored = open_tag(repo, tag)?;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| other(format!("{}: {e}", blobs.display())))?;
    let subject = blobs.join(Digest::sha256_of(&stored.manifest).hex);
    if !subject.exists() {
        crate::atomic::write_file(&subject, &stored.manifest)
            .map_err(|e| other(format!("{}: {e}", subject.display())))?;
    }
    for art in &arts {
        add_artifact(
            dir,
            &art.manifest,
            artifact::MANIFEST_MEDIA_TYPE,
            artifact::ARTIFACT_TYPE,
            &art.blobs,
        )
        .map_err(other)?;
    }
    Ok(arts.len())
}

/// Push the tag's signature artifacts to a registry repository (which
/// should hold the image itself), discoverable as referrers of its
/// manifest. Returns the artifact digests.
pub fn push_to_registry(
    repo: &Repository,
    tag: &str,
    dest: &crate::source::registry_push::RegistryRepo,
) -> Result<Vec<Digest>, SignatureError> {
    let stored = open_tag(repo, tag)?;
    let subject = Digest::sha256_of(&stored.manifest);
    let mut out = Vec::new();
    for art in artifacts_for_tag(repo, tag)? {
        out.push(
            dest.push_referrer(
                &subject,
                &art.manifest,
                artifact::MANIFEST_MEDIA_TYPE,
                artifact::ARTIFACT_TYPE,
                &art.blobs,
            )
            .map_err(other)?,
        );
    }
    if out.is_empty() {
        return Err(other(format!(
            "{tag}: no signatures to push (run sign first)"
        )));
    }
    Ok(out)
}

/// [`verify_tag`] with the signatures fetched from a registry (referrers
/// of the image's manifest there) instead of the repository.
pub fn verify_tag_from_registry(
    repo: &Repository,
    tag: &str,
    source: &crate::source::registry_push::RegistryRepo,
    cert_pem: &[u8],
) -> Result<Verified, SignatureError> {
    let stored = open_tag(repo, tag)?;
    let subject = Digest::sha256_of(&stored.manifest);
    let id = merged_id(repo, tag)?;
    let key = artifact::merged_annotation_key(repo.algorithm());
    let mut last_error = None;
    for desc in source
        .referrers(&subject, Some(artifact::ARTIFACT_TYPE))
        .map_err(other)?
    {
        let result = (|| {
            let d = Digest::parse(desc["digest"].as_str().unwrap_or_default()).map_err(other)?;
            let manifest = source
                .manifest(&d.to_string(), artifact::MANIFEST_MEDIA_TYPE)
                .map_err(other)?
                .ok_or_else(|| other(format!("referrer {d} is listed but missing")))?;
            if Digest::sha256_of(&manifest) != d {
                return Err(other(format!("referrer {d}: digest mismatch")));
            }
            let parsed = artifact::parse(&manifest).map_err(other)?;
            let mut blobs = Vec::new();
            for l in &parsed.layers {
                let bd = Digest::parse(&l.digest).map_err(other)?;
                blobs.push((bd.clone(), source.blob(&bd).map_err(other)?));
            }
            let art = Artifact {
                manifest,
                digest: d.clone(),
                blobs,
            };
            let n = verify_artifact(&art, &key, repo.algorithm(), &id, cert_pem)?;
            Ok(Verified {
                image_id: id.clone(),
                artifact: d,
                signatures: n,
            })
        })();
        match result {
            Ok(v) => return Ok(v),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        other(format!(
            "{tag}: the registry has no composefs signature for manifest {subject}"
        ))
    }))
}
