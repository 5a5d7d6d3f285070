//! `layerseal composefs …` as users run it, on the example image shipped
//! in the repo and the upstream test dumps.

mod common;
use common::*;

use std::path::{Path, PathBuf};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-image.tar")
}

fn sign_data(name: &str) -> String {
    data()
        .join("composefs-sign")
        .join(name)
        .display()
        .to_string()
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn cfs(repo: &Path, args: &[&str], cwd: &Path) -> std::process::Output {
    let mut all = vec!["composefs", "--repo", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    layerseal(&all, cwd)
}

#[test]
fn pull_compute_id_sign_verify_fsck_gc() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let repo = cwd.join("repo");
    let ex = example();
    let ex = ex.to_str().unwrap();
    ok(&cfs(&repo, &["--hash", "sha256", "init"], cwd));
    let id = ok(&cfs(&repo, &["pull", ex, "hello"], cwd))
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    // The same id from the repository, and straight from the archive.
    assert_eq!(ok(&cfs(&repo, &["compute-id", "hello"], cwd)).trim(), id);
    let direct = layerseal(
        &["composefs", "--hash", "sha256", "compute-id", "--image", ex],
        cwd,
    );
    assert_eq!(ok(&direct).trim(), id);
    // The committed image is the id's object and dumps as a tree.
    let image = repo.join("images").join(&id);
    let dump = ok(&cfs(&repo, &["dump", image.to_str().unwrap()], cwd));
    assert!(dump.starts_with("/ 0 40755"), "{dump}");
    assert!(dump.contains("/usr/bin/hello"), "{dump}");

    // Unsigned: verify says so (exit 3).
    let cert = sign_data("test-signer.cert.pem");
    let v = cfs(&repo, &["verify", "hello", "--cert", &cert], cwd);
    assert_eq!(v.status.code(), Some(3), "{}", text(&v.stderr));
    let key = sign_data("test-signer.key.pem");
    ok(&cfs(
        &repo,
        &["sign", "hello", "--cert", &cert, "--key", &key],
        cwd,
    ));
    let v = cfs(&repo, &["--json", "verify", "hello", "--cert", &cert], cwd);
    let j: serde_json::Value = serde_json::from_str(&ok(&v)).unwrap();
    assert_eq!(j["verified"], true);
    assert_eq!(j["image_id"], id.as_str());
    let other = sign_data("other-signer.cert.pem");
    assert_eq!(
        cfs(&repo, &["verify", "hello", "--cert", &other], cwd)
            .status
            .code(),
        Some(3)
    );

    // fsck is clean; gc keeps everything a tag reaches.
    ok(&cfs(&repo, &["fsck"], cwd));
    let gc: serde_json::Value =
        serde_json::from_str(&ok(&cfs(&repo, &["--json", "gc"], cwd))).unwrap();
    assert_eq!(gc["removed"].as_array().unwrap().len(), 0);
    // An unreferenced object goes; a damaged one is found by fsck.
    std::fs::create_dir_all(repo.join("objects/00")).unwrap();
    let stray = repo.join("objects/00").join("ab".repeat(31));
    std::fs::write(&stray, b"stray").unwrap();
    let f = cfs(&repo, &["fsck"], cwd);
    assert_eq!(f.status.code(), Some(3));
    assert!(
        text(&f.stdout).contains("content digest"),
        "{}",
        text(&f.stdout)
    );
    ok(&cfs(&repo, &["gc"], cwd));
    assert!(!stray.exists());
    ok(&cfs(&repo, &["fsck"], cwd));
    // Exported signatures land in an OCI layout.
    let layout = cwd.join("sigs");
    ok(&cfs(
        &repo,
        &[
            "export-signatures",
            "hello",
            "--layout",
            layout.to_str().unwrap(),
        ],
        cwd,
    ));
    assert!(std::fs::read_to_string(layout.join("index.json"))
        .unwrap()
        .contains("application/vnd.composefs.metadata.v1"));
}

#[test]
fn mkimage_matches_upstream_and_rejects_bad_dumps() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let packed =
        std::fs::read(data().join("composefs-dumps/upstream/special_v1.dump.zst")).unwrap();
    std::fs::write(
        cwd.join("special_v1.dump"),
        zstd::decode_all(&packed[..]).unwrap(),
    )
    .unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data().join("composefs-images.json")).unwrap())
            .unwrap();
    let args = [
        "composefs",
        "mkimage",
        "--strict",
        "--min-version",
        "1",
        "--max-version",
        "1",
        "--from-file",
        "special_v1.dump",
        "-o",
        "out.cfs",
    ];
    ok(&layerseal(&args, cwd));
    let bytes = std::fs::read(cwd.join("out.cfs")).unwrap();
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        expected["upstream"]["special_v1.dump"]["sha256"]
            .as_str()
            .unwrap()
    );
    // A should-fail asset: clear error naming the file, no output left.
    let packed =
        std::fs::read(data().join("composefs-dumps/upstream/should-fail-dot-name.dump.zst"))
            .unwrap();
    std::fs::write(cwd.join("bad.dump"), zstd::decode_all(&packed[..]).unwrap()).unwrap();
    let out = layerseal(
        &[
            "composefs",
            "mkimage",
            "--from-file",
            "bad.dump",
            "-o",
            "bad.cfs",
        ],
        cwd,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad.dump"),
        "{}",
        text(&out.stderr)
    );
    assert!(!cwd.join("bad.cfs").exists());
}

