//! PKCS#7 fs-verity signatures, as the kernel (`FS_IOC_ENABLE_VERITY`)
//! and composefs-rs take them: a detached CMS SignedData over the
//! fs-verity formatted digest, RSA PKCS#1 v1.5 with SHA-256, no signed
//! attributes and no certificates (openssl's DETACHED | BINARY | NOATTR
//! | NOCERTS; spec: composefs.md §6.4). Deterministic for a given key.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, DecodePem, Encode};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer as _, Verifier as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use crate::verity::{fsverity, Algorithm};

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

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
    #[error("signature does not verify with this certificate's key")]
    BadSignature,
}

fn alg(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: Some(Any::null()),
    }
}

fn read_cert(pem: &[u8]) -> Result<Certificate, SignError> {
    Certificate::from_pem(pem)
        .or_else(|_| Certificate::from_der(pem))
        .map_err(|e| SignError::Certificate(e.to_string()))
}

fn cert_key(cert: &Certificate) -> Result<RsaPublicKey, SignError> {
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| SignError::Certificate(e.to_string()))?;
    RsaPublicKey::from_public_key_der(&spki)
        .map_err(|e| SignError::Certificate(format!("not an RSA key: {e}")))
}

/// A signing certificate and its RSA private key.
pub struct Signer {
    cert: Certificate,
    key: SigningKey<Sha256>,
}

impl Signer {
    /// From PEM (or DER) certificate and PKCS#8 PEM key bytes.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, SignError> {
        let cert = read_cert(cert_pem)?;
        let text =
            std::str::from_utf8(key_pem).map_err(|_| SignError::Key("not PEM text".into()))?;
        let key = RsaPrivateKey::from_pkcs8_pem(text).map_err(|e| SignError::Key(e.to_string()))?;
        if key.to_public_key() != cert_key(&cert)? {
            return Err(SignError::KeyMismatch);
        }
        Ok(Signer {
            cert,
            key: SigningKey::new(key),
        })
    }

    /// The DER PKCS#7 signature of `message` (signer identified by issuer
    /// and serial; no certificate inside, as composefs signatures are).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.sign_cms(message, false)
    }

    /// A detached PKCS#7 signature of `message` with the signer certificate
    /// embedded and no signed attributes: what `openssl smime -sign -binary
    /// -noattr -outform der` writes and what the kernel's dm-verity
    /// `root_hash_sig_key_desc` / `veritysetup --root-hash-signature`
    /// verify over a root hash's hex text.
    pub fn sign_with_certificate(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.sign_cms(message, true)
    }

    fn sign_cms(&self, message: &[u8], embed_certificate: bool) -> Result<Vec<u8>, SignError> {
        let signature: Signature = self.key.sign(message);
        let tbs = &self.cert.tbs_certificate;
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
            digest_alg: alg(ID_SHA256),
            signed_attrs: None,
            signature_algorithm: alg(RSA_ENCRYPTION),
            signature: OctetString::new(signature.to_vec())
                .map_err(|e| SignError::Malformed(e.to_string()))?,
            unsigned_attrs: None,
        };
        let der_err = |e: der::Error| SignError::Malformed(e.to_string());
        let signed = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![alg(ID_SHA256)]).map_err(der_err)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent: None,
            },
            certificates: if embed_certificate {
                Some(cms::signed_data::CertificateSet(
                    SetOfVec::try_from(vec![cms::cert::CertificateChoices::Certificate(
                        self.cert.clone(),
                    )])
                    .map_err(der_err)?,
                ))
            } else {
                None
            },
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).map_err(der_err)?),
        };
        let info = ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed).map_err(der_err)?,
        };
        info.to_der().map_err(der_err)
    }

    /// Signature of an fs-verity digest (its formatted form).
    pub fn sign_fsverity(&self, algorithm: Algorithm, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        self.sign(&fsverity::formatted_digest(algorithm, digest))
    }
}

/// Check a DER PKCS#7 signature of `message` against a trusted
/// certificate (PEM or DER): the signer must be that certificate (issuer
/// and serial) and the RSA signature must verify with its key.
pub fn verify(signature: &[u8], message: &[u8], cert_pem: &[u8]) -> Result<(), SignError> {
    let cert = read_cert(cert_pem)?;
    let malformed = |e: der::Error| SignError::Malformed(e.to_string());
    let info = ContentInfo::from_der(signature).map_err(malformed)?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(SignError::Malformed("not SignedData".into()));
    }
    let signed: SignedData = info.content.decode_as().map_err(malformed)?;
    if signed.encap_content_info.econtent.is_some() {
        return Err(SignError::Malformed(
            "content is attached, expected detached".into(),
        ));
    }
    let signers = signed.signer_infos.0.as_slice();
    let [signer] = signers else {
        return Err(SignError::Malformed(format!(
            "{} signers, expected 1",
            signers.len()
        )));
    };
    if signer.signed_attrs.is_some() {
        return Err(SignError::Malformed(
            "signed attributes are not supported".into(),
        ));
    }
    if signer.digest_alg.oid != ID_SHA256 || signer.signature_algorithm.oid != RSA_ENCRYPTION {
        return Err(SignError::Malformed(
            "only SHA-256 with RSA is supported".into(),
        ));
    }
    let tbs = &cert.tbs_certificate;
    match &signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(id)
            if id.issuer == tbs.issuer && id.serial_number == tbs.serial_number => {}
        _ => return Err(SignError::WrongSigner),
    }
    let key = VerifyingKey::<Sha256>::new(cert_key(&cert)?);
    let sig =
        Signature::try_from(signer.signature.as_bytes()).map_err(|_| SignError::BadSignature)?;
    key.verify(message, &sig)
        .map_err(|_| SignError::BadSignature)
}

/// [`verify`] for an fs-verity digest.
pub fn verify_fsverity(
    signature: &[u8],
    algorithm: Algorithm,
    digest: &[u8],
    cert_pem: &[u8],
) -> Result<(), SignError> {
    verify(
        signature,
        &fsverity::formatted_digest(algorithm, digest),
        cert_pem,
    )
}
