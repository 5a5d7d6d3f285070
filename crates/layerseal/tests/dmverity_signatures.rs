//! Signed dm-verity root hashes (issue 12's foundation): a detached PKCS#7
//! over the root hash's lowercase hex text, signer certificate embedded, no
//! signed attributes — byte for byte what `openssl smime -sign -binary
//! -noattr -md sha256 -outform der` wrote for the vectors' RSA key.

use base64::Engine;
use layerseal::composefs::sign::{verify, Signer};

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
