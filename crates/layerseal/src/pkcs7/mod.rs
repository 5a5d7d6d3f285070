//! Detached PKCS#7 (CMS SignedData) signatures without signed
//! attributes: what the kernel verifies for dm-verity root hashes
//! (signer certificate embedded) and for fs-verity files (no
//! certificate), and what `openssl smime -sign -binary -noattr` writes.
//! Spec: docs/dmverity-signatures.md and composefs.md §6.4.
//!
//! [`Signer`] makes them (RSA byte-identical to openssl; ECDSA P-256 /
//! P-384), [`verify_with_certificate`] checks one against a known
//! signer, [`Trust`] checks the signer's chain against CA certificates.

mod keys;
pub(crate) mod oids;
mod trust;

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, DecodePem, Encode};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

pub use keys::{Curve, PrivateKey};
pub use trust::{Trust, TrustError};

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("private key: {0}")]
    Key(String),
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    #[error("signature is not a PKCS#7 SignedData we understand: {0}")]
    Malformed(String),
    #[error("signature was not made by this certificate's key (issuer/serial differ)")]
    WrongSigner,
    #[error("signature does not verify with the signer certificate's key")]
    BadSignature,
    #[error("{0}")]
    Untrusted(#[from] TrustError),
}

fn malformed(e: impl std::fmt::Display) -> SignError {
    SignError::Malformed(e.to_string())
}

/// Digest algorithm identifiers carry NULL parameters (as openssl
/// writes them); ECDSA signature algorithms carry none.
fn alg(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    let parameters = if oid == oids::ECDSA_SHA256 || oid == oids::ECDSA_SHA384 {
        None
    } else {
        Some(Any::null())
    };
    AlgorithmIdentifierOwned { oid, parameters }
}

/// Every certificate in a PEM file (or one DER certificate).
pub fn read_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, SignError> {
    if let Ok(c) = Certificate::from_der(bytes) {
        return Ok(vec![c]);
    }
    let certs =
        Certificate::load_pem_chain(bytes).map_err(|e| SignError::Certificate(e.to_string()))?;
    if certs.is_empty() {
        return Err(SignError::Certificate("no CERTIFICATE in the file".into()));
    }
    Ok(certs)
}

fn read_cert(bytes: &[u8]) -> Result<Certificate, SignError> {
    Certificate::from_pem(bytes)
        .or_else(|_| Certificate::from_der(bytes))
        .map_err(|e| SignError::Certificate(e.to_string()))
}

/// A signing certificate (with the chain up to, not including, the CA)
/// and its private key.
pub struct Signer {
    chain: Vec<Certificate>,
    key: PrivateKey,
}

impl Signer {
    /// From a PEM certificate file (signer first, then intermediates) and
    /// a PEM private key (PKCS#8, encrypted PKCS#8 with `passphrase`,
    /// PKCS#1 or SEC1).
    pub fn from_pem_with_passphrase(
        cert_pem: &[u8],
        key_pem: &[u8],
        passphrase: Option<&[u8]>,
    ) -> Result<Self, SignError> {
        let chain = read_certificates(cert_pem)?;
        let key = PrivateKey::from_pem(key_pem, passphrase)?;
        let cert_bits = chain[0]
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        if key.public_key_bits()? != cert_bits {
            return Err(SignError::KeyMismatch);
        }
        Ok(Signer { chain, key })
    }

