//! fs-verity digests equal fsverity-utils' for every vector (sha256 and
//! sha512; sizes around each tree-level boundary, up to 64 MiB + 1).

use layerseal::verity::{fsverity, Algorithm};

fn content(kind: &str, n: usize) -> Vec<u8> {
    match kind {
        "zeros" => vec![0; n],
        "pattern" => (0..n).map(|i| ((i * 7 + 3) % 251) as u8).collect(),
        k if k.starts_with("ascii") => b"hello world".to_vec(),
        k => panic!("unknown content {k}"),
    }
}

#[test]
fn digests_match_fsverity_utils() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/fsverity-vectors.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let data = content(
            c["content"].as_str().unwrap(),
            c["size"].as_u64().unwrap() as usize,
        );
        for (alg, key) in [(Algorithm::Sha256, "sha256"), (Algorithm::Sha512, "sha512")] {
            let d = fsverity::digest(&data[..], alg, 2).unwrap();
            assert_eq!(hex::encode(d), c[key].as_str().unwrap(), "{name} {key}");
        }
    }
}
