//! Whole outputs equal dmverity-vhd's: root hashes (`hashlayer`), the
//! `create --dir` VHD and the `tar2hashed` image, compared after masking
//! the bytes upstream fills at random (verity UUID, VHD checksum and id).

mod common;

use layerseal::ext4::{LAYOUT_128G, LAYOUT_16G};
use layerseal::layer::{convert_layer, LayerError, LayerOptions, Outputs};

fn masked(mut bytes: Vec<u8>, ext4_size: usize, vhd: bool) -> String {
    bytes[ext4_size + 16..ext4_size + 32].fill(0);
    if vhd {
        let footer = bytes.len() - 512;
        bytes[footer + 64..footer + 84].fill(0);
    }
    common::sha256_hex(&bytes)
}

#[test]
fn root_hashes_match_hashlayer() {
    let exp = common::expected();
    for name in common::SMALL_LAYERS {
        let tar = common::layer(name);
        let e = &exp["layers"][name]["hashlayer"];
        let result = convert_layer(&tar[..], &LayerOptions::default());
        if e["exit_code"] == 0 {
            let report = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                format!("{}\n", report.root_hash),
                e["stdout"].as_str().unwrap(),
                "{name}"
            );
        } else {
            let err = result.expect_err(name);
            assert_eq!(
                format!("failed to convert tar to ext4: {err}"),
                e["stderr"].as_str().unwrap()
            );
        }
    }
}

#[test]
fn compressed_inputs_give_the_plain_result() {
    let exp = common::expected();
    let plain = common::layer("basic.tar");
    let gz = std::fs::read(common::data_dir().join("corpus/basic.tar.gz")).unwrap();
    let zst = zstd::encode_all(&plain[..], 3).unwrap();
    let want = exp["layers"]["basic.tar"]["root_hash"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let want = if want.is_empty() {
        exp["layers"]["basic.tar"]["hashlayer"]["stdout"]
            .as_str()
            .unwrap()
            .trim()
            .to_string()
    } else {
        want
    };
    for input in [gz, zst] {
        let r = convert_layer(&input[..], &LayerOptions::default()).unwrap();
        assert_eq!(r.root_hash, want);
    }
}

#[test]
fn create_dir_vhd_and_tar2hashed_files_match() {
    let exp = common::expected();
    let dir = tempfile::tempdir().unwrap();
    for name in common::SMALL_LAYERS {
        let tar = common::layer(name);
        for (layout, key, vhd) in [
            (LAYOUT_128G, "create_dir_vhd", true),
            (LAYOUT_16G, "tar2hashed_ext4", false),
        ] {
            let e = &exp["layers"][name][key];
            let path = dir.path().join(format!("{name}.{key}"));
            let opts = LayerOptions {
                max_disk_size: layout,
                outputs: Outputs {
                    image: Some(path.clone()),
                    hash_device: None,
                    vhd,
                },
                threads: 2,
                ..LayerOptions::default()
            };
            match e["sha256_masked"].as_str() {
                Some(sha) => {
                    let r = convert_layer(&tar[..], &opts)
                        .unwrap_or_else(|e| panic!("{name} {key}: {e}"));
                    assert_eq!(
                        r.root_hash,
                        e["root_hash"].as_str().unwrap(),
                        "{name} {key}: root"
                    );
                    let bytes = std::fs::read(&path).unwrap();
                    assert_eq!(
                        bytes.len() as u64,
                        e["file_size"].as_u64().unwrap(),
                        "{name} {key}: size"
                    );
                    let ext4_size = e["ext4_size"].as_u64().unwrap() as usize;
                    assert_eq!(
                        common::sha256_hex(&bytes[..ext4_size]),
                        e["ext4_sha256"].as_str().unwrap(),
                        "{name} {key}: ext4"
                    );
                    assert_eq!(
                        masked(bytes, ext4_size, vhd),
                        sha,
                        "{name} {key}: whole file (masked)"
                    );
                }
                None => {
                    let err = convert_layer(&tar[..], &opts).expect_err(name);
                    assert!(matches!(err, LayerError::Convert(_)), "{name}: {err}");
                    assert!(!path.exists(), "{name}: no output may be left behind");
                }
            }
        }
    }
    // Nothing but finished outputs in the directory (no temporaries).
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let n = entry.unwrap().file_name().into_string().unwrap();
        assert!(!n.contains(".tmp-"), "leftover temporary {n}");
    }
}

#[test]
fn separate_hash_device_vhds() {
    let exp = common::expected();
    let e = &exp["layers"]["basic.tar"]["create_dir_vhd"];
    let dir = tempfile::tempdir().unwrap();
    let (data, hash) = (dir.path().join("data.vhd"), dir.path().join("hash.vhd"));
    let tar = common::layer("basic.tar");
    let opts = LayerOptions {
        outputs: Outputs {
            image: Some(data.clone()),
            hash_device: Some(hash.clone()),
            vhd: true,
        },
        ..LayerOptions::default()
    };
    let r = convert_layer(&tar[..], &opts).unwrap();
    let data = std::fs::read(&data).unwrap();
    let hash = std::fs::read(&hash).unwrap();
    // upstream: data VHD 1298944 bytes, hash-dev VHD 20992 bytes.
    assert_eq!(data.len(), 1_298_944);
    assert_eq!(hash.len(), 20_992);
    assert_eq!(
        common::sha256_hex(&data[..1_298_432]),
        e["ext4_sha256"].as_str().unwrap()
    );
    assert_eq!(
        common::sha256_hex(&hash[4096..4096 + 16384]),
        e["tree_sha256"].as_str().unwrap()
    );
    let mut sb = hash[..512].to_vec();
    sb[16..32].fill(0);
    assert_eq!(
        common::sha256_hex(&sb),
        e["verity_superblock_sha256_uuid_zeroed"].as_str().unwrap()
    );
    assert_eq!(r.root_hash, e["root_hash"].as_str().unwrap());
}

#[test]
fn outputs_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let tar = common::layer("xattrs.tar");
    let mut files = Vec::new();
    for i in 0..2 {
        let path = dir.path().join(format!("{i}.vhd"));
        let opts = LayerOptions {
            outputs: Outputs {
                image: Some(path.clone()),
                hash_device: None,
                vhd: true,
            },
            ..LayerOptions::default()
        };
        convert_layer(&tar[..], &opts).unwrap();
        files.push(std::fs::read(path).unwrap());
    }
    assert_eq!(files[0], files[1]);
}

#[test]
fn not_a_tar() {
    for input in [
        &b"hello, this is not a tar archive at all"[..],
        &[0x41; 2048],
    ] {
        let err = convert_layer(input, &LayerOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "input file is not a tar archive");
    }
}

#[test]
fn empty_input_is_an_empty_layer() {
    // Go's reader ends cleanly on zero bytes, so upstream hashes an empty
    // filesystem: the same root as empty.tar (redis layer 7 upstream).
    let exp = common::expected();
    let r = convert_layer(&b""[..], &LayerOptions::default()).unwrap();
    assert_eq!(
        format!("{}\n", r.root_hash),
        exp["layers"]["empty.tar"]["hashlayer"]["stdout"]
            .as_str()
            .unwrap()
    );
}
