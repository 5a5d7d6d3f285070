//! Property tests on random layer trees: conversion never panics, is
//! deterministic, the streaming parallel hash equals a plain one, and an
//! independent reader (ext4-view) sees exactly the files that went in.

use std::collections::BTreeMap;

use ext4_view::Ext4;
use layerseal::ext4::{self, LAYOUT_128G};
use layerseal::layer::{convert_layer, LayerOptions};
use layerseal::sink::VecSink;
use layerseal::verity::{tree_of, Params};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Dir(String),
    File(String, Vec<u8>, u32),
    Symlink(String, String),
}

/// fsck.erofs 1.9 (scripts/install-erofs-utils.sh), required when
/// LAYERSEAL_REQUIRE_ORACLES is set; None (with a notice) otherwise.
fn fsck_erofs() -> Option<std::path::PathBuf> {
    let p = std::env::var_os("LAYERSEAL_EROFS_UTILS")
        .map_or_else(|| "/opt/erofs-utils/bin".into(), std::path::PathBuf::from)
        .join("fsck.erofs");
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("LAYERSEAL_REQUIRE_ORACLES").is_none(),
        "{} missing and LAYERSEAL_REQUIRE_ORACLES=1",
        p.display()
    );
    static NOTICE: std::sync::Once = std::sync::Once::new();
    NOTICE.call_once(|| {
        eprintln!(
            "SKIPPED: {} not found: random images not fsck'd",
            p.display()
        )
    });
    None
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,12}",
        "[a-zA-Z0-9._-]{1,40}".prop_filter("no dot names", |s| s != "."
            && s != ".."
            && !s.starts_with(".wh.")),
    ]
}

fn path() -> impl Strategy<Value = String> {
    proptest::collection::vec(name(), 1..4).prop_map(|v| v.join("/"))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        path().prop_map(Op::Dir),
        (
            path(),
            proptest::collection::vec(any::<u8>(), 0..9000),
            0u32..0o7777
        )
            .prop_map(|(p, d, m)| Op::File(p, d, m)),
        (path(), "[a-z/]{1,80}").prop_map(|(p, t)| Op::Symlink(p, t)),
    ]
}

