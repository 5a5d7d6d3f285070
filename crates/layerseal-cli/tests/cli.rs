//! Both binaries, run as users run them.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

fn expected() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(data().join("dmverity-vhd-expected.json")).unwrap(),
    )
    .unwrap()
}

fn dmverity_vhd(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dmverity-vhd"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

#[test]
fn hashlayer_prints_upstreams_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let exp = expected();
    for name in ["basic.tar", "whiteouts.tar", "unordered.tar"] {
        fixture(dir.path(), name);
        let e = &exp["layers"][name]["hashlayer"];
        // Long flags with one dash, as Go's flag package allows.
        let out = dmverity_vhd(&["hashlayer", "-input", name], dir.path());
        assert_eq!(text(&out.stdout), e["stdout"].as_str().unwrap(), "{name}");
        assert_eq!(
            out.status.code(),
            Some(e["exit_code"].as_i64().unwrap() as i32),
            "{name}"
        );
        assert_eq!(
            text(&out.stderr).trim_end(),
            e["stderr"].as_str().unwrap(),
            "{name}"
        );
    }
    // zstd, which upstream cannot read, gives the plain result.
    let plain = std::fs::read(dir.path().join("basic.tar")).unwrap();
    std::fs::write(
        dir.path().join("basic.tar.zst"),
        zstd::encode_all(&plain[..], 3).unwrap(),
    )
    .unwrap();
    let out = dmverity_vhd(&["hashlayer", "-t", "basic.tar.zst"], dir.path());
    assert_eq!(
        text(&out.stdout),
        exp["layers"]["basic.tar"]["hashlayer"]["stdout"]
            .as_str()
            .unwrap()
    );
}

#[test]
fn confcom_argv_shape_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    // Global flags before the command, single-dash long forms.
    let out = dmverity_vhd(
        &[
            "-v", "-b", "--vv", "-tarball", "x.tar", "-d", "roothash", "-i", "img:tag",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "cannot use both docker and tarball for image source"
    );
    let out = dmverity_vhd(&["roothash"], dir.path());
    assert_eq!(
        text(&out.stderr).trim(),
        "must provide -i/--image flag (not required only when using --tarball)"
    );
    let out = dmverity_vhd(&["--version"], dir.path());
    assert_eq!(out.status.code(), Some(1), "upstream rejects --version");
}

#[test]
fn create_dir_writes_upstreams_file_names() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), "basic.tar");
    let exp = expected();
    let out = dmverity_vhd(
        &["create", "-i", "basic.tar", "-o", "out", "-dir"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Directory VHD created at out/basic.vhd\n"
    );
    let vhd = std::fs::read(dir.path().join("out/basic.vhd")).unwrap();
    let e = &exp["layers"]["basic.tar"]["create_dir_vhd"];
    assert_eq!(vhd.len() as u64, e["file_size"].as_u64().unwrap());
    assert_eq!(
        hex::encode(Sha256::digest(&vhd[..1_298_432])),
        e["ext4_sha256"].as_str().unwrap()
    );

    let out = dmverity_vhd(
        &[
            "create",
            "--input",
            "basic.tar",
            "--out-dir",
            "hd",
            "--dir",
            "--hdv",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "hash device created at hd/basic.hash-dev.vhd\nDirectory VHD created at hd/basic.vhd\n"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("hd/basic.vhd"))
            .unwrap()
            .len(),
        1_298_944
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("hd/basic.hash-dev.vhd"))
            .unwrap()
            .len(),
        20_992
    );
}

