//! Independent tools accept our outputs: e2fsck, veritysetup (verify, and
//! format producing the very same tree), qemu-img (VHD size).
//!
//! These need e2fsprogs, cryptsetup-bin and qemu-utils. Without them the
//! tests say SKIPPED on stderr and pass, unless LAYERSEAL_REQUIRE_ORACLES=1
//! (set by scripts/test-all.sh), which makes a missing tool a failure.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

const LAYERS: &[&str] = &[
    "basic.tar",
    "bigdir.tar",
    "devices.tar",
    "empty.tar",
    "gnu-names.tar",
    "names.tar",
    "sparse.tar",
    "whiteouts.tar",
    "xattrs.tar",
];

/// The tool's path, or None after a visible notice (or a panic when required).
fn tool(name: &str, package: &str) -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Some(p);
        }
    }
    if std::env::var("LAYERSEAL_REQUIRE_ORACLES").as_deref() == Ok("1") {
        panic!("{name} not found (install {package}); LAYERSEAL_REQUIRE_ORACLES=1");
    }
    eprintln!("SKIPPED: {name} not found (install {package}); oracle check not run");
    None
}

struct Built {
    root: String,
    ext4_size: u64,
    uuid: String,
}

/// `layerseal layer NAME -o OUT [extra]` with --json.
fn build(dir: &Path, name: &str, out: &str, extra: &[&str]) -> Built {
    fixture(dir, name);
    let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
        .args(["layer", name, "-o", out, "--json"])
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    Built {
        root: v["root_hash"].as_str().unwrap().to_string(),
        ext4_size: v["filesystem_size"].as_u64().unwrap(),
        uuid: v["verity_uuid"].as_str().unwrap().to_string(),
    }
}

#[test]
fn e2fsck_finds_only_the_known_bitmap_padding() {
    let Some(e2fsck) = tool("e2fsck", "e2fsprogs") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in LAYERS {
        let img = format!("{name}.img");
        build(dir.path(), name, &img, &[]);
        let o = Command::new(&e2fsck)
            .args(["-fn", &img])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        let code = o.status.code().unwrap();
        assert!(code == 0 || code == 4, "{name}: e2fsck exit {code}\n{out}");
        for line in out.lines().filter(|l| l.contains('?')) {
            // compactext4 leaves the inode-bitmap padding unset (upstream
            // images have the same complaint; hcsshim PR #2811).
            assert!(
                line.starts_with("Padding at end of inode bitmap is not set"),
                "{name}: {line}\n{out}"
            );
        }
    }
}

#[test]
fn veritysetup_verifies_and_formats_the_same_tree() {
    let Some(veritysetup) = tool("veritysetup", "cryptsetup-bin") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in ["basic.tar", "bigdir.tar", "sparse.tar", "empty.tar"] {
        let img = format!("{name}.img");
        let b = build(dir.path(), name, &img, &[]);
        let off = format!("--hash-offset={}", b.ext4_size);
        let o = Command::new(&veritysetup)
            .args(["verify", &img, &img, &b.root, &off])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: veritysetup verify: {}",
            String::from_utf8_lossy(&o.stderr)
        );

        // veritysetup format over a copy of our ext4 with the same UUID
        // must write exactly our superblock and tree.
        let ours = std::fs::read(dir.path().join(&img)).unwrap();
        let copy = dir.path().join(format!("{name}.vs"));
        std::fs::write(&copy, &ours[..b.ext4_size as usize]).unwrap();
        let u = &b.uuid;
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &u[0..8],
            &u[8..12],
            &u[12..16],
            &u[16..20],
            &u[20..32]
        );
        let o = Command::new(&veritysetup)
            .args([
                "format",
                "--format=1",
                "--hash=sha256",
                "--data-block-size=4096",
                "--hash-block-size=4096",
            ])
            .arg(format!("--salt={}", "0".repeat(64)))
            .arg(format!("--uuid={uuid}"))
            .arg(&off)
            .arg(&copy)
            .arg(&copy)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: veritysetup format: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let theirs = std::fs::read(&copy).unwrap();
        assert_eq!(theirs.len(), ours.len(), "{name}: size");
        assert!(
            theirs == ours,
            "{name}: veritysetup's superblock+tree differ from ours"
        );
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            stdout.contains(&b.root),
            "{name}: root hash not in veritysetup output:\n{stdout}"
        );

        // A flipped data byte must fail verification.
        let mut bad = ours.clone();
        bad[5 * 4096 + 3] ^= 0x20;
        let bad_path = dir.path().join(format!("{name}.bad"));
        std::fs::write(&bad_path, &bad).unwrap();
        let o = Command::new(&veritysetup)
            .arg("verify")
            .arg(&bad_path)
            .arg(&bad_path)
            .arg(&b.root)
            .arg(&off)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{name}: corruption not detected");
    }

    // Separate hash device.
    let b = build(
        dir.path(),
        "xattrs.tar",
        "data.img",
        &["--hash-dev", "hash.img"],
    );
    let o = Command::new(&veritysetup)
        .args(["verify", "data.img", "hash.img", &b.root])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "hash device: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn qemu_img_reads_the_vhd_size() {
    let Some(qemu_img) = tool("qemu-img", "qemu-utils") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in ["basic.tar", "whiteouts.tar"] {
        let vhd = format!("{name}.vhd");
        build(dir.path(), name, &vhd, &["--vhd"]);
        let len = std::fs::metadata(dir.path().join(&vhd)).unwrap().len();
        let o = Command::new(&qemu_img)
            .args(["info", "--output=json", "--image-opts"])
            .arg(format!(
                "driver=vpc,force_size_calc=current_size,file.filename={vhd}"
            ))
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["virtual-size"].as_u64(), Some(len - 512), "{name}: {v}");
    }
}

