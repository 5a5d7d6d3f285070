#![no_main]
//! PKCS#7 signatures and dm-verity referrer artifacts from arbitrary
//! bytes: an error or a value, never a panic; a parsed signature is also
//! checked against the test CA (the verification paths run on it too).
use layerseal::pkcs7::{verify_embedded, Trust};
use layerseal::rootsig::artifact;
use libfuzzer_sys::fuzz_target;

const CA: &[u8] = include_bytes!("../../crates/layerseal/tests/data/test-pki/ca.pem");

fuzz_target!(|data: &[u8]| {
    let _ = artifact::parse(data);
    let trust = Trust::from_pem(CA).expect("test CA");
    let _ = verify_embedded(data, b"00", &trust, std::time::SystemTime::now());
    let _ = layerseal::pkcs7::PrivateKey::from_pem(data, Some(b"x"));
});