#[test]
fn tar2hashed_fails_loudly_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), "unordered.tar");
    fixture(dir.path(), "basic.tar");
    let out = dmverity_vhd(
        &[
            "tar2hashed",
            "-i",
            "unordered.tar",
            "-o",
            "u.img",
            "-t",
            "ext4",
        ],
        dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "upstream exits 0 here; we do not"
    );
    assert!(!dir.path().join("u.img").exists());
    let out = dmverity_vhd(
        &["tar2hashed", "-i", "basic.tar", "-o", "b.img", "-t", "cim"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Windows"));
    let out = dmverity_vhd(
        &["tar2hashed", "-i", "basic.tar", "-o", "b.img", "-t", "ext4"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let img = std::fs::read(dir.path().join("b.img")).unwrap();
    let e = &expected()["layers"]["basic.tar"]["tar2hashed_ext4"];
    assert_eq!(img.len() as u64, e["file_size"].as_u64().unwrap());
    let out = dmverity_vhd(
        &["tar2hashed", "-i", "basic.tar", "-o", "b.img"],
        dir.path(),
    );
    assert_eq!(text(&out.stderr).trim(), "Required flag \"type\" not set");
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.tar"), b"certainly not a tar file").unwrap();
    let out = dmverity_vhd(&["hashlayer", "-t", "junk.tar"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).trim(), "input file is not a tar archive");
    let out = dmverity_vhd(&["hashlayer", "-t", "missing.tar"], dir.path());
    assert_eq!(
        text(&out.stderr).trim(),
        "open missing.tar: no such file or directory"
    );
    let out = dmverity_vhd(
        &["hashlayer", "-t", "junk.tar", "--platform", "plan9/amd64"],
        dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "upstream exits 0 with an empty line here"
    );
    // A truncated tar: cut basic.tar in the middle of a file's data.
    let basic = fixture(dir.path(), "basic.tar");
    let bytes = std::fs::read(&basic).unwrap();
    std::fs::write(dir.path().join("cut.tar"), &bytes[..200_000]).unwrap();
    let out = layerseal(&["layer", "cut.tar", "-o", "cut.img"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cut.tar") && err.contains("unexpected EOF") && err.contains("tar offset"),
        "{err}"
    );
    assert!(!dir.path().join("cut.img").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn native_layer_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), "xattrs.tar");
    let root = expected()["layers"]["xattrs.tar"]["create_dir_vhd"]["root_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let out = layerseal(&["layer", "xattrs.tar"], dir.path());
    assert_eq!(text(&out.stdout).trim(), root);
    let out = layerseal(
        &["layer", "xattrs.tar", "-o", "x.vhd", "--vhd", "--json"],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["root_hash"], root.as_str());
    let out = layerseal(&["verify", "x.vhd", "--root-hash", &root], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Flip one byte of file data: exit 3 naming the block.
    let mut img = std::fs::read(dir.path().join("x.vhd")).unwrap();
    img[9 * 4096 + 1] ^= 1;
    std::fs::write(dir.path().join("bad.vhd"), &img).unwrap();
    let out = layerseal(&["verify", "bad.vhd", "--root-hash", &root], dir.path());
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("data block 9"),
        "{}",
        text(&out.stderr)
    );
    // 16 GiB layout gives tar2hashed's root.
    let out = layerseal(
        &["layer", "xattrs.tar", "--max-disk-size", "16GiB"],
        dir.path(),
    );
    let want = expected()["layers"]["xattrs.tar"]["tar2hashed_ext4"]["root_hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(text(&out.stdout).trim(), want);
    let out = layerseal(&["layer"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

/// A USTAR header block (name ≤ 100 bytes) with a valid checksum.
fn ustar_header(name: &[u8], typeflag: u8, size: u64) -> Vec<u8> {
    let mut b = [0u8; 512];
    b[..name.len()].copy_from_slice(name);
    b[100..108].copy_from_slice(b"0000644\0");
    b[108..116].copy_from_slice(b"0000000\0");
    b[116..124].copy_from_slice(b"0000000\0");
    b[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    b[136..148].copy_from_slice(b"14524770400\0");
    b[148..156].fill(b' ');
    b[156] = typeflag;
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
    b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    b.to_vec()
}

/// One regular file whose PAX path is `path`, then the end marker.
fn tar_with_pax_path(path: &[u8]) -> Vec<u8> {
    let body_len = b" path=".len() + path.len() + 1;
    let mut n = body_len + 1;
    while n.to_string().len() + body_len != n {
        n = n.to_string().len() + body_len;
    }
    let mut rec = format!("{n} path=").into_bytes();
    rec.extend_from_slice(path);
    rec.push(b'\n');
    let mut out = ustar_header(b"PaxHeaders/x", b'x', rec.len() as u64);
    rec.resize(rec.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&rec);
    out.extend_from_slice(&ustar_header(b"x", b'0', 1));
    let mut data = vec![0u8; 512];
    data[0] = b'x';
    out.extend_from_slice(&data);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// A refused 5000-byte name is quoted in short (both ends and its length),
/// not printed whole, by every command that reads layers.
#[test]
fn errors_quote_long_names_in_short() {
    let dir = tempfile::tempdir().unwrap();
    let mut name = b"d/".to_vec();
    name.extend(std::iter::repeat_n(b'x', 5000));
    std::fs::write(dir.path().join("long.tar"), tar_with_pax_path(&name)).unwrap();
    for args in [
        &["layer", "long.tar"][..],
        &["layer", "long.tar", "--format", "erofs"],
    ] {
        let out = layerseal(args, dir.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("(5002 bytes)"), "{args:?}: {err}");
        assert!(err.len() < 1000, "{args:?}: {} bytes of message", err.len());
    }
    let out = dmverity_vhd(&["tar2hashed", "-i", "long.tar", "-o", "o.img"], dir.path());
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).len() < 1000, "{}", text(&out.stderr));
    assert!(!dir.path().join("o.img").exists());
}