fn erofs_expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data().join("erofs-expected.json")).unwrap())
        .unwrap()
}

/// Loop-mount the EROFS file `img` on `mnt`, run `f` on the mount point,
/// unmount. None (after a notice) when the kernel refuses and oracles are
/// not required.
fn with_erofs_mounted<T>(img: &Path, mnt: &Path, f: impl FnOnce(&Path) -> T) -> Option<T> {
    std::fs::create_dir_all(mnt).unwrap();
    let m = Command::new("mount")
        .args(["-o", "loop,ro", "-t", "erofs"])
        .arg(img)
        .arg(mnt)
        .output()
        .unwrap();
    if !m.status.success() {
        let why = String::from_utf8_lossy(&m.stderr).trim().to_string();
        if std::env::var("LAYERSEAL_REQUIRE_ORACLES").as_deref() == Ok("1") {
            panic!("{}: mount failed: {why}", img.display());
        }
        eprintln!("SKIPPED: kernel EROFS mount ({why})");
        return None;
    }
    let out = f(mnt);
    let _ = Command::new("umount").arg(mnt).status();
    Some(out)
}

/// sha256 of testenv/fs-listing.py's listing of a mounted tree (what the
/// vectors' `tree_sha256` hashes).
fn listing_sha256(mnt: &Path) -> String {
    let listing = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testenv/fs-listing.py");
    let l = Command::new("python3")
        .arg(&listing)
        .arg(mnt)
        .arg("--sha256")
        .output()
        .unwrap();
    String::from_utf8_lossy(&l.stdout).trim().to_string()
}

