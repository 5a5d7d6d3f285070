//! A full disk at several fill levels: every command fails with an error
//! naming the output path and a non-zero exit, leaves no partial output or
//! temporary file, the composefs repository still passes fsck, and the
//! same command succeeds once space is freed. Root cache writes never
//! fail `roothash`. Needs root (a small tmpfs); SKIPPED otherwise.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Output};

fn layerseal_out(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_layerseal"))
        .args(args)
        .env("XDG_CACHE_HOME", "/nonexistent-cache")
        .output()
        .unwrap()
}

/// Files and symlinks below `dir`, relative.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

struct Tmpfs(std::path::PathBuf);
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, size: &str) -> Option<Tmpfs> {
    std::fs::create_dir_all(at).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Tmpfs(at.to_path_buf()))
}

/// Fill `fs` until `free_kib` KiB remain (roughly), with one file.
fn fill(fs: &Path, free_kib: u64) {
    let filler = fs.join("filler");
    let _ = std::fs::remove_file(&filler);
    let out = Command::new("df")
        .args(["-k", "--output=avail"])
        .arg(fs)
        .output()
        .unwrap();
    let avail: u64 = text(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let n = avail.saturating_sub(free_kib);
    std::fs::write(&filler, vec![0u8; (n * 1024) as usize]).unwrap();
}

#[test]
fn full_disks_fail_cleanly_and_recover() {
    if !is_root() {
        eprintln!("SKIPPED: full-disk test needs root (mounts a small tmpfs)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(_fs) = mount_tmpfs(&tmp.path().join("fs"), "48m") else {
        eprintln!("SKIPPED: cannot mount tmpfs here");
        return;
    };
    let fs = tmp.path().join("fs");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let bigdir = fixture(&src, "bigdir.tar"); // 5 MiB tar → 20 MiB EROFS, 25 MiB ext4
    let basic = fixture(&src, "basic.tar");
    let layout = src.join("layout");
    // An OCI layout of the two (uncompressed) layers.
    let st = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-oci-layout.py"))
        .arg(&layout)
        .args([&basic, &bigdir])
        .output();
    let image = match st {
        Ok(o) if o.status.success() => format!("oci:{}:t", layout.display()),
        _ => {
            eprintln!("SKIPPED: python3 not available to build the test layout");
            return;
        }
    };
    let s = |p: &Path| p.display().to_string();
    let repo = fs.join("repo");
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "layer ext4 VHD",
            vec![
                "layer".into(),
                s(&bigdir),
                "-o".into(),
                s(&fs.join("o.vhd")),
                "--vhd".into(),
            ],
        ),
        (
            "layer erofs",
            vec![
                "layer".into(),
                s(&bigdir),
                "--format".into(),
                "erofs".into(),
                "-o".into(),
                s(&fs.join("o.erofs")),
            ],
        ),
        (
            "layer erofs --sort=none",
            vec![
                "layer".into(),
                s(&bigdir),
                "--format".into(),
                "erofs".into(),
                "--mkfs-options=-T0 --mkfs-time --sort=none".into(),
                "-o".into(),
                s(&fs.join("n.erofs")),
            ],
        ),
        (
            "create",
            vec![
                "create".into(),
                image.clone(),
                "-o".into(),
                s(&fs.join("out")),
            ],
        ),
        (
            "composefs pull",
            vec![
                "composefs".into(),
                "--repo".into(),
                s(&repo),
                "pull".into(),
                image.clone(),
                "t".into(),
            ],
        ),
    ];
    for free_kib in [64u64, 1024, 4096] {
        for (name, args) in &cases {
            // A fresh start for this case.
            for leftover in [
                "o.vhd",
                "o.erofs",
                "o.erofs.dmverity",
                "n.erofs",
                "n.erofs.dmverity",
            ] {
                let _ = std::fs::remove_file(fs.join(leftover));
            }
            let _ = std::fs::remove_dir_all(fs.join("out"));
            let _ = std::fs::remove_dir_all(&repo);
            let _ = std::fs::remove_file(fs.join("filler"));
            let o = layerseal_out(&["composefs", "--repo", &s(&repo), "--hash", "sha256", "init"]);
            assert!(o.status.success());
            let before = listing(&fs);
            fill(&fs, free_kib);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = layerseal_out(&args);
            let err = text(&o.stderr);
            assert_eq!(
                o.status.code(),
                Some(1),
                "{name} at {free_kib} KiB free: {err}"
            );
            assert!(
                err.contains("No space left on device") && err.contains(&s(&fs)),
                "{name} at {free_kib} KiB free: the error should name the output path: {err}"
            );
            let after: Vec<String> = listing(&fs)
                .into_iter()
                .filter(|p| p != "filler" && !before.contains(p))
                .collect();
            // A repository may keep whole objects and whole layer streams
            // (fsck checks them); no image or tag may name anything.
            let partial: Vec<&String> = after
                .iter()
                .filter(|p| {
                    p.contains(".tmp-")
                        || !(p.starts_with("repo/objects/") || p.starts_with("repo/streams/oci-"))
                })
                .collect();
            assert!(
                partial.is_empty(),
                "{name} at {free_kib} KiB free left {partial:?}"
            );
            if name.starts_with("composefs") {
                let o = layerseal_out(&["composefs", "--repo", &s(&repo), "fsck"]);
                assert!(
                    o.status.success(),
                    "{name}: fsck after ENOSPC: {}",
                    text(&o.stdout)
                );
            }
            // Space freed: the same command succeeds.
            std::fs::remove_file(fs.join("filler")).unwrap();
            let o = layerseal_out(&args);
            assert!(
                o.status.success(),
                "{name} after freeing space: {}",
                text(&o.stderr)
            );
        }
    }
    // seal and sign write a few small objects: a full disk fails them
    // cleanly too, and they work once there is space.
    let _ = std::fs::remove_file(fs.join("filler"));
    let cert = data().join("composefs-sign/test-signer.cert.pem");
    let key = data().join("composefs-sign/test-signer.key.pem");
    for verb in [
        vec!["seal", "t"],
        vec![
            "sign",
            "t",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    ] {
        let mut args = vec!["composefs", "--repo", repo.to_str().unwrap()];
        args.extend(verb.iter().copied());
        fill(&fs, 0);
        let o = layerseal_out(&args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{verb:?} on a full disk: {}",
            text(&o.stderr)
        );
        assert!(
            text(&o.stderr).contains("No space left on device"),
            "{}",
            text(&o.stderr)
        );
        assert!(
            !listing(&fs).iter().any(|p| p.contains(".tmp-")),
            "{verb:?} left a temporary file"
        );
        let o = layerseal_out(&["composefs", "--repo", repo.to_str().unwrap(), "fsck"]);
        assert!(o.status.success(), "{verb:?}: fsck: {}", text(&o.stdout));
        std::fs::remove_file(fs.join("filler")).unwrap();
        let o = layerseal_out(&args);
        assert!(
            o.status.success(),
            "{verb:?} with space: {}",
            text(&o.stderr)
        );
    }
    // The root-hash cache on a full disk never fails roothash.
    fill(&fs, 0);
    let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
        .args(["roothash", &image])
        .env("XDG_CACHE_HOME", fs.join("cache"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "roothash with a full cache disk: {}",
        text(&o.stderr)
    );
    assert_eq!(text(&o.stdout).lines().count(), 2);
}