    /// [`Signer::from_pem_with_passphrase`] for an unencrypted key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, SignError> {
        Self::from_pem_with_passphrase(cert_pem, key_pem, None)
    }

    /// The signer certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.chain[0]
    }

    /// The DER PKCS#7 signature of `message` (signer identified by issuer
    /// and serial; no certificate inside, as composefs signatures are).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.sign_cms(message, false)
    }

    /// A detached PKCS#7 signature of `message` with the signer
    /// certificate (and its chain) embedded and no signed attributes:
    /// what `openssl smime -sign -binary -noattr -outform der` writes and
    /// what the kernel's dm-verity `root_hash_sig_key_desc` /
    /// `veritysetup --root-hash-signature` verify over a root hash's hex
    /// text.
    pub fn sign_with_certificate(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.sign_cms(message, true)
    }

    fn sign_cms(&self, message: &[u8], embed_certificates: bool) -> Result<Vec<u8>, SignError> {
        let tbs = &self.chain[0].tbs_certificate;
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
            digest_alg: alg(self.key.digest_oid()),
            signed_attrs: None,
            signature_algorithm: alg(self.key.signature_oid()),
            signature: OctetString::new(self.key.sign(message)?).map_err(malformed)?,
            unsigned_attrs: None,
        };
        let certificates = if embed_certificates {
            let set = self
                .chain
                .iter()
                .map(|c| cms::cert::CertificateChoices::Certificate(c.clone()))
                .collect::<Vec<_>>();
            Some(CertificateSet(SetOfVec::try_from(set).map_err(malformed)?))
        } else {
            None
        };
        let signed = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![alg(self.key.digest_oid())])
                .map_err(malformed)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: oids::ID_DATA,
                econtent: None,
            },
            certificates,
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).map_err(malformed)?),
        };
        let info = ContentInfo {
            content_type: oids::ID_SIGNED_DATA,
            content: Any::encode_from(&signed).map_err(malformed)?,
        };
        info.to_der().map_err(malformed)
    }
}

/// A parsed detached signature: its one signer and the certificates it
/// carries.
pub struct Parsed {
    signer: SignerInfo,
    certificates: Vec<Certificate>,
}

