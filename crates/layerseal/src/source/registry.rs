//! OCI / Docker registries over HTTP(S): manifests (OCI and Docker schema
//! 2, indexes and manifest lists), configs and layer blobs, streamed.
//!
//! Authentication: anonymous, HTTP basic, and the bearer-token flow that
//! `WWW-Authenticate: Bearer realm=…,service=…,scope=…` asks for (with
//! basic credentials sent to the token realm when given). Credentials come
//! from flags or the docker config (`DOCKER_CONFIG`, `auths`,
//! `credHelpers`/`credsStore`). They are never put in messages.
//!
//! A small synchronous client (ureq, rustls) rather than an async one: the
//! conversion pipeline reads blobs with `Read` on worker threads.

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::digest::Digest;

fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}
use super::docker_archive::normalize_ref;
use super::error::{malformed, SourceError};
use super::image::Image;
use super::oci;
use super::platform::Platform;
use super::store::{Store, MAX_JSON};

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM file with the CA certificate(s) to trust instead of the default roots.
    pub ca_file: Option<PathBuf>,
    /// Talk plain HTTP (loopback registries without TLS).
    pub plain_http: bool,
    /// Read credentials from the docker config when none are given.
    pub docker_config: bool,
    /// Give up on a connection that sends nothing for this long (then
    /// retry, resuming blobs where they stopped). None: 60 s.
    pub read_timeout: Option<Duration>,
    /// skopeo's `--cert-dir`: `*.crt` CAs and a `*.cert` + `*.key` client
    /// certificate, used besides the `certs.d` directories.
    pub cert_dir: Option<PathBuf>,
    /// `--tls-verify=false`: accept any server certificate.
    pub insecure_skip_tls_verify: bool,
}

/// `host`, `repository`, `tag or digest` of a reference like
/// `HOST/REPO:TAG`, `REPO@sha256:…` or `alpine`.
pub fn split_reference(r: &str) -> Result<(String, String, String), SourceError> {
    let full = normalize_ref(r);
    let (name, reference) = match full.rfind('@') {
        Some(i) => (&full[..i], full[i + 1..].to_string()),
        None => {
            let i = full
                .rfind(':')
                .filter(|&i| !full[i..].contains('/'))
                .ok_or_else(|| malformed(r, "no tag"))?;
            (&full[..i], full[i + 1..].to_string())
        }
    };
    let (host, repo) = name
        .split_once('/')
        .ok_or_else(|| malformed(r, "no repository"))?;
    if repo.is_empty() || reference.is_empty() {
        return Err(malformed(r, "empty repository or tag"));
    }
    let host = if host == "docker.io" {
        "registry-1.docker.io"
    } else {
        host
    };
    Ok((host.to_string(), repo.to_string(), reference))
}

enum Auth {
    None,
    Basic(String),
    Bearer(String),
}

/// HTTP methods the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Head,
    Post,
    Put,
}

pub(super) struct Client {
    agent: ureq::Agent,
    /// `SCHEME://HOST/v2/REPO`.
    pub(super) base: String,
    pub(super) host: String,
    repo: String,
    basic: Option<String>,
    auth: Mutex<Auth>,
}

/// Seconds to wait before retry `n` (0-based) of a transient failure.
fn backoff(n: u32) -> Duration {
    Duration::from_millis(250 << n)
}

const ATTEMPTS: u32 = 4;

/// The longest `Retry-After` (seconds) waited for.
const MAX_RETRY_AFTER: u64 = 30;

/// Parse `Bearer realm="…",service="…",scope="…"`.
fn parse_challenge(h: &str) -> Option<(String, Vec<(String, String)>)> {
    let (scheme, rest) = h.trim().split_once(' ')?;
    let mut params = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (k, v) = s.split_once('=')?;
        let v = v.trim_start();
        let (value, tail) = if let Some(q) = v.strip_prefix('"') {
            let end = q.find('"')?;
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = v.find(',').unwrap_or(v.len());
            (v[..end].trim().to_string(), &v[end..])
        };
        params.push((k.trim().to_ascii_lowercase(), value));
        s = tail.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    }
    Some((scheme.to_ascii_lowercase(), params))
}