#[test]
fn fsck_erofs_accepts_and_the_kernel_lists_what_mkfs_images_show() {
    let Some(fsck) = tool("fsck.erofs", "erofs-utils") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let exp = erofs_expected();
    let is_root = is_root();
    let mut mounted = 0;
    for name in LAYERS.iter().chain(["unordered.tar"].iter()) {
        let img = format!("{name}.erofs");
        fixture(dir.path(), name);
        let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
            .args(["layer", name, "--format", "erofs", "-o", &img])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = Command::new(&fsck)
            .arg(&img)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: fsck.erofs: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        if !is_root {
            continue;
        }
        let mnt = dir.path().join(format!("mnt-{name}"));
        let Some((got, sparse_ok)) = with_erofs_mounted(&dir.path().join(&img), &mnt, |mnt| {
            let sparse_ok = (*name == "sparse.tar").then(|| {
                // The expanded file (holes as zeros) as Python's tarfile reads it.
                let py = "import hashlib,sys,tarfile\nt=tarfile.open(sys.argv[1])\nm=[x for x in t.getmembers() if x.isfile()][0]\nprint(hashlib.sha256(t.extractfile(m).read()).hexdigest())";
                let want = Command::new("python3").args(["-c", py]).arg(dir.path().join(name)).output().unwrap();
                let got = Command::new("sha256sum").arg(mnt.join("holes")).output().unwrap();
                String::from_utf8_lossy(&got.stdout).split_whitespace().next() == String::from_utf8_lossy(&want.stdout).split_whitespace().next()
            });
            (listing_sha256(mnt), sparse_ok)
        }) else {
            continue;
        };
        if let Some(ok) = sparse_ok {
            assert!(
                ok,
                "sparse.tar: the mounted file differs from the tar's expanded content"
            );
        }
        let want = exp["layers"][name]["full_T0"]["tree_sha256"]
            .as_str()
            .unwrap_or("");
        if *name == "sparse.tar" {
            // mkfs.erofs dropped the file; ours must hold it.
            assert_ne!(
                got, want,
                "sparse.tar should differ from mkfs's lossy image"
            );
        } else {
            assert_eq!(
                got, want,
                "{name}: kernel listing differs from mkfs.erofs's image"
            );
        }
        mounted += 1;
    }
    if is_root && mounted > 0 {
        eprintln!("kernel mounted {mounted} EROFS images");
    } else if !is_root {
        eprintln!("SKIPPED: kernel EROFS mounts need root");
    }
}

