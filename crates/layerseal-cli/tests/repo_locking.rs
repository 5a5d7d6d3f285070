//! Nothing lost in a composefs repository: the composefs-rs lock (flock on
//! the repository directory: shared while open, exclusive for gc) keeps gc
//! from removing what a concurrent pull stores; killed writers' temporary
//! files are reported by fsck and removed by the next writer or gc.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn cfs_cmd(repo: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_layerseal"));
    c.args(["composefs", "--repo"]).arg(repo).args(args);
    c
}

fn run_ok(c: &mut Command) -> String {
    let out: Output = c.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

struct Fixture {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    a: String,
    b: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let a = oci_layout(&tmp.path().join("a"), &["usrbase.tar", "basic.tar"]);
    let b = oci_layout(&tmp.path().join("b"), &["usrbase.tar", "bigdir.tar"]);
    let repo = tmp.path().join("repo");
    run_ok(&mut cfs_cmd(&repo, &["--hash", "sha256", "init"]));
    Fixture {
        _tmp: tmp,
        repo,
        a,
        b,
    }
}

/// 20 rounds: both tags removed (everything is garbage), then `pull A`,
/// `gc` and `pull B` started together. Every pull succeeds, fsck is
/// clean, and each tag's id equals the id computed straight from its
/// image (what a fresh repository gives).
#[test]
fn pulls_racing_gc_lose_nothing() {
    let f = fixture();
    let want_a = run_ok(&mut cfs_cmd(
        &f.repo,
        &["--hash", "sha256", "compute-id", "--image", &f.a],
    ));
    let want_b = run_ok(&mut cfs_cmd(
        &f.repo,
        &["--hash", "sha256", "compute-id", "--image", &f.b],
    ));
    for round in 0..20 {
        for tag in ["a", "b"] {
            let _ = std::fs::remove_file(f.repo.join("streams/refs/oci").join(tag));
        }
        let mut kids = vec![
            cfs_cmd(&f.repo, &["pull", &f.a, "a"])
                .stderr(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
            cfs_cmd(&f.repo, &["gc"])
                .stderr(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
            cfs_cmd(&f.repo, &["pull", &f.b, "b"])
                .stderr(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        ];
        for (i, k) in kids.drain(..).enumerate() {
            let out = k.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round} process {i}: {}",
                text(&out.stderr)
            );
        }
        let fsck = cfs_cmd(&f.repo, &["fsck"]).output().unwrap();
        assert!(
            fsck.status.success(),
            "round {round}: fsck: {}{}",
            text(&fsck.stdout),
            text(&fsck.stderr)
        );
        assert_eq!(
            run_ok(&mut cfs_cmd(&f.repo, &["compute-id", "a"])),
            want_a,
            "round {round}"
        );
        assert_eq!(
            run_ok(&mut cfs_cmd(&f.repo, &["compute-id", "b"])),
            want_b,
            "round {round}"
        );
    }
}

/// The lock protocol as another composefs-rs process holds it: a shared
/// flock on the directory (cfsctl with the repository open) makes
/// `gc --no-wait` fail and `gc` wait; an exclusive one (cfsctl gc) makes
/// `pull --no-wait` fail and `pull` wait, saying so, then succeed.
#[test]
fn the_lock_is_composefs_rs_flock_on_the_directory() {
    let f = fixture();
    let dir = std::fs::File::open(&f.repo).unwrap();
    dir.lock_shared().unwrap();
    let out = cfs_cmd(&f.repo, &["--no-wait", "gc"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("locked"),
        "{}",
        text(&out.stderr)
    );
    // A reader may share it.
    run_ok(&mut cfs_cmd(&f.repo, &["--no-wait", "fsck"]));
    dir.unlock().unwrap();

    dir.lock().unwrap();
    let out = cfs_cmd(&f.repo, &["--no-wait", "pull", &f.a, "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!f.repo.join("streams/refs/oci/a").exists());
    let waiting = cfs_cmd(&f.repo, &["pull", &f.a, "a"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    dir.unlock().unwrap();
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("waiting for the shared lock"),
        "{}",
        text(&out.stderr)
    );
    assert!(f.repo.join("streams/refs/oci/a").exists());
}

/// Temporary files a killed writer left (named with its PID, now gone):
/// fsck reports them, the next pull removes them.
#[test]
fn leftovers_of_killed_writers_are_reported_and_removed() {
    let f = fixture();
    // A PID that is not running: a finished child's.
    let dead = Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait_with_output().unwrap();
    let stale = f.repo.join(format!("objects/.tmp-{pid}-abc"));
    std::fs::write(&stale, b"half").unwrap();
    let link = f.repo.join(format!("streams/refs/oci/.tmp-link-{pid}"));
    std::os::unix::fs::symlink("nowhere", &link).unwrap();
    let out = cfs_cmd(&f.repo, &["fsck"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let report = text(&out.stdout) + &text(&out.stderr);
    assert!(report.contains("interrupted write"), "{report}");
    run_ok(&mut cfs_cmd(&f.repo, &["pull", &f.a, "a"]));
    assert!(!stale.exists() && link.symlink_metadata().is_err());
    run_ok(&mut cfs_cmd(&f.repo, &["fsck"]));
}
