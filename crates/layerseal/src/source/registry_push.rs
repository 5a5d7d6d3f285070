//! Writing to a registry repository: blobs (monolithic upload), manifests,
//! and the referrers of a manifest — the OCI 1.1 referrers API when the
//! registry has it, else the fallback tag `sha256-<hex>` holding an image
//! index of the referrers (OCI distribution spec, "referrers tag schema"),
//! which this module also maintains when pushing.

use std::io::Read;

use serde_json::{json, Value};

use super::digest::Digest;
use super::error::{malformed, SourceError};
use super::registry::{
    split_reference, url_encode, with_loopback_fallback, Client, Method, RegistryOptions,
};
use super::store::MAX_JSON;

const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// One registry repository, for reading and writing.
pub struct RegistryRepo {
    client: Client,
    /// `host/repo`, for messages.
    name: String,
}

impl RegistryRepo {
    /// `HOST/REPO[:TAG]` (the tag is ignored). Loopback registries that do
    /// not answer HTTPS are used over plain HTTP.
    pub fn open(reference: &str, opts: &RegistryOptions) -> Result<Self, SourceError> {
        let (host, repo, _) = split_reference(reference)?;
        let name = format!("{host}/{repo}");
        // Probe with a tags listing; only "cannot reach" matters here (an
        // empty repository answers 404, pushes may still be allowed).
        let client = with_loopback_fallback(&host, opts, |o| {
            let client = Client::new(&host, &repo, o)?;
            let tags = format!("{}/tags/list", client.base);
            match client.request(Method::Get, &tags, None, None, "tags") {
                Err(SourceError::Remote(e)) if e.contains("cannot reach") => {
                    Err(SourceError::Remote(e))
                }
                _ => Ok(client),
            }
        })?;
        Ok(RegistryRepo { client, name })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.client.base)
    }

    /// Absolute URL of an upload `Location` header.
    fn location(&self, loc: &str) -> String {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            return loc.to_string();
        }
        let origin = self
            .client
            .base
            .split_once("/v2/")
            .map_or(self.client.base.as_str(), |(o, _)| o);
        format!("{origin}{loc}")
    }

    pub fn has_blob(&self, d: &Digest) -> Result<bool, SourceError> {
        match self.client.request(
            Method::Head,
            &self.url(&format!("blobs/{d}")),
            None,
            None,
            "blob",
        ) {
            Ok(_) => Ok(true),
            Err(SourceError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Upload a blob unless the registry has it.
    pub fn push_blob(&self, d: &Digest, bytes: &[u8]) -> Result<(), SourceError> {
        if Digest::sha256_of(bytes) != *d {
            return Err(malformed(
                &self.name,
                format!("blob {d}: content does not match"),
            ));
        }
        if self.has_blob(d)? {
            return Ok(());
        }
        let what = format!("upload of blob {d}");
        let resp = self.client.request(
            Method::Post,
            &self.url("blobs/uploads/"),
            None,
            Some(("application/octet-stream", &[])),
            &what,
        )?;
        let loc = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| malformed(&self.name, format!("{what}: no Location")))?;
        let mut url = self.location(loc);
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={d}"));
        self.client.request(
            Method::Put,
            &url,
            None,
            Some(("application/octet-stream", bytes)),
            &what,
        )?;
        Ok(())
    }

    /// Put a manifest under a tag or its digest. Returns the registry's
    /// `OCI-Subject` answer: registries with the referrers API send it for
    /// a manifest with a subject, and then index it themselves.
    pub fn push_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Option<String>, SourceError> {
        let resp = self.client.request(
            Method::Put,
            &self.url(&format!("manifests/{reference}")),
            None,
            Some((media_type, bytes)),
            &format!("manifest {reference}"),
        )?;
        Ok(resp
            .headers()
            .get("oci-subject")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }

    fn read_body(
        &self,
        resp: ureq::http::Response<ureq::Body>,
        what: &str,
    ) -> Result<Vec<u8>, SourceError> {
        let mut out = Vec::new();
        resp.into_body()
            .into_reader()
            .take(MAX_JSON)
            .read_to_end(&mut out)
            .map_err(|e| SourceError::Remote(format!("{}: {what}: {e}", self.name)))?;
        Ok(out)
    }

    /// A manifest or index by tag or digest; None when absent.
    pub fn manifest(&self, reference: &str, accept: &str) -> Result<Option<Vec<u8>>, SourceError> {
        let what = format!("manifest {reference}");
        match self.client.request(
            Method::Get,
            &self.url(&format!("manifests/{reference}")),
            Some(accept),
            None,
            &what,
        ) {
            Ok(r) => self.read_body(r, &what).map(Some),
            Err(SourceError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A small blob, checked against its digest.
    pub fn blob(&self, d: &Digest) -> Result<Vec<u8>, SourceError> {
        let what = format!("blob {d}");
        let r = self.client.request(
            Method::Get,
            &self.url(&format!("blobs/{d}")),
            None,
            None,
            &what,
        )?;
        let bytes = self.read_body(r, &what)?;
        if Digest::sha256_of(&bytes) != *d {
            return Err(malformed(&self.name, format!("{what}: digest mismatch")));
        }
        Ok(bytes)
    }

    fn fallback_tag(subject: &Digest) -> String {
        format!("{}-{}", subject.algorithm, subject.hex)
    }

    /// Descriptors of the manifests that refer to `subject`, optionally
    /// only those of `artifact_type`.
    pub fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Value>, SourceError> {
        let what = format!("referrers of {subject}");
        let mut url = self.url(&format!("referrers/{subject}"));
        if let Some(t) = artifact_type {
            url.push_str(&format!("?artifactType={}", url_encode(t)));
        }
        let index =
            match self
                .client
                .request(Method::Get, &url, Some(INDEX_MEDIA_TYPE), None, &what)
            {
                Ok(r) => Some(self.read_body(r, &what)?),
                Err(SourceError::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
        let index = match index {
            Some(b) => b,
            None => match self.manifest(&Self::fallback_tag(subject), INDEX_MEDIA_TYPE)? {
                Some(b) => b,
                None => return Ok(Vec::new()),
            },
        };
        let v: Value = serde_json::from_slice(&index).map_err(|e| malformed(&what, e))?;
        Ok(v["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| artifact_type.is_none_or(|t| d["artifactType"] == t))
            .cloned()
            .collect())
    }

    /// Push an artifact (its blobs, then its manifest by digest) that
    /// refers to `subject`; unless the registry says it indexes referrers
    /// itself (`OCI-Subject`), list it in the fallback referrers index.
    pub fn push_referrer(
        &self,
        subject: &Digest,
        manifest: &[u8],
        media_type: &str,
        artifact_type: &str,
        blobs: &[(Digest, Vec<u8>)],
    ) -> Result<Digest, SourceError> {
        for (d, b) in blobs {
            self.push_blob(d, b)?;
        }
        let digest = Digest::sha256_of(manifest);
        if self
            .push_manifest(&digest.to_string(), media_type, manifest)?
            .is_some()
        {
            return Ok(digest);
        }
        let tag = Self::fallback_tag(subject);
        let mut index: Value = match self.manifest(&tag, INDEX_MEDIA_TYPE)? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| malformed(&tag, e))?,
            None => json!({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}),
        };
        if super::layout_referrers::list_manifest(&mut index, manifest, media_type, artifact_type)
            .map_err(|e| malformed(&tag, e))?
        {
            let bytes = serde_json::to_vec(&index).expect("json");
            self.push_manifest(&tag, INDEX_MEDIA_TYPE, &bytes)?;
        }
        Ok(digest)
    }
}
