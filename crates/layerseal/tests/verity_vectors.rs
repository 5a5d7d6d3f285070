//! The dm-verity tree for any block size, salt and data length equals
//! veritysetup's: root hash, the bare tree (`--no-superblock`) and the
//! hash file with its superblock (fixed UUID). sha1 and hash type 0 are not
//! supported and are skipped (counted below).

use layerseal::verity::{tree_of, Algorithm, Params, Superblock};
use sha2::{Digest, Sha256};

fn data(pattern: &str, size: usize) -> Vec<u8> {
    match pattern {
        "zero" => vec![0; size],
        "mod251" => (0..size).map(|i| (i % 251) as u8).collect(),
        p => panic!("unknown pattern {p}"),
    }
}

mod common;
use common::uuid_bytes;

#[test]
fn trees_match_veritysetup() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/veritysetup-raw.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let uuid = uuid_bytes(v["uuid"].as_str().unwrap());
    let (mut checked, mut skipped) = (0, 0);
    for (i, c) in v["vectors"].as_array().unwrap().iter().enumerate() {
        let Some(algorithm) = Algorithm::from_name(c["hash"].as_str().unwrap()) else {
            skipped += 1;
            continue;
        };
        if c["hash_type"] != 1 {
            skipped += 1;
            continue;
        }
        let bs = c["block_size"].as_u64().unwrap() as u32;
        let salt = match c["salt"].as_str().unwrap() {
            "-" => Vec::new(),
            s => hex::decode(s).unwrap(),
        };
        let params = Params {
            data_block_size: bs,
            hash_block_size: bs,
            algorithm,
            salt,
        };
        let bytes = data(
            c["data"].as_str().unwrap(),
            c["data_size"].as_u64().unwrap() as usize,
        );
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            c["data_sha256"].as_str().unwrap(),
            "case {i}: data"
        );
        let tree = tree_of(&params, &bytes);
        assert_eq!(
            tree.root_hex(),
            c["root_hash"].as_str().unwrap(),
            "case {i}: root"
        );
        assert_eq!(
            tree.bytes.len() as u64,
            c["no_superblock_hash_file_size"].as_u64().unwrap(),
            "case {i}: tree size"
        );
        assert_eq!(
            hex::encode(Sha256::digest(&tree.bytes)),
            c["no_superblock_hash_file_sha256"].as_str().unwrap(),
            "case {i}: tree"
        );
        let sb = Superblock {
            hash_type: 1,
            uuid,
            params: params.clone(),
            data_blocks: tree.data_blocks,
        };
        let mut file = vec![0u8; (bs as usize).max(512)];
        file[..512].copy_from_slice(&sb.encode());
        file.extend_from_slice(&tree.bytes);
        assert_eq!(
            file.len() as u64,
            c["superblock_hash_file_size"].as_u64().unwrap(),
            "case {i}: hash file size"
        );
        assert_eq!(
            hex::encode(Sha256::digest(&file)),
            c["superblock_hash_file_sha256_with_uuid"].as_str().unwrap(),
            "case {i}: hash file"
        );
        checked += 1;
    }
    eprintln!("veritysetup vectors: {checked} checked, {skipped} skipped (sha1 or hash type 0)");
    assert_eq!((checked, skipped), (32, 4));
}
