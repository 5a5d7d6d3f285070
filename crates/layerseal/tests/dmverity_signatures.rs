//! Signed dm-verity root hashes (issue 12's foundation): a detached PKCS#7
//! over the root hash's lowercase hex text, signer certificate embedded, no
//! signed attributes — byte for byte what `openssl smime -sign -binary
//! -noattr -md sha256 -outform der` wrote for the vectors' RSA key; ECDSA
//! signatures (openssl's and ours) verify. Then the key formats and the
//! chain checks against the test PKI in `data/test-pki` (made by its
//! `make.sh`).

use std::time::{Duration, SystemTime};

use base64::Engine;
use layerseal::pkcs7::{
    verify_embedded, verify_with_certificate as verify, SignError, Signer, Trust, TrustError,
};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/dmverity-signatures")
            .join(name),
    )
    .unwrap()
}

#[test]
fn rsa_root_hash_signatures_are_byte_identical_to_openssl() {
    let v: serde_json::Value = serde_json::from_slice(&data("signatures.json")).unwrap();
    let mut checked = 0;
    for case in v["cases"].as_array().unwrap() {
        if !case["deterministic"].as_bool().unwrap() {
            continue; // ECDSA: random k, only verification is a vector
        }
        let signer = Signer::from_pem(
            &data(case["cert"].as_str().unwrap()),
            &data(case["key"].as_str().unwrap()),
        )
        .unwrap();
        let root = case["root_hash"].as_str().unwrap();
        let want = base64::engine::general_purpose::STANDARD
            .decode(case["signature_der_base64"].as_str().unwrap())
            .unwrap();
        let got = signer.sign_with_certificate(root.as_bytes()).unwrap();
        assert_eq!(hex::encode(&got), hex::encode(&want), "{root}");
        // And it verifies against the certificate; another message does not.
        verify(&got, root.as_bytes(), &data(case["cert"].as_str().unwrap())).unwrap();
        assert!(verify(&got, b"0000", &data(case["cert"].as_str().unwrap())).is_err());
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn openssl_ecdsa_signatures_verify_and_ours_have_their_shape() {
    let v: serde_json::Value = serde_json::from_slice(&data("signatures.json")).unwrap();
    let mut checked = 0;
    for case in v["cases"].as_array().unwrap() {
        if case["deterministic"].as_bool().unwrap() {
            continue;
        }
        let cert = data(case["cert"].as_str().unwrap());
        let root = case["root_hash"].as_str().unwrap();
        let theirs = base64::engine::general_purpose::STANDARD
            .decode(case["signature_der_base64"].as_str().unwrap())
            .unwrap();
        verify(&theirs, root.as_bytes(), &cert).unwrap();
        assert!(matches!(
            verify(&theirs, b"other", &cert),
            Err(SignError::BadSignature)
        ));
        let signer = Signer::from_pem(&cert, &data(case["key"].as_str().unwrap())).unwrap();
        let ours = signer.sign_with_certificate(root.as_bytes()).unwrap();
        verify(&ours, root.as_bytes(), &cert).unwrap();
        // Same structure as openssl's: the certificate embedded, digest
        // sha256 (NULL parameters), ecdsa-with-SHA256 (none); only the
        // signature value differs.
        let cert_der = x509_der(&cert);
        for needle in [
            cert_der.as_slice(),
            &hex::decode("300d06096086480165030402010500").unwrap(),
            &hex::decode("300a06082a8648ce3d040302").unwrap(),
        ] {
            for sig in [&ours, &theirs] {
                assert!(sig.windows(needle.len()).any(|w| w == needle));
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 2);
}

fn x509_der(pem: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(pem.to_vec()).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn pki(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/test-pki")
            .join(name),
    )
    .unwrap()
}

const ROOT: &[u8] = b"2d92f396f3d05ddd1a3c5b0c6b2a0e1e8a8f4b8a7f4a0f1d2e3c4b5a69788796";

fn sign_with(cert: &str, key: &str, pass: Option<&[u8]>) -> Result<Vec<u8>, SignError> {
    Signer::from_pem_with_passphrase(&pki(cert), &pki(key), pass)?.sign_with_certificate(ROOT)
}

fn check(sig: &[u8]) -> Result<String, SignError> {
    let trust = Trust::from_pem(&pki("ca.pem")).unwrap();
    verify_embedded(sig, ROOT, &trust, SystemTime::now())
}

#[test]
fn every_key_format_signs_and_chains_to_the_ca() {
    for (cert, key, pass) in [
        ("rsa.pem", "rsa.key", None),
        ("rsa.pem", "rsa-pkcs1.key", None),
        ("rsa.pem", "rsa-encrypted.key", Some(&b"layerseal-test"[..])),
        ("p256.pem", "p256.key", None),
        ("p256.pem", "p256-sec1.key", None),
        ("p384.pem", "p384.key", None),
        ("chained.pem", "chained.key", None),
    ] {
        let sig = sign_with(cert, key, pass).unwrap_or_else(|e| panic!("{key}: {e}"));
        let subject = check(&sig).unwrap_or_else(|e| panic!("{cert}: {e}"));
        assert!(subject.starts_with("CN=layerseal test signer"), "{subject}");
        // Not over another root hash.
        let trust = Trust::from_pem(&pki("ca.pem")).unwrap();
        assert!(matches!(
            verify_embedded(&sig, b"00", &trust, SystemTime::now()),
            Err(SignError::BadSignature)
        ));
    }
}

#[test]
fn encrypted_keys_need_the_right_passphrase() {
    let e = sign_with("rsa.pem", "rsa-encrypted.key", None).unwrap_err();
    assert!(e.to_string().contains("passphrase"), "{e}");
    let e = sign_with("rsa.pem", "rsa-encrypted.key", Some(b"wrong")).unwrap_err();
    assert!(e.to_string().contains("wrong passphrase"), "{e}");
    // A key that is not the certificate's.
    assert!(matches!(
        sign_with("p256.pem", "rsa.key", None),
        Err(SignError::KeyMismatch)
    ));
}

#[test]
fn untrusted_signers_are_refused_with_the_reason() {
    let untrusted = |cert, key| match check(&sign_with(cert, key, None).unwrap()) {
        Err(SignError::Untrusted(t)) => t,
        other => panic!("{cert}: {other:?}"),
    };
    assert!(matches!(
        untrusted("expired.pem", "expired.key"),
        TrustError::Expired { .. }
    ));
    assert!(matches!(
        untrusted("impostor.pem", "impostor.key"),
        TrustError::UnknownIssuer { .. }
    ));
    assert!(matches!(
        untrusted("server.pem", "server.key"),
        TrustError::ExtendedKeyUsage { .. }
    ));
    // The chained signer without its intermediate in the signature.
    let leaf_only = {
        let pem = String::from_utf8(pki("chained.pem")).unwrap();
        let end = pem.find("-----END CERTIFICATE-----").unwrap() + 25;
        pem[..end].to_string()
    };
    let sig = Signer::from_pem(leaf_only.as_bytes(), &pki("chained.key"))
        .unwrap()
        .sign_with_certificate(ROOT)
        .unwrap();
    assert!(matches!(
        check(&sig),
        Err(SignError::Untrusted(TrustError::UnknownIssuer { .. }))
    ));
    // A valid certificate checked after it expires.
    let sig = sign_with("rsa.pem", "rsa.key", None).unwrap();
    let trust = Trust::from_pem(&pki("ca.pem")).unwrap();
    let later = SystemTime::now() + Duration::from_secs(200 * 365 * 86400);
    assert!(matches!(
        verify_embedded(&sig, ROOT, &trust, later),
        Err(SignError::Untrusted(TrustError::Expired { .. }))
    ));
}

#[test]
fn truncated_and_garbage_signatures_are_malformed_not_panics() {
    let sig = sign_with("p256.pem", "p256.key", None).unwrap();
    for cut in [0, 1, 10, sig.len() / 2, sig.len() - 1] {
        assert!(
            matches!(check(&sig[..cut]), Err(SignError::Malformed(_))),
            "cut at {cut}"
        );
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any bytes, and any single-byte change of a real signature:
        /// an error or a verdict, never a panic; a changed signature never
        /// passes for the original root hash.
        #[test]
        fn signature_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let trust = Trust::from_pem(&pki("ca.pem")).unwrap();
            let _ = verify_embedded(&bytes, ROOT, &trust, SystemTime::now());
            let _ = layerseal::rootsig::artifact::parse(&bytes);
            let _ = layerseal::pkcs7::PrivateKey::from_pem(&bytes, None);
        }

        /// The signature value ends the DER (no unsigned attributes): any
        /// change there must fail. (Other fields, like the SignerInfo
        /// version, are not covered by a signature without attributes, in
        /// openssl's signatures as in ours.)
        #[test]
        fn a_changed_signature_value_never_verifies(back in 1usize..=64, xor in 1u8..=255) {
            let sig = sign_with("p256.pem", "p256.key", None).unwrap();
            let mut bad = sig.clone();
            let at = bad.len() - back;
            bad[at] ^= xor;
            let trust = Trust::from_pem(&pki("ca.pem")).unwrap();
            prop_assert!(verify_embedded(&bad, ROOT, &trust, SystemTime::now()).is_err());
        }
    }
}
