//! PKCS#7 fs-verity signatures, as the kernel (`FS_IOC_ENABLE_VERITY`)
//! and composefs-rs take them: a detached CMS SignedData over the
//! fs-verity formatted digest, no signed attributes and no certificates
//! (openssl's DETACHED | BINARY | NOATTR | NOCERTS; spec: composefs.md
//! §6.4). The CMS work is [`crate::pkcs7`]'s; this adds the fs-verity
//! message.

use crate::verity::{fsverity, Algorithm};

pub use crate::pkcs7::{verify_with_certificate as verify, SignError, Signer};

/// Signature of an fs-verity digest (its formatted form).
pub fn sign_fsverity(
    signer: &Signer,
    algorithm: Algorithm,
    digest: &[u8],
) -> Result<Vec<u8>, SignError> {
    signer.sign(&fsverity::formatted_digest(algorithm, digest))
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