/// Build a tar with the tar crate (an independent writer), keeping only
/// operations that do not collide with an earlier path or its parents.
fn build(ops: &[Op]) -> (Vec<u8>, BTreeMap<String, Vec<u8>>) {
    let mut files = BTreeMap::new();
    let mut taken: BTreeMap<String, bool> = BTreeMap::new(); // path -> is_dir
    let mut b = tar::Builder::new(Vec::new());
    'ops: for op in ops {
        let p = match op {
            Op::Dir(p) | Op::File(p, ..) | Op::Symlink(p, _) => p.clone(),
        };
        let parts: Vec<&str> = p.split('/').collect();
        for i in 1..parts.len() {
            if taken.get(&parts[..i].join("/")) == Some(&false) {
                continue 'ops; // a parent is a non-directory
            }
        }
        if taken.contains_key(&p) {
            continue;
        }
        for i in 1..parts.len() {
            taken.insert(parts[..i].join("/"), true);
        }
        let mut h = tar::Header::new_ustar();
        h.set_mtime(1_700_000_000);
        match op {
            Op::Dir(_) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, format!("{p}/"), &[][..]).unwrap();
                taken.insert(p, true);
            }
            Op::File(_, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, &p, &data[..]).unwrap();
                files.insert(p.clone(), data.clone());
                taken.insert(p, false);
            }
            Op::Symlink(_, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, &p, target).unwrap();
                taken.insert(p, false);
            }
        }
    }
    (b.into_inner().unwrap(), files)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_round_trip(ops in proptest::collection::vec(op(), 0..40)) {
        let (tar, files) = build(&ops);
        let (sink, summary) = ext4::convert(&tar[..], VecSink::default(), LAYOUT_128G).unwrap();
        prop_assert_eq!(sink.bytes.len() as u64, summary.blocks * 4096);

        // Deterministic.
        let (again, _) = ext4::convert(&tar[..], VecSink::default(), LAYOUT_128G).unwrap();
        prop_assert!(again.bytes == sink.bytes);

        // The streaming, multi-threaded hash equals a plain one over the bytes.
        let streamed = convert_layer(&tar[..], &LayerOptions { threads: 2, ..LayerOptions::default() }).unwrap();
        prop_assert_eq!(streamed.root_hash, tree_of(&Params::standard(), &sink.bytes).root_hex());

        // An independent reader finds every file with its content.
        let fs = Ext4::load(Box::new(sink.bytes)).unwrap();
        for (p, data) in &files {
            let abs = format!("/{p}");
            prop_assert_eq!(&fs.read(abs.as_str()).unwrap(), data, "{}", p);
        }
    }

    #[test]
    fn random_trees_as_erofs_read_back(ops in proptest::collection::vec(op(), 0..40)) {
        use layerseal::erofs::{self, reader::Image};
        let (tar, files) = build(&ops);
        let (sink, summary) = erofs::convert(&tar[..], VecSink::default(), [3; 16]).unwrap();
        prop_assert_eq!(sink.bytes.len() as u64, summary.blocks * 4096);
        let (again, _) = erofs::convert(&tar[..], VecSink::default(), [3; 16]).unwrap();
        prop_assert!(again.bytes == sink.bytes);
        let img = Image::open(&sink.bytes).unwrap();
        prop_assert!(img.sb.checksum_ok);
        let walked = img.walk().unwrap();
        for (p, data) in &files {
            let path = format!("/{p}");
            let (_, ino) = walked.iter().find(|(n, _)| n.as_slice() == path.as_bytes()).unwrap();
            prop_assert_eq!(&img.data(ino).unwrap(), data, "{}", p);
        }
    }

    /// The options nodes run mkfs.erofs with: `--sort=none`, any build
    /// time, `-T` alone, either release. The image reads back with every
    /// file's content, and the same options give the same bytes.
    #[test]
    fn random_trees_with_node_options_read_back(
        ops in proptest::collection::vec(op(), 0..40),
        build_time in prop_oneof![Just(0u64), Just(1_700_000_000u64), 0..5_000_000_000u64],
        all_time in any::<bool>(),
        sort_none in any::<bool>(),
        v18 in any::<bool>(),
    ) {
        use layerseal::erofs::{self, reader::Image, MkfsOptions, MkfsVersion};
        let (tar, files) = build(&ops);
        let opts = MkfsOptions {
            build_time,
            all_time,
            sort_none,
            version: if v18 { MkfsVersion::V1_8 } else { MkfsVersion::V1_9 },
        };
        let (sink, summary) = erofs::convert_with(&tar[..], VecSink::default(), [5; 16], &opts).unwrap();
        prop_assert_eq!(sink.bytes.len() as u64, summary.blocks * 4096);
        let (again, _) = erofs::convert_with(&tar[..], VecSink::default(), [5; 16], &opts).unwrap();
        prop_assert!(again.bytes == sink.bytes);
        let img = Image::open(&sink.bytes).unwrap();
        prop_assert!(img.sb.checksum_ok);
        let walked = img.walk().unwrap();
        for (p, data) in &files {
            let path = format!("/{p}");
            let (_, ino) = walked.iter().find(|(n, _)| n.as_slice() == path.as_bytes()).unwrap();
            prop_assert_eq!(&img.data(ino).unwrap(), data, "{}", p);
        }
        // An independent checker accepts it, where one is installed.
        if let Some(fsck) = fsck_erofs() {
            let f = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(f.path(), &sink.bytes).unwrap();
            let out = std::process::Command::new(fsck).arg(f.path()).output().unwrap();
            prop_assert!(out.status.success(), "fsck.erofs: {}", String::from_utf8_lossy(&out.stderr));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = convert_layer(&bytes[..], &LayerOptions::default());
    }

    #[test]
    fn mutated_tars_never_panic(ops in proptest::collection::vec(op(), 1..10), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let (mut tar, _) = build(&ops);
        let len = tar.len();
        for (at, v) in flips {
            tar[at % len] ^= v | 1;
        }
        let _ = convert_layer(&tar[..], &LayerOptions::default());
        let cut = len / 3;
        let _ = convert_layer(&tar[..cut], &LayerOptions::default());
    }
}
