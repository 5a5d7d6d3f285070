//! Killed at any instant: `create` (ext4 VHDs and EROFS), `composefs pull`
//! and `composefs seal` run 20 times each and are SIGKILLed at random
//! moments; each is followed by a normal run. The final outputs equal an
//! uninterrupted run's, no temporary file is left, and the repository's
//! fsck is clean.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every file below `dir` (relative path → sha256), symlinks by target.
fn tree(dir: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, String)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                out.push((rel, std::fs::read_link(&p).unwrap().display().to_string()));
            } else if ft.is_dir() {
                walk(root, &p, out);
            } else {
                out.push((rel, sha(&std::fs::read(&p).unwrap())));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn temporaries(t: &[(String, String)]) -> Vec<&String> {
    t.iter()
        .map(|(p, _)| p)
        .filter(|p| p.contains(".tmp-"))
        .collect()
}

/// A small xorshift for kill instants (deterministic per run).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Run `args` once to completion (timing it), then 20 times killed at a
/// random instant within that time, each followed by a full run; then
/// compare `out` with the uninterrupted result.
fn kill_and_rerun(name: &str, args: &[String], out: &Path, prepare: &dyn Fn()) {
    let bin = env!("CARGO_BIN_EXE_layerseal");
    let run = || {
        let o = Command::new(bin).args(args).output().unwrap();
        assert!(o.status.success(), "{name}: {}", text(&o.stderr));
    };
    prepare();
    let t0 = Instant::now();
    run();
    let took = t0.elapsed().as_micros().max(1000) as u64;
    let want = tree(out);
    assert!(temporaries(&want).is_empty(), "{name}: {want:?}");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    let mut killed_mid_run = 0;
    for round in 0..20 {
        prepare();
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.next() % took));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !status.success() {
            killed_mid_run += 1;
        }
        run();
        let got = tree(out);
        assert_eq!(
            temporaries(&got),
            Vec::<&String>::new(),
            "{name} round {round}"
        );
        assert!(
            got == want,
            "{name} round {round}: outputs differ from an uninterrupted run"
        );
    }
    eprintln!("{name}: {killed_mid_run}/20 runs killed before they finished");
}

#[test]
fn killed_runs_leave_nothing_half_done() {
    let tmp = tempfile::tempdir().unwrap();
    let image = oci_layout(
        &tmp.path().join("img"),
        &["usrbase.tar", "bigdir.tar", "basic.tar"],
    );
    let s = |x: &Path| x.display().to_string();

    // create: ext4 VHDs, then EROFS with containerd's layout.
    let out = tmp.path().join("vhd");
    let args: Vec<String> = vec!["create".into(), image.clone(), "-o".into(), s(&out)];
    kill_and_rerun("create", &args, &out, &|| ());
    let out = tmp.path().join("erofs");
    let args: Vec<String> = vec![
        "create".into(),
        image.clone(),
        "-o".into(),
        s(&out),
        "--format".into(),
        "erofs".into(),
        "--containerd-cache".into(),
    ];
    kill_and_rerun("create --format erofs", &args, &out, &|| ());

    // composefs pull into a repository (its tag removed before each run so
    // every run writes), then seal.
    let repo = tmp.path().join("repo");
    let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
        .args(["composefs", "--hash", "sha256", "--repo", &s(&repo), "init"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let repo_args = |v: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = vec!["composefs".into(), "--repo".into(), s(&repo)];
        a.extend(v.iter().map(|x| x.to_string()));
        a
    };
    // Untag and collect, so that every pull writes every object again.
    let untag = || {
        let _ = std::fs::remove_file(repo.join("streams/refs/oci/t"));
        let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
            .args(["composefs", "--repo", &s(&repo), "gc"])
            .output()
            .unwrap();
        assert!(o.status.success(), "gc: {}", text(&o.stderr));
    };
    kill_and_rerun(
        "composefs pull",
        &repo_args(&["pull", &image, "t"]),
        &repo,
        &untag,
    );
    kill_and_rerun("composefs seal", &repo_args(&["seal", "t"]), &repo, &|| ());
    let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
        .args(repo_args(&["fsck"]))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "fsck: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}
