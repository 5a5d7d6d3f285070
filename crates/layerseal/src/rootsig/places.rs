//! Where signature artifacts live: beside the image in its OCI layout,
//! in its registry repository (referrers API or the fallback tag), or as
//! plain files in a directory.

use std::path::{Path, PathBuf};

use super::artifact::{self, Artifact, Manifest, ARTIFACT_TYPE, MANIFEST_MEDIA_TYPE};
use crate::source::registry_push::RegistryRepo;
use crate::source::{layout_referrers, Digest, ImageRef, RegistryOptions};

/// Largest signature blob read back (a chain of a few certificates).
pub const MAX_SIGNATURE: u64 = 256 * 1024;

/// The store an image's referrers are kept in.
pub enum Place {
    Layout(PathBuf),
    Registry {
        repo: Box<RegistryRepo>,
        name: String,
    },
}

/// An artifact found among the referrers.
pub struct Found {
    pub digest: Digest,
    /// The parsed manifest, or why it is not a dm-verity signature one.
    pub manifest: Result<Manifest, String>,
}

impl Place {
    /// Where `reference`'s referrers live, when its source keeps any
    /// (OCI layout directories and registries do; archives and the
    /// daemon do not).
    pub fn of(reference: &ImageRef, registry: &RegistryOptions) -> Result<Option<Place>, String> {
        Ok(match reference {
            ImageRef::OciDir(dir, _) => Some(Place::Layout(dir.clone())),
            ImageRef::Registry(name) => Some(Place::Registry {
                repo: Box::new(RegistryRepo::open(name, registry).map_err(|e| e.to_string())?),
                name: name.clone(),
            }),
            _ => None,
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Place::Layout(d) => format!("OCI layout {}", d.display()),
            Place::Registry { name, .. } => format!("registry repository of {name}"),
        }
    }

    /// Publish `art` as a referrer of `subject`; returns its digest.
    pub fn publish(&self, subject: &Digest, art: &Artifact) -> Result<Digest, String> {
        match self {
            Place::Layout(dir) => layout_referrers::add_artifact(
                dir,
                &art.manifest,
                MANIFEST_MEDIA_TYPE,
                ARTIFACT_TYPE,
                &art.blobs,
            ),
            Place::Registry { repo, .. } => repo
                .push_referrer(
                    subject,
                    &art.manifest,
                    MANIFEST_MEDIA_TYPE,
                    ARTIFACT_TYPE,
                    &art.blobs,
                )
                .map_err(|e| e.to_string()),
        }
    }

    /// The dm-verity signature artifacts referring to `subject`, in the
    /// order the store lists them.
    pub fn find(&self, subject: &Digest) -> Result<Vec<Found>, String> {
        let raw: Vec<(Digest, Vec<u8>)> = match self {
            Place::Layout(dir) => layout_referrers::referrers(dir, subject, ARTIFACT_TYPE)?,
            Place::Registry { repo, .. } => {
                let mut out = Vec::new();
                for desc in repo
                    .referrers(subject, Some(ARTIFACT_TYPE))
                    .map_err(|e| e.to_string())?
                {
                    let d = desc["digest"]
                        .as_str()
                        .and_then(|s| Digest::parse(s).ok())
                        .ok_or_else(|| {
                            format!("referrers of {subject}: a descriptor without a digest")
                        })?;
                    let bytes = repo
                        .manifest(&d.to_string(), MANIFEST_MEDIA_TYPE)
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("referrer {d} is listed but missing"))?;
                    if Digest::sha256_of(&bytes) != d {
                        return Err(format!("referrer {d}: content does not match its digest"));
                    }
                    out.push((d, bytes));
                }
                out
            }
        };
        Ok(raw
            .into_iter()
            .map(|(digest, bytes)| {
                let manifest = artifact::parse(&bytes).and_then(|m| {
                    if m.subject.digest == subject.to_string() {
                        Ok(m)
                    } else {
                        Err(format!("its subject is {}", m.subject.digest))
                    }
                });
                Found { digest, manifest }
            })
            .collect())
    }

    /// A signature blob named by an artifact, checked against its
    /// descriptor (digest and size).
    pub fn blob(&self, desc: &artifact::Descriptor) -> Result<Vec<u8>, String> {
        let d = Digest::parse(&desc.digest).map_err(|e| format!("blob {}: {e}", desc.digest))?;
        if desc.size > MAX_SIGNATURE {
            return Err(format!(
                "blob {d}: {} bytes is too large for a signature",
                desc.size
            ));
        }
        let bytes = match self {
            Place::Layout(dir) => layout_referrers::read_blob(dir, &d, MAX_SIGNATURE)?,
            Place::Registry { repo, .. } => repo.blob(&d).map_err(|e| e.to_string())?,
        };
        if bytes.len() as u64 != desc.size {
            return Err(format!(
                "blob {d}: {} bytes, the artifact says {}",
                bytes.len(),
                desc.size
            ));
        }
        Ok(bytes)
    }
}

/// Write an artifact as plain files into `dir` (created if needed):
/// `manifest.json`, and per layer `layer-<i>.pkcs7.sig` (the DER
/// signature, what `veritysetup open --root-hash-signature` takes) and
/// `layer-<i>.roothash` (the signed text). Returns the files written.
pub fn write_files(dir: &Path, art: &Artifact) -> Result<Vec<PathBuf>, String> {
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let manifest = artifact::parse(&art.manifest)?;
    let mut written = Vec::new();
    let mut put = |name: String, bytes: &[u8]| -> Result<(), String> {
        let p = dir.join(name);
        crate::atomic::write_file(&p, bytes).map_err(|e| io(&p, e))?;
        written.push(p);
        Ok(())
    };
    for (i, l) in manifest.layers.iter().enumerate() {
        let der = art
            .blobs
            .iter()
            .find(|(d, _)| d.to_string() == l.digest)
            .map(|(_, b)| b.as_slice())
            .ok_or_else(|| format!("artifact layer {i}: blob {} missing", l.digest))?;
        put(format!("layer-{i}.pkcs7.sig"), der)?;
        let root = l
            .annotations
            .get(artifact::ROOT_HASH_ANNOTATION)
            .map(String::as_str)
            .unwrap_or_default();
        put(format!("layer-{i}.roothash"), root.as_bytes())?;
    }
    put("manifest.json".into(), &art.manifest)?;
    Ok(written)
}
