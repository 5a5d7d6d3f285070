//! Private keys for signing, from the PEM files openssl and cloud KMS
//! exports write: PKCS#8 (plain or passphrase-encrypted), PKCS#1 RSA and
//! SEC1 EC keys. RSA signs with the `rsa` crate (PKCS#1 v1.5 is
//! deterministic, so signatures are byte-identical to openssl's); ECDSA
//! P-256 / P-384 with `ring` (already built for TLS).

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::RsaPrivateKey;
use sha2::Sha256;

use super::oids;
use super::SignError;

/// A signing key and the algorithms its PKCS#7 `SignerInfo` names.
pub enum PrivateKey {
    Rsa(Box<SigningKey<Sha256>>, RsaPrivateKey),
    /// P-256 signs with SHA-256, P-384 with SHA-384 (the digests `ring`
    /// pairs them with; the kernel and openssl accept both).
    Ecdsa {
        pair: ring::signature::EcdsaKeyPair,
        curve: Curve,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

fn key_err(e: impl std::fmt::Display) -> SignError {
    SignError::Key(e.to_string())
}

/// The PEM blocks of a file: (label, DER).
fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = after[..label_end].to_string();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = after.find(&end_marker) else {
            break;
        };
        let block = &rest[start..start + 11 + end + end_marker.len()];
        if let Ok((_, der)) = der::pem::decode_vec(block.as_bytes()) {
            out.push((label, der));
        }
        rest = &after[end + end_marker.len()..];
    }
    out
}

impl PrivateKey {
    /// The first private key in `pem`. Encrypted PKCS#8 keys need
    /// `passphrase`; the error says so when it is missing or wrong.
    pub fn from_pem(pem: &[u8], passphrase: Option<&[u8]>) -> Result<Self, SignError> {
        let text = std::str::from_utf8(pem).map_err(|_| key_err("not PEM text"))?;
        let blocks = pem_blocks(text);
        let Some((label, der)) = blocks.iter().find(|(l, _)| l.ends_with("PRIVATE KEY")) else {
            return Err(key_err("no PRIVATE KEY block in the PEM file"));
        };
        match label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(der),
            "ENCRYPTED PRIVATE KEY" => {
                let pass = passphrase.ok_or_else(|| {
                    key_err("the key is encrypted: give its passphrase (--key-passphrase-env VAR)")
                })?;
                let info = pkcs8::EncryptedPrivateKeyInfo::from_der(der).map_err(key_err)?;
                let plain = info.decrypt(pass).map_err(|_| {
                    key_err("cannot decrypt the key: wrong passphrase or unsupported cipher")
                })?;
                Self::from_pkcs8_der(plain.as_bytes())
            }
            "RSA PRIVATE KEY" => {
                let key = RsaPrivateKey::from_pkcs1_der(der).map_err(key_err)?;
                Ok(Self::rsa(key))
            }
            "EC PRIVATE KEY" => Self::from_sec1_der(der),
            other => Err(key_err(format!("unsupported key type {other:?}"))),
        }
    }

    fn rsa(key: RsaPrivateKey) -> Self {
        PrivateKey::Rsa(Box::new(SigningKey::new(key.clone())), key)
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, SignError> {
        let info = pkcs8::PrivateKeyInfo::from_der(der).map_err(key_err)?;
        if info.algorithm.oid == oids::RSA_ENCRYPTION {
            return Ok(Self::rsa(
                RsaPrivateKey::from_pkcs8_der(der).map_err(key_err)?,
            ));
        }
        if info.algorithm.oid != oids::EC_PUBLIC_KEY {
            return Err(key_err(format!(
                "unsupported key algorithm {} (RSA, ECDSA P-256 and P-384 are)",
                info.algorithm.oid
            )));
        }
        let curve_oid: ObjectIdentifier = info
            .algorithm
            .parameters_oid()
            .map_err(|_| key_err("EC key without a named curve"))?;
        let curve = curve_of(curve_oid)?;
        let rng = ring::rand::SystemRandom::new();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(curve.signing(), der, &rng)
            .map_err(|e| key_err(format!("EC key rejected: {e}")))?;
        Ok(PrivateKey::Ecdsa { pair, curve })
    }

    /// SEC1 `EC PRIVATE KEY`: wrapped into PKCS#8 with the curve it names.
    fn from_sec1_der(der: &[u8]) -> Result<Self, SignError> {
        let sec1 = sec1::EcPrivateKey::from_der(der).map_err(key_err)?;
        let curve_oid = sec1
            .parameters
            .and_then(|p| p.named_curve())
            .ok_or_else(|| key_err("EC key without a named curve"))?;
        let params = der::Any::from(&curve_oid);
        let info = pkcs8::PrivateKeyInfo {
            algorithm: spki::AlgorithmIdentifier {
                oid: oids::EC_PUBLIC_KEY,
                parameters: Some(der::referenced::OwnedToRef::owned_to_ref(&params)),
            },
            private_key: der,
            public_key: None,
        };
        let wrapped = info.to_der().map_err(key_err)?;
        Self::from_pkcs8_der(&wrapped)
    }

    /// `SubjectPublicKeyInfo.subjectPublicKey` bytes of this key, to
    /// match it against a certificate.
    pub fn public_key_bits(&self) -> Result<Vec<u8>, SignError> {
        match self {
            PrivateKey::Rsa(_, key) => {
                let spki = key.to_public_key().to_public_key_der().map_err(key_err)?;
                let info =
                    spki::SubjectPublicKeyInfoRef::from_der(spki.as_bytes()).map_err(key_err)?;
                Ok(info.subject_public_key.raw_bytes().to_vec())
            }
            PrivateKey::Ecdsa { pair, .. } => {
                use ring::signature::KeyPair;
                Ok(pair.public_key().as_ref().to_vec())
            }
        }
    }

    /// The digest algorithm OID of the `SignerInfo`.
    pub fn digest_oid(&self) -> ObjectIdentifier {
        match self {
            PrivateKey::Ecdsa {
                curve: Curve::P384, ..
            } => oids::SHA384,
            _ => oids::SHA256,
        }
    }

    /// The signature algorithm OID of the `SignerInfo` (openssl's
    /// choice: rsaEncryption, ecdsa-with-SHA256/384).
    pub fn signature_oid(&self) -> ObjectIdentifier {
        match self {
            PrivateKey::Rsa(..) => oids::RSA_ENCRYPTION,
            PrivateKey::Ecdsa {
                curve: Curve::P256, ..
            } => oids::ECDSA_SHA256,
            PrivateKey::Ecdsa {
                curve: Curve::P384, ..
            } => oids::ECDSA_SHA384,
        }
    }

    /// Sign `message` itself (no signed attributes).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match self {
            PrivateKey::Rsa(key, _) => Ok(key.sign(message).to_vec()),
            PrivateKey::Ecdsa { pair, .. } => {
                let rng = ring::rand::SystemRandom::new();
                let sig = pair
                    .sign(&rng, message)
                    .map_err(|_| key_err("ECDSA signing failed"))?;
                Ok(sig.as_ref().to_vec())
            }
        }
    }
}

fn curve_of(oid: ObjectIdentifier) -> Result<Curve, SignError> {
    if oid == oids::SECP256R1 {
        Ok(Curve::P256)
    } else if oid == oids::SECP384R1 {
        Ok(Curve::P384)
    } else {
        Err(key_err(format!(
            "unsupported EC curve {oid} (P-256 and P-384 are)"
        )))
    }
}

impl Curve {
    fn signing(self) -> &'static ring::signature::EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            Curve::P384 => &ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        }
    }
}
