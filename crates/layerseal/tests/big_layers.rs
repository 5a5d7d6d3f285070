//! The corpus's large layers (large.tar 43 MiB, huge.tar 300 MiB),
//! regenerated in-process byte for byte (Python's MT19937 and tarfile
//! layout) and checked against dmverity-vhd's results: input hash, ext4
//! bytes, tree and root. Slow-ish, so on only with LAYERSEAL_BIG_TESTS=1
//! (scripts/test-all.sh sets it); otherwise they say SKIPPED.

mod common;
#[path = "common/pyrandom.rs"]
mod pyrandom;
#[path = "common/pytar.rs"]
mod pytar;

use std::io::Read;

use layerseal::layer::{convert_layer, LayerOptions, Outputs};
use pyrandom::RandBytes;
use pytar::{Member, TarStream};
use sha2::{Digest, Sha256};

const MTIME: u64 = 1_700_000_000;

fn enabled(name: &str) -> bool {
    if std::env::var("LAYERSEAL_BIG_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("SKIPPED: {name} (set LAYERSEAL_BIG_TESTS=1 to run)");
    false
}

fn member(name: &str, seed: u32, size: u64) -> Member {
    Member {
        name: name.into(),
        mode: 0o644,
        mtime: MTIME,
        size,
        data: Box::new(RandBytes::new(seed, size)),
    }
}

fn layer(name: &str) -> Vec<Member> {
    match name {
        "large.tar" => vec![
            member("blob-40m", 40, 40 << 20),
            member("blob-3m-odd", 3, (3 << 20) + 123),
        ],
        "huge.tar" => (0..3)
            .map(|i| member(&format!("huge-{i}"), 100 + i, 100 << 20))
            .collect(),
        _ => unreachable!(),
    }
}

/// Hashes what passes through, to check the regenerated input.
struct Tee<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

fn check(name: &str) {
    let exp = common::expected();
    let e = &exp["layers"][name];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.vhd");
    let mut tee = Tee {
        inner: TarStream::new(layer(name)),
        hash: Sha256::new(),
    };
    let opts = LayerOptions {
        outputs: Outputs {
            image: Some(out.clone()),
            hash_device: None,
            vhd: true,
        },
        ..LayerOptions::default()
    };
    let report = convert_layer(&mut tee, &opts).unwrap();
    assert_eq!(
        hex::encode(tee.hash.finalize()),
        e["input_sha256"].as_str().unwrap(),
        "{name}: regenerated input"
    );
    let c = &e["create_dir_vhd"];
    assert_eq!(
        report.root_hash,
        c["root_hash"].as_str().unwrap(),
        "{name}: root"
    );
    assert_eq!(
        report.image_size,
        c["ext4_size"].as_u64().unwrap(),
        "{name}: ext4 size"
    );
    let mut f = std::fs::File::open(&out).unwrap();
    let mut ext4 = (&mut f).take(report.image_size);
    let mut h = Sha256::new();
    std::io::copy(&mut ext4, &mut h).unwrap();
    assert_eq!(
        hex::encode(h.finalize()),
        c["ext4_sha256"].as_str().unwrap(),
        "{name}: ext4 bytes"
    );
    let mut tree = vec![0u8; report.tree_size as usize];
    use std::os::unix::fs::FileExt;
    f.read_exact_at(&mut tree, report.image_size + 4096)
        .unwrap();
    assert_eq!(
        common::sha256_hex(&tree),
        c["tree_sha256"].as_str().unwrap(),
        "{name}: tree"
    );
}

/// The same layers as EROFS: root hash as mkfs.erofs + containerd give.
fn check_erofs(name: &str, tar_index: bool) {
    use layerseal::layer::{ErofsUuid, FsFormat};
    let variant = if tar_index { "tarindex_T0" } else { "full_T0" };
    let exp = common::erofs_expected();
    let e = &exp["layers"][name];
    let uuid = common::uuid_bytes(e["erofs_uuid"].as_str().unwrap());
    let opts = LayerOptions {
        format: FsFormat::Erofs,
        erofs_uuid: ErofsUuid::Fixed(uuid),
        tar_index,
        ..LayerOptions::default()
    };
    let report = convert_layer(TarStream::new(layer(name)), &opts).unwrap();
    assert_eq!(
        report.root_hash,
        e[variant]["dmverity"]["root_hash"].as_str().unwrap(),
        "{name}: erofs {variant} root"
    );
    assert_eq!(
        report.image_size,
        e[variant]["erofs_size"].as_u64().unwrap(),
        "{name}: erofs {variant} size"
    );
}

#[test]
fn large_and_huge_layers_as_erofs() {
    if enabled("large.tar / huge.tar EROFS vectors") {
        check_erofs("large.tar", false);
        check_erofs("huge.tar", false);
    }
}

/// large.tar with Kata's `--sort=none` and with `-T1700000000 --mkfs-time`
/// (the vectors have no huge.tar variants): root hash and image size.
#[test]
fn large_layer_with_node_mkfs_options() {
    use layerseal::erofs::{options::WallClock, MkfsOptions, MkfsVersion};
    use layerseal::layer::{ErofsUuid, FsFormat};
    if !enabled("large.tar EROFS --sort=none / -T1700000000 vectors") {
        return;
    }
    let exp = common::erofs_expected();
    let e = &exp["layers"]["large.tar"];
    let uuid = common::uuid_bytes(e["erofs_uuid"].as_str().unwrap());
    for (variant, words) in [
        ("full_T0_sortnone", "-T0 --mkfs-time --sort=none"),
        ("full_T1700000000", "-T1700000000 --mkfs-time"),
    ] {
        let opts = LayerOptions {
            format: FsFormat::Erofs,
            erofs_uuid: ErofsUuid::Fixed(uuid),
            mkfs: MkfsOptions::parse(&[words], MkfsVersion::V1_9, WallClock::Refuse).unwrap(),
            ..LayerOptions::default()
        };
        let report = convert_layer(TarStream::new(layer("large.tar")), &opts).unwrap();
        let v = &e[variant];
        assert_eq!(
            report.root_hash,
            v["dmverity"]["root_hash"].as_str().unwrap(),
            "large.tar {variant} root"
        );
        assert_eq!(report.image_size, v["erofs_size"].as_u64().unwrap());
    }
}

#[test]
fn large_and_huge_layers_as_tar_index_erofs() {
    if enabled("large.tar / huge.tar EROFS tar-index vectors") {
        check_erofs("large.tar", true);
        check_erofs("huge.tar", true);
    }
}

#[test]
fn pyrandom_matches_python() {
    // python3 -c 'import random; print(random.Random(7).randbytes(10).hex())'
    let mut b = Vec::new();
    RandBytes::new(7, 10).read_to_end(&mut b).unwrap();
    assert_eq!(hex::encode(b), "38b4e652e44da7f29e26");
}

#[test]
fn large_layer_matches_dmverity_vhd() {
    if enabled("large.tar vectors") {
        check("large.tar");
    }
}

#[test]
fn huge_layer_matches_dmverity_vhd() {
    if enabled("huge.tar vectors") {
        check("huge.tar");
    }
}

/// composefs image ids of [usrbase, NAME] as cfsctl computes them (the
/// layer is streamed: objects are hashed as they pass).
fn check_composefs(name: &str) {
    use layerseal::composefs::oci::{compute_id, DigestOnly, IdOptions};
    use layerseal::verity::Algorithm;
    let text = std::fs::read_to_string(common::data_dir().join("composefs-oci.json")).unwrap();
    let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
    let image = &vectors["images"][name.trim_end_matches(".tar")];
    for (key, alg) in [
        ("image_id_v1_sha256", Algorithm::Sha256),
        ("image_id_v1_sha512", Algorithm::Sha512),
    ] {
        let usrbase = common::layer("usrbase.tar");
        let layers: Vec<Box<dyn Read>> = vec![
            Box::new(std::io::Cursor::new(usrbase)),
            Box::new(TarStream::new(layer(name))),
        ];
        let mut store = DigestOnly {
            algorithm: alg,
            threads: 0,
        };
        let (_, id) = compute_id(layers, &mut store, IdOptions::default()).unwrap();
        assert_eq!(
            hex::encode(id),
            image[key].as_str().unwrap(),
            "{name} {key}"
        );
    }
}

#[test]
fn large_and_huge_layers_composefs_ids() {
    if enabled("large.tar / huge.tar composefs ids") {
        check_composefs("large.tar");
        check_composefs("huge.tar");
    }
}