pub(super) fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client {
    pub(super) fn new(host: &str, repo: &str, opts: &RegistryOptions) -> Result<Self, SourceError> {
        let tls = super::registry_tls::tls_setup(
            host,
            &super::registry_tls::TlsChoices {
                ca_file: opts.ca_file.as_deref(),
                cert_dir: opts.cert_dir.as_deref(),
                insecure_skip_tls_verify: opts.insecure_skip_tls_verify,
            },
        )?;
        let config = ureq::Agent::config_builder()
            .tls_config(match &tls {
                super::registry_tls::TlsSetup::Ureq(t) => t.clone(),
                super::registry_tls::TlsSetup::Pinned(_) => ureq::tls::TlsConfig::default(),
            })
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_per_read(Some(opts.read_timeout.unwrap_or(Duration::from_secs(60))))
            // Blob redirects (to a CDN or another host) are followed;
            // credentials are never sent along to the other host.
            .max_redirects(10)
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
            .build();
        let mut basic = match (&opts.username, &opts.password) {
            (Some(u), Some(p)) => Some(b64(format!("{u}:{p}").as_bytes())),
            _ => None,
        };
        if basic.is_none() && opts.docker_config {
            let server = if host == "registry-1.docker.io" {
                "https://index.docker.io/v1/"
            } else {
                host
            };
            if let Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) =
                docker_credential::get_credential(server)
            {
                basic = Some(b64(format!("{u}:{p}").as_bytes()));
            }
        }
        let scheme = if opts.plain_http { "http" } else { "https" };
        Ok(Client {
            agent: match tls {
                super::registry_tls::TlsSetup::Ureq(_) => ureq::Agent::new_with_config(config),
                super::registry_tls::TlsSetup::Pinned(rustls_config) => {
                    use ureq::unversioned::transport::{Connector, TcpConnector};
                    ureq::Agent::with_parts(
                        config,
                        TcpConnector::default().chain(super::registry_pinned::PinnedTls {
                            config: rustls_config,
                        }),
                        ureq::unversioned::resolver::DefaultResolver::default(),
                    )
                }
            },
            base: format!("{scheme}://{host}/v2/{repo}"),
            host: host.to_string(),
            repo: repo.to_string(),
            basic,
            auth: Mutex::new(Auth::None),
        })
    }

    fn authorization(&self) -> Option<String> {
        match &*self.auth.lock().expect("auth") {
            Auth::None => None,
            Auth::Basic(b) => Some(format!("Basic {b}")),
            Auth::Bearer(t) => Some(format!("Bearer {t}")),
        }
    }

    /// Answer a 401 challenge; false when nothing more can be tried.
    fn authenticate(&self, challenge: &str) -> Result<bool, SourceError> {
        let (scheme, params) = parse_challenge(challenge).ok_or_else(|| {
            SourceError::Remote(format!(
                "{}: unreadable WWW-Authenticate challenge",
                self.host
            ))
        })?;
        match scheme.as_str() {
            "basic" => match &self.basic {
                Some(b) => {
                    *self.auth.lock().expect("auth") = Auth::Basic(b.clone());
                    Ok(true)
                }
                None => Ok(false),
            },
            "bearer" => {
                let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                let realm = get("realm").ok_or_else(|| {
                    SourceError::Remote(format!("{}: bearer challenge without realm", self.host))
                })?;
                let mut url = format!("{realm}?");
                if let Some(s) = get("service") {
                    url.push_str(&format!("service={}&", url_encode(&s)));
                }
                let scope =
                    get("scope").unwrap_or_else(|| format!("repository:{}:pull", self.repo));
                url.push_str(&format!("scope={}", url_encode(&scope)));
                let mut req = self.agent.get(&url);
                if let Some(b) = &self.basic {
                    req = req.header("Authorization", &format!("Basic {b}"));
                }
                let resp = req
                    .call()
                    .map_err(|e| SourceError::Remote(format!("token service {realm}: {e}")))?;
                match resp.status().as_u16() {
                    200 => {}
                    401 | 403 if self.basic.is_none() => {
                        return Err(SourceError::Remote(format!(
                            "{}: unauthorized: authentication required (give credentials with -u/-p or docker login)",
                            self.host
                        )))
                    }
                    401 | 403 => {
                        return Err(SourceError::Remote(format!(
                            "{}: unauthorized: the token service refused the credentials",
                            self.host
                        )))
                    }
                    s => return Err(SourceError::Remote(format!("token service {realm}: HTTP {s}"))),
                }
                let body = resp
                    .into_body()
                    .read_to_vec()
                    .map_err(|e| SourceError::Remote(format!("token service {realm}: {e}")))?;
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| malformed(format!("token from {realm}"), e))?;
                let token = v["token"]
                    .as_str()
                    .or(v["access_token"].as_str())
                    .ok_or_else(|| malformed(format!("token from {realm}"), "no token"))?;
                *self.auth.lock().expect("auth") = Auth::Bearer(token.to_string());
                Ok(true)
            }
            other => Err(SourceError::Unsupported(format!(
                "{}: authentication scheme {other:?}",
                self.host
            ))),
        }
    }

    /// GET with auth challenges answered and transient failures retried.
    fn get(
        &self,
        path: &str,
        accept: Option<&str>,
        what: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, SourceError> {
        let url = format!("{}/{path}", self.base);
        self.request(Method::Get, &url, accept, None, what)
    }

    fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut r = $req;
                for (k, v) in headers {
                    r = r.header(*k, v);
                }
                r
            }};
        }
        let (content_type, bytes) = body.unwrap_or(("application/octet-stream", &[]));
        match method {
            Method::Get => with_headers!(self.agent.get(url)).call(),
            Method::Head => with_headers!(self.agent.head(url)).call(),
            Method::Post => with_headers!(self.agent.post(url))
                .header("Content-Type", content_type)
                .send(bytes),
            Method::Put => with_headers!(self.agent.put(url))
                .header("Content-Type", content_type)
                .send(bytes),
        }
    }

    /// A request with auth challenges answered and transient failures
    /// retried; any 2xx answer is returned. `body` is (content type, bytes).
    pub(super) fn request(
        &self,
        method: Method,
        url: &str,
        accept: Option<&str>,
        body: Option<(&str, &[u8])>,
        what: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, SourceError> {
        self.request_with(method, url, accept, &[], body, what)
    }

    /// [`Client::request`] with extra headers (e.g. `Range`).
    pub(super) fn request_with(
        &self,
        method: Method,
        url: &str,
        accept: Option<&str>,
        extra: &[(&str, String)],
        body: Option<(&str, &[u8])>,
        what: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, SourceError> {
        let mut authed = false;
        let mut attempt = 0;
        loop {
            let mut headers: Vec<(&str, String)> = extra.to_vec();
            if let Some(a) = accept {
                headers.push(("Accept", a.to_string()));
            }
            if let Some(h) = self.authorization() {
                headers.push(("Authorization", h));
            }
            let resp = match self.call(method, url, &headers, body) {
                Ok(r) => r,
                Err(e) => {
                    attempt += 1;
                    if attempt < ATTEMPTS {
                        std::thread::sleep(backoff(attempt - 1));
                        continue;
                    }
                    let text = e.to_string();
                    let hint = if text.contains("fatal alert") {
                        " (the registry refused the TLS handshake: if it asks for a client \
                         certificate, put it as *.cert + *.key in \
                         /etc/docker/certs.d/HOST:PORT/ or a --cert-dir)"
                    } else if text.contains("certificate") {
                        " (if the registry uses a private CA, pass its certificate with --ca-file \
                         or put it in /etc/docker/certs.d/HOST:PORT/ca.crt; --tls-verify=false \
                         skips the check)"
                    } else {
                        ""
                    };
                    // rustls's verifier errors are enum names; say them plainly.
                    let what = if text.contains("CaUsedAsEndEntity") {
                        "its certificate is a self-signed CA certificate this machine does not trust"
                            .to_string()
                    } else if text.contains("UnknownIssuer") {
                        "its certificate is not issued by a CA this machine trusts".to_string()
                    } else {
                        text.clone()
                    };
                    return Err(SourceError::Remote(format!(
                        "{}: cannot reach the registry: {what}{hint}",
                        self.host
                    )));
                }
            };
            match resp.status().as_u16() {
                200..=299 => return Ok(resp),
                401 if !authed => {
                    authed = true;
                    let challenge = resp
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    if self.authenticate(&challenge)? {
                        continue;
                    }
                    return Err(SourceError::Remote(format!(
                        "{}: unauthorized: authentication required (give credentials with -u/-p or docker login)",
                        self.host
                    )));
                }
                401 => {
                    return Err(SourceError::Remote(format!(
                        "{}: unauthorized: the credentials were refused",
                        self.host
                    )))
                }
                403 => {
                    return Err(SourceError::Remote(format!(
                        "{}: denied: no access to {}",
                        self.host, self.repo
                    )))
                }
                404 => {
                    return Err(SourceError::NotFound(format!(
                        "{}/{}: {what}",
                        self.host, self.repo
                    )))
                }
                s if s == 429 || s >= 500 => {
                    attempt += 1;
                    if attempt < ATTEMPTS {
                        // A server that says when to come back is believed,
                        // within reason.
                        let wait = resp
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(|secs| Duration::from_secs(secs.min(MAX_RETRY_AFTER)))
                            .unwrap_or_else(|| backoff(attempt - 1));
                        std::thread::sleep(wait);
                        continue;
                    }
                    return Err(SourceError::Remote(format!(
                        "{}/{}: {what}: HTTP {s} after {ATTEMPTS} attempts",
                        self.host, self.repo
                    )));
                }
                s => {
                    let detail = resp
                        .into_body()
                        .read_to_string()
                        .map(|b| b.chars().take(300).collect::<String>())
                        .unwrap_or_default();
                    return Err(SourceError::Remote(format!(
                        "{}: {what}: unexpected HTTP {s} {detail}",
                        self.host
                    )));
                }
            }
        }
    }
}

/// A registry repository seen as a [`Store`]: `blobs/<alg>/<hex>` paths
/// are blob GETs, manifests are fetched from `/manifests/`.
pub struct RegistryStore {
    client: Arc<Client>,
}

fn content_length(resp: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    resp.headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A manifest is a small JSON document: refuse one declared larger than
/// any real one before reading it.
pub(super) fn check_manifest_size(
    resp: &ureq::http::Response<ureq::Body>,
    repo: &str,
    what: &str,
) -> Result<(), SourceError> {
    match content_length(resp) {
        Some(n) if n > MAX_JSON => Err(malformed(
            format!("{repo}: manifest {what}"),
            format!(
                "{n} bytes, more than the {} MiB any manifest needs",
                MAX_JSON >> 20
            ),
        )),
        _ => Ok(()),
    }
}

/// A blob body that survives dropped connections: on a read error, a
/// timeout or an early end it asks again from where it stopped (`Range`;
/// a server that ignores it is read past what we have), a bounded number
/// of times with backoff. The digest check downstream catches anything
/// the server gets wrong.
struct ResumingBlob {
    client: Arc<Client>,
    digest: Digest,
    inner: Box<dyn Read + Send>,
    pos: u64,
    len: Option<u64>,
    retries: u32,
}

impl ResumingBlob {
    fn resume(&mut self, cause: &io::Error) -> io::Result<()> {
        self.retries += 1;
        let total = self.len.map_or_else(|| "?".into(), |l| l.to_string());
        let give_up = |why: String| {
            io::Error::new(
                cause.kind(),
                format!(
                    "{}/{}: blob {}: {why} after {} of {total} bytes and {} retries",
                    self.client.host,
                    self.client.repo,
                    self.digest,
                    self.pos,
                    self.retries - 1
                ),
            )
        };
        if self.retries >= ATTEMPTS {
            return Err(give_up(cause.to_string()));
        }
        std::thread::sleep(backoff(self.retries - 1));
        let url = format!("{}/blobs/{}", self.client.base, self.digest);
        let range = [("Range", format!("bytes={}-", self.pos))];
        let resp = self
            .client
            .request_with(Method::Get, &url, None, &range, None, "blob")
            .map_err(|e| give_up(format!("{cause}; resuming: {e}")))?;
        let status = resp.status().as_u16();
        let mut body: Box<dyn Read + Send> = Box::new(resp.into_body().into_reader());
        if status != 206 {
            // Whole blob again: skip what we already passed on.
            let skipped = io::copy(&mut (&mut body).take(self.pos), &mut io::sink())?;
            if skipped != self.pos {
                return Err(give_up(format!("{cause}; resumed body too short")));
            }
        }
        self.inner = body;
        Ok(())
    }
}

impl Read for ResumingBlob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let cause = match self.inner.read(buf) {
                Ok(0) if self.len.is_some_and(|l| self.pos < l) => {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "the connection ended early")
                }
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            self.resume(&cause)?;
        }
    }
}

