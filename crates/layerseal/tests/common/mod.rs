//! Shared test helpers: the corpus fixtures and the reference facts.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The reference facts for dmverity-vhd (copied from the shared vectors).
pub fn expected() -> Value {
    let text = std::fs::read_to_string(data_dir().join("dmverity-vhd-expected.json"))
        .expect("expected json");
    serde_json::from_str(&text).expect("json")
}

/// Small corpus layers shipped as zstd fixtures (the bytes gen.py writes).
pub const SMALL_LAYERS: &[&str] = &[
    "basic.tar",
    "bigdir.tar",
    "devices.tar",
    "empty.tar",
    "gnu-names.tar",
    "names.tar",
    "sparse.tar",
    "unordered.tar",
    "whiteouts.tar",
    "xattrs.tar",
];

/// A corpus layer's tar bytes, checked against the recorded input hash.
pub fn layer(name: &str) -> Vec<u8> {
    let packed =
        std::fs::read(data_dir().join("corpus").join(format!("{name}.zst"))).expect("fixture");
    let bytes = zstd::decode_all(&packed[..]).expect("zstd");
    let exp = expected();
    if let Some(sha) = exp["layers"][name]["input_sha256"].as_str() {
        assert_eq!(sha256_hex(&bytes), sha, "{name}: fixture bytes");
    }
    bytes
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}
