//! EROFS as nodes run it: `--mkfs-options` / `--erofs-utils` on the
//! commands, and the `mkfs.erofs` front end with the vectors' own argument
//! lists (tar on stdin).

mod common;
use common::*;

use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data().join("erofs-expected.json")).unwrap())
        .unwrap()
}

const LAYERS: &[&str] = &[
    "basic.tar",
    "bigdir.tar",
    "devices.tar",
    "empty.tar",
    "gnu-names.tar",
    "names.tar",
    "unordered.tar",
    "whiteouts.tar",
    "xattrs.tar",
];

fn sha256_file(p: &std::path::Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

/// A `mkfs.erofs` symlink to the layerseal binary in `dir`.
fn mkfs_link(dir: &std::path::Path) -> std::path::PathBuf {
    let link = dir.join("mkfs.erofs");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_layerseal"), &link).unwrap();
    link
}

/// Through a symlink named mkfs.erofs, with each vector's argument list and
/// the tar on stdin: the image bytes mkfs.erofs 1.9.3 wrote (tar-index:
/// the index image, compared by the vectors' sha256 prefix of it).
#[test]
fn mkfs_erofs_symlink_writes_the_vectors_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mkfs = mkfs_link(dir.path());
    let exp = expected();
    let mut checked = 0;
    for name in LAYERS {
        let tar = fixture(dir.path(), name);
        for variant in [
            "full_T0",
            "full_T0_sortnone",
            "full_T1700000000",
            "tarindex_T0",
        ] {
            let v = &exp["layers"][name][variant];
            let Some(args) = v["mkfs_args"].as_array() else {
                continue;
            };
            let mut args: Vec<String> = args.iter().map(|a| a.as_str().unwrap().into()).collect();
            let out = dir.path().join(format!("{name}.{variant}.erofs"));
            *args.last_mut().unwrap() = out.display().to_string();
            let o = Command::new(&mkfs)
                .args(&args)
                .stdin(std::fs::File::open(&tar).unwrap())
                .output()
                .unwrap();
            assert!(o.status.success(), "{name} {variant}: {}", text(&o.stderr));
            let got = sha256_file(&out);
            if variant == "tarindex_T0" {
                let want = &exp["cross_version_erofs_sha256_prefix16"]["results"]
                    [format!("{name} {variant}")]["1.9.3"];
                assert_eq!(&got[..16], want.as_str().unwrap(), "{name} {variant}");
            } else {
                assert_eq!(got, v["erofs_sha256"].as_str().unwrap(), "{name} {variant}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 36, "{checked}");
}

#[test]
fn mkfs_erofs_refuses_other_options_as_mkfs_does() {
    let dir = tempfile::tempdir().unwrap();
    let mkfs = mkfs_link(dir.path());
    let tar = fixture(dir.path(), "basic.tar");
    for bad in [
        &["--tar=f", "--aufs", "-Enoinline_data", "-zlz4", "-T0"][..],
        &["--tar=f", "--aufs", "-Enoinline_data", "-T0", "--sort=foo"],
        &["--tar=f", "--aufs", "-T0"], // inline data is not reproduced
        &["--tar=f", "-Enoinline_data"], // no --aufs
        &["--aufs", "-Enoinline_data"], // not tar input
        &["--tar=f", "--aufs", "-Enoinline_data", "-b512"],
    ] {
        let out = dir.path().join("bad.erofs");
        let o = Command::new(&mkfs)
            .args(bad)
            .arg(&out)
            .stdin(std::fs::File::open(&tar).unwrap())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{bad:?}");
        assert!(text(&o.stderr).contains("mkfs.erofs"), "{bad:?}");
        assert!(!out.exists(), "{bad:?} left an output");
    }
    let v = Command::new(&mkfs).arg("-V").output().unwrap();
    let v = text(&v.stdout);
    assert!(
        v.starts_with("mkfs.erofs (erofs-utils) 1.9.3") && v.contains("layerseal"),
        "{v}"
    );
    let h = Command::new(&mkfs).arg("--help").output().unwrap();
    assert!(
        text(&h.stdout).contains("--tar="),
        "containerd probes --help for --tar="
    );
}

/// `layer`, `roothash` and `create` refuse bad EROFS options with exit 2
/// and write nothing.
#[test]
fn bad_erofs_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let tar = fixture(dir.path(), "basic.tar");
    let out = dir.path().join("o.erofs");
    for bad in [
        &["--mkfs-options", "-T0 -zlz4"][..],
        &["--mkfs-options", "--mkfs-time"], // no -T
        &["--mkfs-options", "-T0 --sort=foo"],
        &["--erofs-utils", "1.8.7"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
            .args(["layer", "--format", "erofs", "-o"])
            .arg(&out)
            .arg(&tar)
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        let named = bad[1].split_whitespace().last().unwrap();
        assert!(err.contains(named) || err.contains("-T"), "{bad:?}: {err}");
        assert!(!out.exists());
        // roothash/create refuse before reading anything.
        let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
            .args(["create", "oci:/nonexistent", "--format", "erofs", "-o"])
            .arg(dir.path().join("outdir"))
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "create {bad:?}");
        assert!(!dir.path().join("outdir").exists());
    }
    let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
        .args(["layer", "--mkfs-options", "-T0"])
        .arg(&tar)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "mkfs options without --format erofs"
    );
}

/// Kata's setting through `layer --json`: the vector's root hash, and the
/// options and release reported for the policy.
#[test]
fn layer_json_reports_options_and_the_vector_root() {
    let dir = tempfile::tempdir().unwrap();
    let exp = expected();
    for name in ["basic.tar", "xattrs.tar", "unordered.tar"] {
        let tar = fixture(dir.path(), name);
        let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
            .args(["layer", "--format", "erofs", "--json"])
            .arg("--mkfs-options=-T0 --mkfs-time --sort=none")
            .arg(&tar)
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(o.status.success());
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let want = &exp["layers"][name]["full_T0_sortnone"]["dmverity"];
        assert_eq!(v["root_hash"], want["root_hash"], "{name}");
        assert_eq!(v["hash_offset"], want["hash_offset"], "{name}");
        assert_eq!(
            v["mkfs_options"],
            serde_json::json!(["-T0", "--mkfs-time", "--sort=none"])
        );
        assert_eq!(v["erofs_utils"], "1.9.3");
    }
}