#[test]
fn mount_shows_the_image_files() {
    if !is_root() {
        eprintln!("SKIPPED: composefs mount (needs root)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let repo = cwd.join("repo");
    let ex = example();
    ok(&cfs(&repo, &["init"], cwd));
    ok(&cfs(&repo, &["pull", ex.to_str().unwrap(), "hello"], cwd));
    let mnt = cwd.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    // This kernel has no fs-verity, so objects cannot be verified here
    // (the VM test does that): --insecure mounts with verity=off.
    let out = cfs(
        &repo,
        &["mount", "hello", mnt.to_str().unwrap(), "--insecure"],
        cwd,
    );
    if !out.status.success() {
        let msg = text(&out.stderr);
        assert!(
            std::env::var("LAYERSEAL_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "mount failed: {msg}"
        );
        eprintln!("SKIPPED: composefs mount: the kernel refused: {msg}");
        return;
    }
    let readme = std::fs::read(mnt.join("usr/share/doc/hello/README"));
    let conf = std::fs::read_to_string(mnt.join("etc/hello.conf"));
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    // README is stored as an object (6800 bytes): it reads through the
    // overlay's data-only layer.
    assert_eq!(readme.unwrap().len(), 6800);
    assert_eq!(conf.unwrap(), "greeting=hello\n");
}

#[test]
fn seal_labels_the_config_and_keeps_the_id() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let repo = cwd.join("repo");
    let ex = example();
    ok(&cfs(&repo, &["--hash", "sha256", "init"], cwd));
    let id = ok(&cfs(&repo, &["pull", ex.to_str().unwrap(), "hello"], cwd))
        .trim()
        .to_string();
    let cert = sign_data("test-signer.cert.pem");
    let key = sign_data("test-signer.key.pem");
    let out = ok(&cfs(
        &repo,
        &["--json", "seal", "hello", "--cert", &cert, "--key", &key],
        cwd,
    ));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["merged_id"], id.as_str());
    assert_eq!(j["layer_ids"].as_array().unwrap().len(), 2);
    // The tag now names the sealed image, whose id is the same.
    assert_eq!(ok(&cfs(&repo, &["compute-id", "hello"], cwd)).trim(), id);
    // --cert without --key is a usage error.
    assert_eq!(
        cfs(&repo, &["seal", "hello", "--cert", &cert], cwd)
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn mount_refuses_an_image_that_is_not_what_its_name_says() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let repo = cwd.join("repo");
    ok(&cfs(&repo, &["--hash", "sha256", "init"], cwd));
    let id = ok(&cfs(
        &repo,
        &["pull", example().to_str().unwrap(), "hello"],
        cwd,
    ))
    .trim()
    .to_string();
    let mnt = cwd.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    // A wrong --digest, then a changed image named by its id: refused
    // before anything is mounted (exit 3).
    let img = std::fs::canonicalize(repo.join("images").join(&id)).unwrap();
    let wrong = "00".repeat(32);
    let out = cfs(
        &repo,
        &[
            "mount",
            img.to_str().unwrap(),
            mnt.to_str().unwrap(),
            "--insecure",
            "--digest",
            &wrong,
        ],
        cwd,
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[1024 + 100] ^= 1;
    std::fs::write(&img, bytes).unwrap();
    let out = cfs(
        &repo,
        &["mount", &id, mnt.to_str().unwrap(), "--insecure"],
        cwd,
    );
    if out.status.success() {
        let _ = std::process::Command::new("umount").arg(&mnt).status();
    }
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not mounted"),
        "{}",
        text(&out.stderr)
    );
}
