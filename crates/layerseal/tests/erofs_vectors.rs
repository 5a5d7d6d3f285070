//! EROFS images equal mkfs.erofs 1.9.3's (`--tar=f --aufs -Enoinline_data
//! -b4096 -T0 --mkfs-time -U <uuid>`) on the corpus layers.

mod common;

use layerseal::erofs;
use layerseal::sink::VecSink;

use common::{erofs_expected as expected, erofs_layers, uuid_bytes};

#[test]
fn erofs_images_match_mkfs() {
    let exp = expected();
    let mut failures = Vec::new();
    for name in erofs_layers() {
        let e = &exp["layers"][name];
        let tar = common::layer(name);
        let uuid = uuid_bytes(e["erofs_uuid"].as_str().unwrap());
        let (sink, summary) = erofs::convert(&tar[..], VecSink::default(), uuid)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let f = &e["full_T0"];
        let got = common::sha256_hex(&sink.bytes);
        eprintln!("{name}: {} bytes, sha256 {got}", sink.bytes.len());
        if got != f["erofs_sha256"].as_str().unwrap() {
            failures.push(format!(
                "{name}: size {} (want {}), blocks {} inodes {} (want {} / {})",
                sink.bytes.len(),
                f["erofs_size"],
                summary.blocks,
                summary.inodes,
                f["superblock"]["blocks"],
                f["superblock"]["inos"]
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The whole file containerd's differ + FormatLayer would write (image,
/// verity superblock with the vectors' fixed UUID, tree) and the sidecar.
#[test]
fn erofs_layers_with_verity_match_containerd() {
    use layerseal::layer::{convert_layer, FsFormat, LayerOptions, Outputs};
    let exp = expected();
    let fixed = uuid_bytes(exp["verity_uuid_used_in_vectors"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = erofs_layers().map(|n| (n, common::layer(n))).collect();
    // The differ names the image after the compressed blob: a .gz layer
    // gets another UUID, so another root.
    cases.push((
        "basic.tar.gz",
        std::fs::read(common::data_dir().join("corpus/basic.tar.gz")).unwrap(),
    ));
    for (name, bytes) in cases {
        let e = &exp["layers"][name]["full_T0"]["dmverity"];
        let out = dir.path().join(format!("{name}.erofs"));
        let opts = LayerOptions {
            outputs: Outputs {
                image: Some(out.clone()),
                ..Outputs::default()
            },
            format: FsFormat::Erofs,
            verity_uuid: Some(fixed),
            ..LayerOptions::default()
        };
        let r = convert_layer(&bytes[..], &opts).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            r.root_hash,
            e["root_hash"].as_str().unwrap(),
            "{name}: root"
        );
        let file = std::fs::read(&out).unwrap();
        assert_eq!(
            file.len() as u64,
            e["final_size"].as_u64().unwrap(),
            "{name}: size"
        );
        assert_eq!(
            common::sha256_hex(&file),
            e["final_sha256_with_fixed_verity_uuid"].as_str().unwrap(),
            "{name}: whole file"
        );
        let sidecar =
            std::fs::read_to_string(dir.path().join(format!("{name}.erofs.dmverity"))).unwrap();
        assert_eq!(
            sidecar,
            e["dmverity_sidecar"].as_str().unwrap(),
            "{name}: sidecar"
        );
    }
}

#[test]
fn sparse_files_keep_their_data_unlike_mkfs() {
    // mkfs.erofs drops GNU sparse members (its image has only the root);
    // ours holds the 8 MiB file, holes reading as zeros.
    let tar = common::layer("sparse.tar");
    let (sink, summary) = erofs::convert(&tar[..], VecSink::default(), [1; 16]).unwrap();
    assert!(summary.blocks > 2048, "{summary:?}");
    let exp = expected();
    assert_ne!(
        common::sha256_hex(&sink.bytes),
        exp["layers"]["sparse.tar"]["full_T0"]["erofs_sha256"]
            .as_str()
            .unwrap()
    );
}

/// Our reader's listing of our images equals the kernel's listing of
/// mkfs.erofs's images (the vectors' `tree`), line for line.
#[test]
fn reader_lists_what_the_kernel_listed() {
    use layerseal::erofs::reader::{listing, Image};
    let exp = expected();
    for name in erofs_layers() {
        let e = &exp["layers"][name];
        let tar = common::layer(name);
        let (sink, _) = erofs::convert(
            &tar[..],
            VecSink::default(),
            uuid_bytes(e["erofs_uuid"].as_str().unwrap()),
        )
        .unwrap();
        let img = Image::open(&sink.bytes).unwrap();
        assert!(img.sb.checksum_ok, "{name}: superblock checksum");
        let got = listing(&img).unwrap();
        if let Some(lines) = e["full_T0"]["tree"].as_array() {
            let want: Vec<String> = lines
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(
            common::sha256_hex(got.join("\n").as_bytes()),
            e["full_T0"]["tree_sha256"].as_str().unwrap(),
            "{name}: listing"
        );
    }
}

#[test]
fn corrupted_images_give_errors_not_panics() {
    use layerseal::erofs::reader::{listing, Image};
    let tar = common::layer("xattrs.tar");
    let (sink, _) = erofs::convert(&tar[..], VecSink::default(), [7; 16]).unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        let mut b = sink.bytes.clone();
        for _ in 0..4 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let at = (rng % b.len() as u64) as usize;
            b[at] ^= (rng >> 32) as u8 | 1;
        }
        if let Ok(img) = Image::open(&b) {
            let _ = listing(&img);
        }
        let _ = Image::open(&b[..(rng % b.len() as u64) as usize]);
    }
}

/// Tar-index layers (`mkfs.erofs --tar=i` + the tar appended + 512-byte
/// dm-verity): the index+tar bytes, root hash, whole file and sidecar.
#[test]
fn tar_index_layers_match_containerd() {
    use layerseal::layer::{convert_layer, FsFormat, LayerOptions, Outputs};
    let exp = expected();
    let fixed = uuid_bytes(exp["verity_uuid_used_in_vectors"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = erofs_layers().map(|n| (n, common::layer(n))).collect();
    for name in ["basic.tar.gz", "basic.tar.zst"] {
        let path = common::data_dir().join("corpus").join(name);
        cases.push((name, std::fs::read(path).unwrap()));
    }
    for (name, bytes) in cases {
        let e = &exp["layers"][name]["tarindex_T0"];
        let v = &e["dmverity"];
        let out = dir.path().join(format!("{name}.erofs"));
        let opts = LayerOptions {
            outputs: Outputs {
                image: Some(out.clone()),
                ..Outputs::default()
            },
            format: FsFormat::Erofs,
            tar_index: true,
            verity_uuid: Some(fixed),
            ..LayerOptions::default()
        };
        let r = convert_layer(&bytes[..], &opts).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            r.root_hash,
            v["root_hash"].as_str().unwrap(),
            "{name}: root"
        );
        let file = std::fs::read(&out).unwrap();
        let image_len = e["erofs_size"].as_u64().unwrap() as usize;
        assert_eq!(r.image_size, image_len as u64, "{name}: image size");
        assert_eq!(
            common::sha256_hex(&file[..image_len]),
            e["erofs_sha256"].as_str().unwrap(),
            "{name}: index + tar"
        );
        assert_eq!(
            common::sha256_hex(&file),
            v["final_sha256_with_fixed_verity_uuid"].as_str().unwrap(),
            "{name}: whole file"
        );
        let sidecar =
            std::fs::read_to_string(dir.path().join(format!("{name}.erofs.dmverity"))).unwrap();
        assert_eq!(
            sidecar,
            v["dmverity_sidecar"].as_str().unwrap(),
            "{name}: sidecar"
        );
        // Our reader follows the chunk indexes into the appended tar and
        // lists what the kernel listed for mkfs's full image.
        let img = layerseal::erofs::reader::Image::open(&file).unwrap();
        assert!(img.sb.checksum_ok, "{name}: superblock checksum");
        let got = layerseal::erofs::reader::listing(&img).unwrap();
        let base = name.trim_end_matches(".gz").trim_end_matches(".zst");
        assert_eq!(
            common::sha256_hex(got.join("\n").as_bytes()),
            exp["layers"][base]["full_T0"]["tree_sha256"]
                .as_str()
                .unwrap(),
            "{name}: listing through the tar-index"
        );
    }
}

/// A GNU sparse member has no single run of data in the tar to point at:
/// tar-index mode refuses it (mkfs.erofs silently drops the file) and
/// leaves no output behind.
#[test]
fn tar_index_refuses_sparse_members() {
    use layerseal::layer::{convert_layer, FsFormat, LayerOptions, Outputs};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sparse.erofs");
    let opts = LayerOptions {
        outputs: Outputs {
            image: Some(out.clone()),
            ..Outputs::default()
        },
        format: FsFormat::Erofs,
        tar_index: true,
        ..LayerOptions::default()
    };
    let err = convert_layer(&common::layer("sparse.tar")[..], &opts).unwrap_err();
    assert!(err.to_string().contains("sparse"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