/// Tar-index files (index + tar + tree) as the kernel sees them: mounted
/// directly, file data read through the device table from the appended tar.
#[test]
fn the_kernel_lists_what_tar_index_images_show() {
    if !is_root() {
        eprintln!("SKIPPED: kernel EROFS mounts of tar-index images need root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exp = erofs_expected();
    let mut mounted = 0;
    for name in LAYERS.iter().filter(|n| **n != "sparse.tar") {
        let img = format!("{name}.ti.erofs");
        fixture(dir.path(), name);
        let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
            .args([
                "layer",
                name,
                "--format",
                "erofs",
                "--tar-index",
                "-o",
                &img,
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mnt = dir.path().join(format!("mnt-ti-{name}"));
        let Some(got) = with_erofs_mounted(&dir.path().join(&img), &mnt, listing_sha256) else {
            return;
        };
        let want = exp["layers"][name]["full_T0"]["tree_sha256"]
            .as_str()
            .unwrap();
        assert_eq!(got, want, "{name}: kernel listing of the tar-index image");
        mounted += 1;
    }
    eprintln!("kernel mounted {mounted} tar-index EROFS images");
}

/// A current mkfs.erofs (scripts/install-erofs-utils.sh builds 1.9.x into
/// /opt/erofs-utils; Debian 12's 1.5 has no --tar), or None after a notice.
fn modern_erofs_tool(name: &str) -> Option<PathBuf> {
    let p = std::env::var_os("LAYERSEAL_EROFS_UTILS")
        .map_or_else(|| PathBuf::from("/opt/erofs-utils/bin"), PathBuf::from)
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} not found (run scripts/install-erofs-utils.sh); live mkfs.erofs comparison not run",
            p.display()
        );
        None
    }
}

/// Byte-for-byte against a live mkfs.erofs on every corpus layer, in full
/// and tar-index mode, and fsck.erofs 1.9 on our tar-index files (Debian's
/// 1.5 cannot read 512-byte blocks).
#[test]
fn live_mkfs_erofs_writes_the_same_bytes() {
    let (Some(mkfs), Some(fsck)) = (
        modern_erofs_tool("mkfs.erofs"),
        modern_erofs_tool("fsck.erofs"),
    ) else {
        return;
    };
    const UUID: &str = "0f789282-b20c-5ad9-9dc7-33f9cb926c4b";
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "basic.tar",
        "bigdir.tar",
        "devices.tar",
        "empty.tar",
        "gnu-names.tar",
        "names.tar",
        "unordered.tar",
        "usrbase.tar",
        "wh-lower.tar",
        "whiteouts.tar",
        "xattrs.tar",
    ];
    for name in names {
        let tar = fixture(dir.path(), name);
        for (mode, extra) in [("f", &["-Enoinline_data"][..]), ("i", &[][..])] {
            let theirs = dir.path().join(format!("{name}.{mode}.mkfs"));
            let o = Command::new(&mkfs)
                .arg(format!("--tar={mode}"))
                .args(["--aufs", "--quiet"])
                .args(extra)
                .args(["-b4096", "-T0", "--mkfs-time", "-U", UUID])
                .arg(&theirs)
                .stdin(std::fs::File::open(&tar).unwrap())
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{name}: mkfs.erofs: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let ours = dir.path().join(format!("{name}.{mode}.erofs"));
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_layerseal"));
            cmd.args([
                "layer",
                name,
                "--format",
                "erofs",
                "--erofs-uuid",
                UUID,
                "--json",
                "-o",
            ])
            .arg(&ours)
            .current_dir(dir.path());
            if mode == "i" {
                cmd.arg("--tar-index");
            }
            let o = cmd.output().unwrap();
            assert!(
                o.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let image_size = v["filesystem_size"].as_u64().unwrap() as usize;
            let theirs = std::fs::read(&theirs).unwrap();
            let ours_bytes = std::fs::read(&ours).unwrap();
            let mut want = theirs.clone();
            if mode == "i" {
                // containerd appends the tar to mkfs's index.
                want.extend_from_slice(&std::fs::read(&tar).unwrap());
                want.resize(want.len().div_ceil(512) * 512, 0);
            }
            assert_eq!(image_size, want.len(), "{name} --tar={mode}: image size");
            if let Some(at) = (0..image_size).find(|&i| ours_bytes[i] != want[i]) {
                panic!("{name} --tar={mode}: first differing byte at {at}");
            }
            let o = Command::new(&fsck).arg(&ours).output().unwrap();
            assert!(
                o.status.success(),
                "{name} --tar={mode}: fsck.erofs 1.9: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    eprintln!(
        "live mkfs.erofs: {} layers equal in full and tar-index mode",
        names.len()
    );
}

/// veritysetup (userspace verify) accepts the 512-byte-block tree of a
/// tar-index file, reading the superblock where the sidecar says.
#[test]
fn veritysetup_verifies_tar_index_files() {
    let Some(vs) = tool("veritysetup", "cryptsetup-bin") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in ["basic.tar", "bigdir.tar", "xattrs.tar"] {
        fixture(dir.path(), name);
        let img = format!("{name}.ti.erofs");
        let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
            .args([
                "layer",
                name,
                "--format",
                "erofs",
                "--tar-index",
                "-o",
                &img,
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let side: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("{img}.dmverity"))).unwrap(),
        )
        .unwrap();
        let offset = side["hashoffset"].as_u64().unwrap().to_string();
        let root = side["roothash"].as_str().unwrap();
        let o = Command::new(&vs)
            .args(["verify", "--hash-offset", &offset, &img, &img, root])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: veritysetup verify: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// `layerseal fsverity-digest` prints what fsverity-utils' `fsverity
/// digest` prints, for sizes around the block and tree-level boundaries.
#[test]
fn fsverity_digest_matches_fsverity_utils() {
    let Some(fsverity) = tool("fsverity", "fsverity") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sizes = [
        0usize,
        1,
        4095,
        4096,
        4097,
        128 * 4096,
        128 * 4096 + 1,
        3 << 20,
    ];
    let mut files = Vec::new();
    for (i, n) in sizes.iter().enumerate() {
        let p = dir.path().join(format!("f{i}"));
        let data: Vec<u8> = (0..*n).map(|j| (j % 251) as u8 ^ (i as u8)).collect();
        std::fs::write(&p, data).unwrap();
        files.push(p);
    }
    for alg in ["sha256", "sha512"] {
        let theirs = Command::new(&fsverity)
            .args(["digest", "--hash-alg", alg])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            theirs.status.success(),
            "{}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        let ours = Command::new(env!("CARGO_BIN_EXE_layerseal"))
            .args(["fsverity-digest", "--hash-alg", alg])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            ours.status.success(),
            "{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{alg}"
        );
    }
}

/// The mkfs options nodes are configured with, our `mkfs.erofs` symlink
/// against a live mkfs.erofs 1.9 on every corpus layer: `-T` alone (every
/// mtime set to the build time), `--all-time`, `--sort=none` with other
/// build times, hex `-T`. fsck.erofs 1.9 accepts ours.
#[test]
fn live_mkfs_erofs_agrees_on_deployed_options() {
    let (Some(mkfs), Some(fsck)) = (
        modern_erofs_tool("mkfs.erofs"),
        modern_erofs_tool("fsck.erofs"),
    ) else {
        return;
    };
    const UUID: &str = "0f789282-b20c-5ad9-9dc7-33f9cb926c4b";
    let dir = tempfile::tempdir().unwrap();
    let ours_bin = dir.path().join("mkfs.erofs");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_layerseal"), &ours_bin).unwrap();
    let option_sets: [&[&str]; 5] = [
        &["-T0", "--mkfs-time", "--sort=none"],
        &["-T1700000000"],
        &["-T1700000000", "--mkfs-time", "--sort=none"],
        &["-T5", "--all-time", "--sort=none"],
        &["-T0x10", "--mkfs-time"],
    ];
    let mut compared = 0;
    for name in [
        "basic.tar",
        "bigdir.tar",
        "devices.tar",
        "gnu-names.tar",
        "names.tar",
        "unordered.tar",
        "usrbase.tar",
        "wh-lower.tar",
        "whiteouts.tar",
        "xattrs.tar",
    ] {
        let tar = fixture(dir.path(), name);
        for (k, opts) in option_sets.iter().enumerate() {
            let mut outs = Vec::new();
            for (who, bin) in [("mkfs", &mkfs), ("ours", &ours_bin)] {
                let out = dir.path().join(format!("{name}.{k}.{who}"));
                let o = Command::new(bin)
                    .args(["--tar=f", "--aufs", "--quiet", "-Enoinline_data", "-b4096"])
                    .args(*opts)
                    .args(["-U", UUID])
                    .arg(&out)
                    .stdin(std::fs::File::open(&tar).unwrap())
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "{who} {name} {opts:?}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                outs.push(std::fs::read(&out).unwrap());
            }
            assert!(
                outs[0] == outs[1],
                "{name} {opts:?}: bytes differ from mkfs.erofs"
            );
            let o = Command::new(&fsck)
                .arg(dir.path().join(format!("{name}.{k}.ours")))
                .output()
                .unwrap();
            assert!(o.status.success(), "fsck.erofs {name} {opts:?}");
            compared += 1;
        }
    }
    eprintln!("{compared} images byte-identical to a live mkfs.erofs");
}

/// openssl accepts `sign`'s signatures for every key kind, against the
/// test CA, over exactly the root hash text (and refuses other text).
#[test]
fn openssl_smime_verifies_root_hash_signatures() {
    let Some(openssl) = tool("openssl", "openssl") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let image = oci_layout(&t.path().join("img"), &["basic.tar", "names.tar"]);
    let pki = |n: &str| data().join("test-pki").join(n).display().to_string();
    for (cert, key) in [
        ("rsa.pem", "rsa.key"),
        ("p256.pem", "p256.key"),
        ("p384.pem", "p384.key"),
        ("chained.pem", "chained.key"),
    ] {
        let out = t.path().join(key);
        let o = Command::new(env!("CARGO_BIN_EXE_layerseal"))
            .args([
                "sign",
                &image,
                "--format",
                "erofs",
                "--cert",
                &pki(cert),
                "--key",
                &pki(key),
                "-o",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for i in 0..2 {
            let smime = |content: &Path| {
                Command::new(&openssl)
                    .args([
                        "smime",
                        "-verify",
                        "-binary",
                        "-inform",
                        "der",
                        "-purpose",
                        "any",
                        "-out",
                        "/dev/null",
                    ])
                    .arg("-in")
                    .arg(out.join(format!("layer-{i}.pkcs7.sig")))
                    .arg("-content")
                    .arg(content)
                    .args(["-CAfile", &pki("ca.pem")])
                    .output()
                    .unwrap()
            };
            let o = smime(&out.join(format!("layer-{i}.roothash")));
            assert!(
                o.status.success(),
                "{key} layer {i}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let other = t.path().join("other");
            std::fs::write(&other, "0".repeat(64)).unwrap();
            assert!(
                !smime(&other).status.success(),
                "{key}: other content accepted"
            );
        }
    }
}
