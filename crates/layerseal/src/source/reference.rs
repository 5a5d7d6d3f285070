//! Image references in skopeo's transport syntax, and opening them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::SourceError;
use super::image::Image;
use super::platform::Platform;
use super::registry::{self, RegistryOptions};
use super::store::{DirStore, Store, TarStore};
use super::{docker_archive, oci};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `docker://HOST/REPO:TAG` (or a bare reference that is not a path).
    Registry(String),
    /// `oci:DIR[:TAG]`
    OciDir(PathBuf, Option<String>),
    /// `oci-archive:FILE[:TAG]`
    OciArchive(PathBuf, Option<String>),
    /// `docker-archive:FILE[:REF]`
    DockerArchive(PathBuf, Option<String>),
    /// `docker-daemon:REF`
    DockerDaemon(String),
    /// A tarball of either kind, detected from its contents (`--tarball`).
    Archive(PathBuf, Option<String>),
}

/// `PATH[:TAG]` where TAG has no `/`: the whole string wins if it exists.
fn path_and_tag(s: &str) -> (PathBuf, Option<String>) {
    if Path::new(s).exists() {
        return (PathBuf::from(s), None);
    }
    match s.rsplit_once(':') {
        Some((p, t)) if !p.is_empty() && !t.contains('/') => (
            PathBuf::from(p),
            Some(t.to_string()).filter(|t| !t.is_empty()),
        ),
        _ => (PathBuf::from(s), None),
    }
}

/// `PATH[:REF]` where REF may itself contain `:`: split at the first `:`
/// whose prefix is an existing file.
fn path_and_ref(s: &str) -> (PathBuf, Option<String>) {
    if Path::new(s).exists() {
        return (PathBuf::from(s), None);
    }
    for (i, _) in s.match_indices(':') {
        if Path::new(&s[..i]).is_file() {
            return (
                PathBuf::from(&s[..i]),
                Some(s[i + 1..].to_string()).filter(|r| !r.is_empty()),
            );
        }
    }
    (PathBuf::from(s), None)
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<Self, SourceError> {
        let bad = |m: &str| SourceError::Unsupported(format!("{s:?}: {m}"));
        if let Some(rest) = s.strip_prefix("docker://") {
            return Ok(ImageRef::Registry(rest.trim_start_matches('/').to_string()));
        }
        if let Some(rest) = s.strip_prefix("oci:") {
            let (p, t) = path_and_tag(rest);
            return Ok(ImageRef::OciDir(p, t));
        }
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (p, t) = path_and_tag(rest);
            return Ok(ImageRef::OciArchive(p, t));
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (p, r) = path_and_ref(rest);
            return Ok(ImageRef::DockerArchive(p, r));
        }
        if let Some(rest) = s.strip_prefix("docker-daemon:") {
            return Ok(ImageRef::DockerDaemon(rest.to_string()));
        }
        for t in ["containers-storage:", "dir:", "ostree:", "sif:", "tarball:"] {
            if s.starts_with(t) {
                return Err(bad("this transport is not supported (use docker://, oci:, oci-archive:, docker-archive:, docker-daemon:)"));
            }
        }
        let p = Path::new(s);
        if p.is_dir() {
            return Ok(ImageRef::OciDir(p.to_path_buf(), None));
        }
        if p.is_file() {
            return Ok(ImageRef::Archive(p.to_path_buf(), None));
        }
        if s.is_empty() {
            return Err(bad("empty image reference"));
        }
        Ok(ImageRef::Registry(s.to_string()))
    }
}

/// Resolve a tarball of unknown kind: docker-archive when it has a
/// `manifest.json`, else an OCI layout.
pub fn open_archive(
    path: &Path,
    name: Option<&str>,
    platform: &Platform,
) -> Result<Image, SourceError> {
    let store: Arc<dyn Store> = Arc::new(TarStore::open(path)?);
    if store.exists("manifest.json") {
        docker_archive::resolve(store, name)
    } else if store.exists("index.json") {
        oci::resolve(store, name, platform)
    } else {
        Err(SourceError::Unsupported(format!(
            "{}: image manifest format not recognized (neither manifest.json nor index.json)",
            path.display()
        )))
    }
}

/// Open any supported reference (registries anonymously or with the
/// docker config's credentials; see [`open_image_with`]).
pub fn open_image(r: &ImageRef, platform: &Platform) -> Result<Image, SourceError> {
    let opts = RegistryOptions {
        docker_config: true,
        ..RegistryOptions::default()
    };
    open_image_with(r, platform, &opts)
}

/// Open any supported reference with registry options.
pub fn open_image_with(
    r: &ImageRef,
    platform: &Platform,
    registry_opts: &RegistryOptions,
) -> Result<Image, SourceError> {
    match r {
        ImageRef::OciDir(p, t) => {
            if !p.join("index.json").is_file() {
                return Err(SourceError::NotFound(format!("{}: no index.json (not an OCI layout)", p.display())));
            }
            oci::resolve(Arc::new(DirStore::new(p)), t.as_deref(), platform)
        }
        ImageRef::OciArchive(p, t) => oci::resolve(Arc::new(TarStore::open(p)?), t.as_deref(), platform),
        ImageRef::DockerArchive(p, r) => docker_archive::resolve(Arc::new(TarStore::open(p)?), r.as_deref()),
        ImageRef::Archive(p, n) => open_archive(p, n.as_deref(), platform),
        ImageRef::Registry(r) => registry::open(r, platform, registry_opts),
        ImageRef::DockerDaemon(r) => Err(SourceError::Unsupported(format!(
            "docker-daemon:{r}: daemon sources are not implemented yet; use docker save to an archive"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(
            ImageRef::parse("docker://alpine:3").unwrap(),
            ImageRef::Registry("alpine:3".into())
        );
        assert_eq!(
            ImageRef::parse("oci:/no/such/dir:v1").unwrap(),
            ImageRef::OciDir("/no/such/dir".into(), Some("v1".into()))
        );
        assert_eq!(
            ImageRef::parse("oci-archive:/x.tar").unwrap(),
            ImageRef::OciArchive("/x.tar".into(), None)
        );
        assert_eq!(
            ImageRef::parse("alpine:3.19").unwrap(),
            ImageRef::Registry("alpine:3.19".into())
        );
        assert!(ImageRef::parse("containers-storage:x").is_err());
    }
}
