//! Image commands on the example image shipped in the repo.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-image.tar")
}

fn run(bin: &str, args: &[&str], cwd: &Path) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .env("XDG_CACHE_HOME", cwd.join("cache"))
        .output()
        .unwrap()
}

/// The first layer is examples/hello-layer.tar.gz: its root must equal
/// what `layer` computes for that file alone.
fn first_layer_root(cwd: &Path) -> String {
    let layer = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-layer.tar.gz");
    text(
        &run(
            env!("CARGO_BIN_EXE_layerseal"),
            &["layer", layer.to_str().unwrap()],
            cwd,
        )
        .stdout,
    )
    .trim()
    .to_string()
}

#[test]
fn dmverity_vhd_tarball_roothash_and_create() {
    let dir = tempfile::tempdir().unwrap();
    let img = example();
    let img = img.to_str().unwrap();
    let out = run(
        env!("CARGO_BIN_EXE_dmverity-vhd"),
        &["--tarball", img, "roothash"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0].as_str().unwrap(), first_layer_root(dir.path()));
    // Upstream's exact formatting: 2-space indent and a final newline.
    assert!(text(&out.stdout).starts_with("{\n  \"layers\": [\n    \""));
    assert!(text(&out.stdout).ends_with("]\n}\n"));

    let out = run(
        env!("CARGO_BIN_EXE_dmverity-vhd"),
        &["-t", img, "create", "-o", "o", "--hdv"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.matches("Layer VHD created at o/").count(),
        2,
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches("hash device created at o/blobs_sha256_")
            .count(),
        2,
        "{stdout}"
    );

    // A platform the image does not have.
    let out = run(
        env!("CARGO_BIN_EXE_dmverity-vhd"),
        &["-t", img, "roothash", "--platform", "linux/arm64"],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "a single-manifest image is used whatever the platform (as upstream)"
    );
    let out = run(
        env!("CARGO_BIN_EXE_dmverity-vhd"),
        &["roothash", "-i", "127.0.0.1:1/x:y"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot reach the registry"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn native_roothash_inspect_create() {
    let dir = tempfile::tempdir().unwrap();
    let img = format!("oci-archive:{}", example().display());
    let out = run(
        env!("CARGO_BIN_EXE_layerseal"),
        &["roothash", &img, "--json"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["layers"][0]["root_hash"].as_str().unwrap(),
        first_layer_root(dir.path())
    );
    assert_eq!(v["layers"][0]["cached"], false);
    // Second run: from the cache.
    let out = run(
        env!("CARGO_BIN_EXE_layerseal"),
        &["roothash", &img, "--json"],
        dir.path(),
    );
    let v2: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v2["layers"][1]["cached"], true);
    assert_eq!(v2["layers"][1]["root_hash"], v["layers"][1]["root_hash"]);

    let out = run(
        env!("CARGO_BIN_EXE_layerseal"),
        &["inspect", &img, "--json"],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["platform"], "linux/amd64");
    assert_eq!(v["layers"].as_array().unwrap().len(), 2);

    let out = run(
        env!("CARGO_BIN_EXE_layerseal"),
        &["create", &img, "-o", "vhds"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    for line in text(&out.stdout).lines() {
        let (root, file) = line.split_once("  ").unwrap();
        let out = run(
            env!("CARGO_BIN_EXE_layerseal"),
            &["verify", file, "--root-hash", root],
            dir.path(),
        );
        assert!(out.status.success(), "{file}: {}", text(&out.stderr));
    }

    let out = run(
        env!("CARGO_BIN_EXE_layerseal"),
        &["roothash", "oci:/nonexistent"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn erofs_images_and_containerds_cache_layout() {
    let dir = tempfile::tempdir().unwrap();
    let img = format!("oci-archive:{}", example().display());
    let out = run(
        env!("CARGO_BIN_EXE_layerseal"),
        &[
            "create",
            &img,
            "-o",
            "cache",
            "--format",
            "erofs",
            "--containerd-cache",
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for l in v["layers"].as_array().unwrap() {
        let hex = l["diff_id"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap()
            .to_string();
        let image = dir
            .path()
            .join("cache/sha256")
            .join(&hex[..2])
            .join(format!("{hex}.erofs"));
        assert!(image.is_file(), "{}", image.display());
        let sidecar = std::fs::read_to_string(format!("{}.dmverity", image.display())).unwrap();
        let s: serde_json::Value = serde_json::from_str(&sidecar).unwrap();
        assert_eq!(s["roothash"], l["root_hash"]);
        let out = run(
            env!("CARGO_BIN_EXE_layerseal"),
            &[
                "verify",
                image.to_str().unwrap(),
                "--root-hash",
                l["root_hash"].as_str().unwrap(),
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    // roothash --format erofs agrees with what create wrote.
    let out = run(
        env!("CARGO_BIN_EXE_layerseal"),
        &["roothash", &img, "--format", "erofs", "--no-cache"],
        dir.path(),
    );
    let roots: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    let want: Vec<String> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["root_hash"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(roots, want);
}
