//! TLS to a registry whose certificate the user gave as trusted and that
//! is the server's own certificate — what Docker's "use self-signed
//! certificates" guide produces (`openssl req -x509 …`: CA:TRUE, used as
//! the leaf). WebPKI path validation refuses such a certificate as an end
//! entity; docker, skopeo and the Go tools accept it because it is in the
//! trusted pool. So do we, exactly then: the presented certificate must be
//! byte-for-byte one the user trusts, valid now and for the host name; the
//! handshake signature is checked against it as usual. Any other
//! certificate goes through ordinary WebPKI validation against the same
//! trusted certificates.
//!
//! ureq has no verifier hook, so these connections go through a small
//! rustls connector of our own in ureq's connector chain (TCP → this).

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// The user's trusted certificates: accepted as the server's own, and as
/// roots for ordinary chains.
#[derive(Debug)]
struct OwnOrChain {
    own: Vec<CertificateDer<'static>>,
    chain: Arc<WebPkiServerVerifier>,
}

/// notBefore ≤ now ≤ notAfter of a DER certificate.
fn valid_now(der: &[u8], now: UnixTime) -> bool {
    use der::Decode;
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return false;
    };
    let v = &cert.tbs_certificate.validity;
    let now = now.as_secs();
    v.not_before.to_unix_duration().as_secs() <= now
        && now <= v.not_after.to_unix_duration().as_secs()
}

impl ServerCertVerifier for OwnOrChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.own.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            if !valid_now(end_entity, now) {
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired,
                ));
            }
            let ee = webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
            })?;
            ee.verify_is_valid_for_subject_name(server_name)
                .map_err(|_| {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
                })?;
            return Ok(ServerCertVerified::assertion());
        }
        self.chain
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// A rustls client configuration trusting `trusted` (as roots, and each as
/// a server's own certificate), with an optional client certificate.
pub fn client_config(
    trusted: &[Vec<u8>],
    client: Option<(Vec<Vec<u8>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    let own: Vec<CertificateDer<'static>> = trusted
        .iter()
        .map(|d| CertificateDer::from(d.clone()))
        .collect();
    roots.add_parsable_certificates(own.iter().cloned());
    let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("trusted certificates: {e}"))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(OwnOrChain { own, chain }));
    let config = match client {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs.into_iter().map(CertificateDer::from).collect(), key)
            .map_err(|e| format!("client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The connector: TLS with [`client_config`] over the chained transport.
#[derive(Debug)]
pub struct PinnedTls {
    pub config: Arc<ClientConfig>,
}

impl<In: Transport> Connector<In> for PinnedTls {
    type Out = Either<In, PinnedTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::Tls("no transport to run TLS over"));
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("no host name for TLS"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name =
            ServerName::try_from(host).map_err(|_| ureq::Error::Tls("invalid TLS server name"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)
            .map_err(|_| ureq::Error::Tls("TLS setup failed"))?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        Ok(Some(Either::B(PinnedTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// A TLS connection made by [`PinnedTls`].
pub struct PinnedTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for PinnedTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinnedTransport")
    }
}

impl Transport for PinnedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let n = self.stream.read(input)?;
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
