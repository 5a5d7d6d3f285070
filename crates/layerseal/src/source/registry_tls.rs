//! TLS for registries as the container tools set it up: a CA given on the
//! command line, the per-registry directories docker and podman read
//! (`/etc/docker/certs.d/HOST:PORT/`, `/etc/containers/certs.d/HOST:PORT/`:
//! `*.crt` CAs, `*.cert` + `*.key` client certificates for mutual TLS),
//! skopeo's `--cert-dir`, and `--tls-verify=false` for the user who says so.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use ureq::tls::{Certificate, PemItem, TlsConfig};

use super::error::{malformed, SourceError};

/// The per-registry certificate directories searched for `host`
/// (`HOST:PORT` or `HOST`), in order.
pub fn certs_d_dirs(host: &str) -> Vec<PathBuf> {
    let mut bases = vec![
        PathBuf::from("/etc/docker/certs.d"),
        PathBuf::from("/etc/containers/certs.d"),
    ];
    if let Some(home) = std::env::var_os("HOME") {
        bases.push(Path::new(&home).join(".config/containers/certs.d"));
    }
    bases.into_iter().map(|b| b.join(host)).collect()
}

fn read_pem(path: &Path) -> Result<Vec<PemItem<'static>>, SourceError> {
    let pem = std::fs::read(path).map_err(|e| SourceError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    ureq::tls::parse_pem(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| malformed(path.display().to_string(), e))
}

fn certs_in(path: &Path) -> Result<Vec<Certificate<'static>>, SourceError> {
    let certs: Vec<Certificate<'static>> = read_pem(path)?
        .into_iter()
        .filter_map(|i| match i {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(malformed(
            path.display().to_string(),
            "no PEM certificate found",
        ));
    }
    Ok(certs)
}

/// A client certificate chain (DER) and its private key.
type ClientIdentity = (Vec<Vec<u8>>, PrivateKeyDer<'static>);

/// What one certificate directory holds: CAs and a client certificate.
#[derive(Default)]
struct DirCerts {
    cas: Vec<Certificate<'static>>,
    client: Option<ClientIdentity>,
}

fn read_dir_certs(dir: &Path) -> Result<DirCerts, SourceError> {
    let mut out = DirCerts::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    names.sort();
    for p in &names {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => out.cas.extend(certs_in(p)?),
            Some("cert") if out.client.is_none() => {
                let key = p.with_extension("key");
                if !key.exists() {
                    return Err(malformed(
                        p.display().to_string(),
                        format!("client certificate without its key {}", key.display()),
                    ));
                }
                let chain = certs_in(p)?.iter().map(|c| c.der().to_vec()).collect();
                let key_der = PrivateKeyDer::from_pem_file(&key)
                    .map_err(|e| malformed(key.display().to_string(), e))?;
                out.client = Some((chain, key_der));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// How to do TLS with one registry.
pub enum TlsSetup {
    /// ureq's own TLS (system roots, or no verification).
    Ureq(TlsConfig),
    /// Our connector (see [`super::registry_pinned`]): the user's trusted
    /// certificates, each also accepted as the server's own, and a client
    /// certificate for mutual TLS.
    Pinned(std::sync::Arc<rustls::ClientConfig>),
}

/// What the user said about TLS for a registry (`--ca-file`,
/// `--cert-dir`, `--tls-verify=false`).
pub struct TlsChoices<'a> {
    pub ca_file: Option<&'a Path>,
    pub cert_dir: Option<&'a Path>,
    pub insecure_skip_tls_verify: bool,
}

/// The TLS setup for `host` under `opts`.
pub fn tls_setup(host: &str, opts: &TlsChoices) -> Result<TlsSetup, SourceError> {
    if opts.insecure_skip_tls_verify {
        return Ok(TlsSetup::Ureq(
            TlsConfig::builder().disable_verification(true).build(),
        ));
    }
    let mut cas = Vec::new();
    let mut client = None;
    if let Some(ca) = opts.ca_file {
        cas.extend(certs_in(ca)?);
    }
    let mut dirs: Vec<PathBuf> = opts.cert_dir.iter().map(|d| d.to_path_buf()).collect();
    dirs.extend(certs_d_dirs(host));
    for d in dirs {
        let found = read_dir_certs(&d)?;
        cas.extend(found.cas);
        client = client.or(found.client);
    }
    if cas.is_empty() && client.is_none() {
        return Ok(TlsSetup::Ureq(TlsConfig::builder().build()));
    }
    let trusted: Vec<Vec<u8>> = cas.iter().map(|c| c.der().to_vec()).collect();
    let config =
        super::registry_pinned::client_config(&trusted, client).map_err(|e| malformed(host, e))?;
    Ok(TlsSetup::Pinned(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/composefs-sign")
            .join(name)
    }

    #[test]
    fn cert_dirs_give_cas_and_a_client_certificate() {
        let d = tempfile::tempdir().unwrap();
        std::fs::copy(data("test-signer.cert.pem"), d.path().join("ca.crt")).unwrap();
        std::fs::copy(data("test-signer.cert.pem"), d.path().join("client.cert")).unwrap();
        std::fs::copy(data("test-signer.key.pem"), d.path().join("client.key")).unwrap();
        let found = read_dir_certs(d.path()).unwrap();
        assert_eq!(found.cas.len(), 1);
        assert!(found.client.is_some());
        // A client certificate without its key is an error naming it.
        std::fs::remove_file(d.path().join("client.key")).unwrap();
        let err = read_dir_certs(d.path()).err().unwrap().to_string();
        assert!(err.contains("client.cert") && err.contains("key"), "{err}");
        // A directory that does not exist holds nothing.
        let none = read_dir_certs(&d.path().join("absent")).unwrap();
        assert!(none.cas.is_empty() && none.client.is_none());
    }

    #[test]
    fn certs_d_is_searched_per_host_and_port() {
        let dirs = certs_d_dirs("127.0.0.1:5000");
        assert_eq!(dirs[0], Path::new("/etc/docker/certs.d/127.0.0.1:5000"));
        assert_eq!(dirs[1], Path::new("/etc/containers/certs.d/127.0.0.1:5000"));
    }
}
