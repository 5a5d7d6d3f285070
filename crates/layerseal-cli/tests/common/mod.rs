//! Helpers shared by the command-line tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

/// The library's test data (corpus fixtures, reference facts).
pub fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../layerseal/tests/data")
}

/// Unpack a corpus fixture into `dir`, returning its path.
pub fn fixture(dir: &Path, name: &str) -> PathBuf {
    let packed = std::fs::read(data().join("corpus").join(format!("{name}.zst"))).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, zstd::decode_all(&packed[..]).unwrap()).unwrap();
    path
}

/// Run the native binary.
pub fn layerseal(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_layerseal"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Root can mount; tests that need it say SKIPPED otherwise.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// sha256 hex of bytes.
pub fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// An OCI layout at `dir` of corpus `layers` (uncompressed), tagged `t`;
/// returns its `oci:DIR:t` reference.
pub fn oci_layout(dir: &Path, layers: &[&str]) -> String {
    oci_layout_os(dir, layers, "linux")
}

/// [`oci_layout`] whose config names `os`.
pub fn oci_layout_os(dir: &Path, layers: &[&str], os: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let h = sha(bytes);
        std::fs::write(blobs.join(&h), bytes).unwrap();
        h
    };
    let (mut descs, mut ids) = (Vec::new(), Vec::new());
    for name in layers {
        let tar = zstd::decode_all(
            &std::fs::read(data().join("corpus").join(format!("{name}.zst"))).unwrap()[..],
        )
        .unwrap();
        let h = put(&tar);
        ids.push(format!("sha256:{h}"));
        descs.push(
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{h}"), "size": tar.len()}),
        );
    }
    let cfg = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": os,
        "rootfs": {"type": "layers", "diff_ids": ids}}))
    .unwrap();
    let ch = put(&cfg);
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{ch}"), "size": cfg.len()}, "layers": descs}))
    .unwrap();
    let mh = put(&m);
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{mh}"), "size": m.len(),
            "annotations": {"org.opencontainers.image.ref.name": "t"}}]}))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    format!("oci:{}:t", dir.display())
}