fn digest_of_path(path: &str) -> Option<Digest> {
    let rest = path.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

impl Store for RegistryStore {
    fn open(&self, path: &str) -> Result<(Box<dyn Read + Send>, u64), SourceError> {
        let d = digest_of_path(path)
            .ok_or_else(|| SourceError::NotFound(format!("{}: {path}", self.describe())))?;
        let resp = self
            .client
            .get(&format!("blobs/{d}"), None, &format!("blob {d}"))?;
        let len = content_length(&resp);
        let reader = ResumingBlob {
            client: self.client.clone(),
            digest: d,
            inner: Box::new(resp.into_body().into_reader()),
            pos: 0,
            len,
            retries: 0,
        };
        Ok((Box::new(reader), len.unwrap_or(u64::MAX)))
    }
    fn open_manifest(&self, d: &Digest) -> Result<(Box<dyn Read + Send>, u64), SourceError> {
        let resp = self.client.get(
            &format!("manifests/{d}"),
            Some(MANIFEST_ACCEPT),
            &format!("manifest {d}"),
        )?;
        check_manifest_size(&resp, &self.describe(), &d.to_string())?;
        Ok((Box::new(resp.into_body().into_reader()), u64::MAX))
    }
    fn exists(&self, path: &str) -> bool {
        digest_of_path(path).is_some()
    }
    fn describe(&self) -> String {
        format!("{}/{}", self.client.host, self.client.repo)
    }
}

fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.bytes().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

/// Run `attempt` with `opts`; for a loopback registry that HTTPS cannot
/// reach, once more over plain HTTP (as docker and go-containerregistry
/// treat such registries as insecure). A certificate problem means the
/// server does speak TLS: no fallback then.
pub(super) fn with_loopback_fallback<T>(
    host: &str,
    opts: &RegistryOptions,
    attempt: impl Fn(&RegistryOptions) -> Result<T, SourceError>,
) -> Result<T, SourceError> {
    match attempt(opts) {
        Err(SourceError::Remote(e))
            if !opts.plain_http
                && is_loopback(host)
                && e.contains("cannot reach")
                && !e.contains("certificate") =>
        {
            let http = RegistryOptions {
                plain_http: true,
                ..opts.clone()
            };
            // Report the HTTPS failure only if plain HTTP did not reach it either.
            attempt(&http).map_err(|second| match second {
                SourceError::Remote(m)
                    if m.contains("cannot reach")
                        // The server speaks HTTPS after all: its TLS error is the one.
                        || m.contains("HTTP request to an HTTPS server") =>
                {
                    SourceError::Remote(e)
                }
                other => other,
            })
        }
        other => other,
    }
}

/// Resolve `reference` on its registry for `platform` (loopback
/// registries also over plain HTTP, retried over HTTP when HTTPS fails).
pub fn open(
    reference: &str,
    platform: &Platform,
    opts: &RegistryOptions,
) -> Result<Image, SourceError> {
    let (host, _, _) = split_reference(reference)?;
    with_loopback_fallback(&host, opts, |o| open_once(reference, platform, o))
}

fn open_once(
    reference: &str,
    platform: &Platform,
    opts: &RegistryOptions,
) -> Result<Image, SourceError> {
    let (host, repo, tag) = split_reference(reference)?;
    let client = Arc::new(Client::new(&host, &repo, opts)?);
    let resp = client.get(
        &format!("manifests/{tag}"),
        Some(MANIFEST_ACCEPT),
        &format!("manifest {tag}"),
    )?;
    check_manifest_size(&resp, &format!("{host}/{repo}"), &tag)?;
    let header_digest = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::new();
    resp.into_body()
        .into_reader()
        .take(MAX_JSON + 1)
        .read_to_end(&mut body)
        .map_err(|e| SourceError::Remote(format!("{host}/{repo}: manifest {tag}: {e}")))?;
    if body.len() as u64 > MAX_JSON {
        return Err(malformed(
            format!("{host}/{repo}: manifest {tag}"),
            format!("more than the {} MiB any manifest needs", MAX_JSON >> 20),
        ));
    }
    let digest = Digest::sha256_of(&body);
    if let Ok(expected) = Digest::parse(&tag) {
        if expected != digest {
            return Err(malformed(
                reference,
                format!("manifest digest mismatch: asked for {expected}, got {digest}"),
            ));
        }
    }
    if let Some(h) = header_digest.and_then(|h| Digest::parse(&h).ok()) {
        if h.algorithm == "sha256" && h != digest {
            return Err(malformed(
                reference,
                format!("manifest digest mismatch: server says {h}, content is {digest}"),
            ));
        }
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| malformed(reference, e))?;
    let store: Arc<dyn Store> = Arc::new(RegistryStore { client });
    oci::resolve_document(store, doc, digest, platform, reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            split_reference("alpine").unwrap(),
            (
                "registry-1.docker.io".into(),
                "library/alpine".into(),
                "latest".into()
            )
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/real/bookworm:v2s2").unwrap(),
            (
                "127.0.0.1:5000".into(),
                "real/bookworm".into(),
                "v2s2".into()
            )
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(split_reference(&format!("localhost/x@{d}")).unwrap().2, d);
    }

    #[test]
    fn challenges() {
        let (s, p) = parse_challenge(r#"Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull""#).unwrap();
        assert_eq!(s, "bearer");
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[2].1, "repository:a/b:pull");
        let (s, p) = parse_challenge(r#"Basic realm="testenv""#).unwrap();
        assert_eq!((s.as_str(), p[0].1.as_str()), ("basic", "testenv"));
    }
}
