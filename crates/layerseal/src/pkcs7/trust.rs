//! Does a signer certificate chain to a CA the user trusts? Path
//! building, signatures along the chain, validity, basic constraints and
//! the code-signing extended key usage come from `rustls-webpki` (already
//! built for TLS); the key-usage bit (digitalSignature) is checked here,
//! as the kernel checks it. A self-signed signer listed itself as a CA is
//! trusted directly (webpki refuses a CA certificate as an end entity).

use std::time::{Duration, SystemTime};

use der::Encode;
use rustls::pki_types::{CertificateDer, UnixTime};
use x509_cert::Certificate;

use super::{oids, read_certificates, SignError};

/// Why a signer certificate is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("certificate of {subject} expired (valid until {not_after})")]
    Expired { subject: String, not_after: String },
    #[error("certificate of {subject} is not valid yet (from {not_before})")]
    NotYetValid { subject: String, not_before: String },
    #[error("certificate of {subject} is not issued by a trusted CA")]
    UnknownIssuer { subject: String },
    #[error("certificate of {subject} does not allow digital signatures (key usage)")]
    KeyUsage { subject: String },
    #[error("certificate of {subject} is not for code signing (extended key usage)")]
    ExtendedKeyUsage { subject: String },
    #[error("certificate of {subject}: {reason}")]
    Other { subject: String, reason: String },
}

/// The CA certificates signatures must chain to.
pub struct Trust {
    /// DER, as webpki takes anchors.
    cas: Vec<Vec<u8>>,
    /// The same, parsed, for the one-link check.
    parsed: Vec<Certificate>,
}

fn unix(t: &x509_cert::time::Time) -> Duration {
    t.to_unix_duration()
}

impl Trust {
    /// Every certificate of a PEM bundle (or one DER certificate).
    pub fn from_pem(bytes: &[u8]) -> Result<Self, SignError> {
        let parsed = read_certificates(bytes)?;
        let cas = parsed
            .iter()
            .map(|c| c.to_der())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SignError::Certificate(e.to_string()))?;
        Ok(Trust { cas, parsed })
    }

    /// Check `signer` (with `extra` certificates from the signature as
    /// intermediates) at time `now`.
    pub fn check(
        &self,
        signer: &Certificate,
        extra: &[Certificate],
        now: SystemTime,
    ) -> Result<(), TrustError> {
        let subject = signer.tbs_certificate.subject.to_string();
        let other = |reason: String| TrustError::Other {
            subject: subject.clone(),
            reason,
        };
        let der = signer.to_der().map_err(|e| other(e.to_string()))?;
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        check_key_usage(signer, &subject)?;
        if self.cas.contains(&der) {
            return check_validity(signer, now, &subject);
        }
        let anchors_der: Vec<CertificateDer<'_>> = self
            .cas
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let anchors = anchors_der
            .iter()
            .map(webpki::anchor_from_trusted_cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| other(format!("a CA certificate is unusable: {e}")))?;
        let intermediates_der = extra
            .iter()
            .filter_map(|c| c.to_der().ok())
            .filter(|d| *d != der)
            .collect::<Vec<_>>();
        let intermediates: Vec<CertificateDer<'_>> = intermediates_der
            .iter()
            .map(|d| CertificateDer::from(d.as_slice()))
            .collect();
        let signer_der = CertificateDer::from(der.as_slice());
        let ee = webpki::EndEntityCert::try_from(&signer_der)
            .map_err(|e| other(format!("unusable certificate: {e}")))?;
        let verdict = ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(now),
            webpki::KeyUsage::required_if_present(oids::CODE_SIGNING_DER),
            None,
            None,
        );
        match verdict {
            Ok(_) => Ok(()),
            // A CA certificate signing directly: webpki will not take it as
            // an end entity, so check its one link to a trusted CA here.
            Err(webpki::Error::CaUsedAsEndEntity) if self.issued_by_trusted(signer) => {
                check_validity(signer, now, &subject)
            }
            Err(webpki::Error::CertExpired { .. }) => Err(expired(signer, &subject)),
            Err(webpki::Error::CertNotValidYet { .. }) => Err(not_yet(signer, &subject)),
            Err(
                webpki::Error::UnknownIssuer
                | webpki::Error::CaUsedAsEndEntity
                | webpki::Error::InvalidSignatureForPublicKey,
            ) => Err(TrustError::UnknownIssuer { subject }),
            Err(webpki::Error::RequiredEkuNotFoundContext(_)) => {
                Err(TrustError::ExtendedKeyUsage { subject })
            }
            Err(e) => Err(other(format!("{e:?}"))),
        }
    }
}

impl Trust {
    /// Is `cert` signed by the key of a trusted CA whose subject is its issuer?
    fn issued_by_trusted(&self, cert: &Certificate) -> bool {
        let Ok(tbs) = cert.tbs_certificate.to_der() else {
            return false;
        };
        let Some(sig) = cert.signature.as_bytes() else {
            return false;
        };
        self.parsed.iter().any(|ca| {
            ca.tbs_certificate.subject == cert.tbs_certificate.issuer
                && super::verify_certificate_signature(
                    &ca.tbs_certificate.subject_public_key_info,
                    cert.signature_algorithm.oid,
                    &tbs,
                    sig,
                )
        })
    }
}

fn expired(cert: &Certificate, subject: &str) -> TrustError {
    TrustError::Expired {
        subject: subject.to_string(),
        not_after: cert.tbs_certificate.validity.not_after.to_string(),
    }
}

fn not_yet(cert: &Certificate, subject: &str) -> TrustError {
    TrustError::NotYetValid {
        subject: subject.to_string(),
        not_before: cert.tbs_certificate.validity.not_before.to_string(),
    }
}

fn check_validity(cert: &Certificate, now: Duration, subject: &str) -> Result<(), TrustError> {
    let v = &cert.tbs_certificate.validity;
    if now < unix(&v.not_before) {
        return Err(not_yet(cert, subject));
    }
    if now > unix(&v.not_after) {
        return Err(expired(cert, subject));
    }
    Ok(())
}

/// A key-usage extension, when present, must allow digitalSignature.
fn check_key_usage(cert: &Certificate, subject: &str) -> Result<(), TrustError> {
    match cert.tbs_certificate.get::<x509_cert::ext::pkix::KeyUsage>() {
        Ok(Some((_, usage))) if !usage.digital_signature() => Err(TrustError::KeyUsage {
            subject: subject.to_string(),
        }),
        Ok(_) => Ok(()),
        Err(e) => Err(TrustError::Other {
            subject: subject.to_string(),
            reason: format!("key usage extension: {e}"),
        }),
    }
}