impl Parsed {
    /// Parse and check the shape: SignedData, detached, one signer, no
    /// signed attributes.
    pub fn from_der(signature: &[u8]) -> Result<Self, SignError> {
        let info = ContentInfo::from_der(signature).map_err(malformed)?;
        if info.content_type != oids::ID_SIGNED_DATA {
            return Err(malformed("not SignedData"));
        }
        let signed: SignedData = info.content.decode_as().map_err(malformed)?;
        if signed.encap_content_info.econtent.is_some() {
            return Err(malformed("content is attached, expected detached"));
        }
        let mut signers = signed.signer_infos.0.into_vec();
        if signers.len() != 1 {
            return Err(malformed(format!("{} signers, expected 1", signers.len())));
        }
        let signer = signers.remove(0);
        if signer.signed_attrs.is_some() {
            return Err(malformed("signed attributes are not supported"));
        }
        let certificates = signed
            .certificates
            .map(|set| {
                set.0
                    .into_vec()
                    .into_iter()
                    .filter_map(|c| match c {
                        cms::cert::CertificateChoices::Certificate(c) => Some(c),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Parsed {
            signer,
            certificates,
        })
    }

    fn names(&self, cert: &Certificate) -> bool {
        let tbs = &cert.tbs_certificate;
        matches!(&self.signer.sid,
            SignerIdentifier::IssuerAndSerialNumber(id)
                if id.issuer == tbs.issuer && id.serial_number == tbs.serial_number)
    }

    /// The embedded certificate the signer names.
    pub fn signer_certificate(&self) -> Option<&Certificate> {
        self.certificates.iter().find(|c| self.names(c))
    }

    /// Check the signature value over `message` with `cert`'s key.
    fn check_value(&self, cert: &Certificate, message: &[u8]) -> Result<(), SignError> {
        use ring::signature as rs;
        let spki = &cert.tbs_certificate.subject_public_key_info;
        let digest = self.signer.digest_alg.oid;
        let sig_alg = self.signer.signature_algorithm.oid;
        let key_bits = spki.subject_public_key.raw_bytes();
        let algorithm: &dyn rs::VerificationAlgorithm =
            if spki.algorithm.oid == oids::RSA_ENCRYPTION {
                if sig_alg != oids::RSA_ENCRYPTION && sig_alg != oids::SHA256_WITH_RSA {
                    return Err(malformed(format!(
                        "signature algorithm {sig_alg} with an RSA key"
                    )));
                }
                match digest {
                    d if d == oids::SHA256 => &rs::RSA_PKCS1_2048_8192_SHA256,
                    d if d == oids::SHA384 => &rs::RSA_PKCS1_2048_8192_SHA384,
                    d if d == oids::SHA512 => &rs::RSA_PKCS1_2048_8192_SHA512,
                    d => return Err(malformed(format!("unsupported digest {d}"))),
                }
            } else if spki.algorithm.oid == oids::EC_PUBLIC_KEY {
                let curve: ObjectIdentifier = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as().ok())
                    .ok_or_else(|| malformed("EC key without a named curve"))?;
                let p384 = curve == oids::SECP384R1;
                if !p384 && curve != oids::SECP256R1 {
                    return Err(malformed(format!("unsupported EC curve {curve}")));
                }
                match (p384, digest) {
                    (false, d) if d == oids::SHA256 => &rs::ECDSA_P256_SHA256_ASN1,
                    (false, d) if d == oids::SHA384 => &rs::ECDSA_P256_SHA384_ASN1,
                    (true, d) if d == oids::SHA256 => &rs::ECDSA_P384_SHA256_ASN1,
                    (true, d) if d == oids::SHA384 => &rs::ECDSA_P384_SHA384_ASN1,
                    (_, d) => return Err(malformed(format!("unsupported digest {d} for ECDSA"))),
                }
            } else {
                return Err(malformed(format!(
                    "unsupported key algorithm {}",
                    spki.algorithm.oid
                )));
            };
        rs::UnparsedPublicKey::new(algorithm, key_bits)
            .verify(message, self.signer.signature.as_bytes())
            .map_err(|_| SignError::BadSignature)
    }
}

/// Does `signature` (a certificate's, with algorithm `alg`) verify over
/// `tbs` with the key `spki`?
fn verify_certificate_signature(
    spki: &x509_cert::spki::SubjectPublicKeyInfoOwned,
    alg: ObjectIdentifier,
    tbs: &[u8],
    signature: &[u8],
) -> bool {
    use ring::signature as rs;
    let p384 = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
        == Some(oids::SECP384R1);
    let algorithm: &dyn rs::VerificationAlgorithm = match alg {
        a if a == oids::SHA256_WITH_RSA => &rs::RSA_PKCS1_2048_8192_SHA256,
        a if a == oids::SHA384_WITH_RSA => &rs::RSA_PKCS1_2048_8192_SHA384,
        a if a == oids::SHA512_WITH_RSA => &rs::RSA_PKCS1_2048_8192_SHA512,
        a if a == oids::ECDSA_SHA256 && p384 => &rs::ECDSA_P384_SHA256_ASN1,
        a if a == oids::ECDSA_SHA256 => &rs::ECDSA_P256_SHA256_ASN1,
        a if a == oids::ECDSA_SHA384 && p384 => &rs::ECDSA_P384_SHA384_ASN1,
        a if a == oids::ECDSA_SHA384 => &rs::ECDSA_P256_SHA384_ASN1,
        _ => return false,
    };
    rs::UnparsedPublicKey::new(algorithm, spki.subject_public_key.raw_bytes())
        .verify(tbs, signature)
        .is_ok()
}

/// Check a DER PKCS#7 signature of `message` against a known signer
/// certificate (PEM or DER): the signer must be that certificate (issuer
/// and serial) and the signature must verify with its key.
pub fn verify_with_certificate(
    signature: &[u8],
    message: &[u8],
    cert_pem: &[u8],
) -> Result<(), SignError> {
    let cert = read_cert(cert_pem)?;
    let parsed = Parsed::from_der(signature)?;
    if !parsed.names(&cert) {
        return Err(SignError::WrongSigner);
    }
    parsed.check_value(&cert, message)
}

/// Check a DER PKCS#7 signature of `message` whose signer certificate is
/// embedded: the value must verify with that certificate's key and the
/// certificate must chain to `trust` (validity at `now`, key usage).
/// Returns the signer certificate's subject, for reports.
pub fn verify_embedded(
    signature: &[u8],
    message: &[u8],
    trust: &Trust,
    now: std::time::SystemTime,
) -> Result<String, SignError> {
    let parsed = Parsed::from_der(signature)?;
    let cert = parsed
        .signer_certificate()
        .ok_or_else(|| malformed("the signer certificate is not embedded"))?;
    parsed.check_value(cert, message)?;
    trust.check(cert, &parsed.certificates, now)?;
    Ok(cert.tbs_certificate.subject.to_string())
}
