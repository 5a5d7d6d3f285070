//! dm-verity: hash tree, superblock and root hash as `veritysetup format`
//! (format 1, "normal" salt-first hashing) makes them (spec dmverity-vhd §5).

pub mod fsverity;
mod stream;
mod superblock;
mod verify;

use sha2::{Digest, Sha256, Sha512};

pub use stream::{HashingSink, Level0};
pub use superblock::{Superblock, SuperblockError, SUPERBLOCK_SIZE};
pub use verify::{verify, Corruption, VerifyError};

/// Hash algorithms a tree can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }

    /// `H(salt || data)` into `out` (which is `digest_len` long).
    pub fn hash_into(self, salt: &[u8], data: &[u8], out: &mut [u8]) {
        match self {
            Algorithm::Sha256 => {
                let mut h = Sha256::new();
                h.update(salt);
                h.update(data);
                out.copy_from_slice(&h.finalize());
            }
            Algorithm::Sha512 => {
                let mut h = Sha512::new();
                h.update(salt);
                h.update(data);
                out.copy_from_slice(&h.finalize());
            }
        }
    }
}

/// How a tree is computed: what `veritysetup format` takes as options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub data_block_size: u32,
    pub hash_block_size: u32,
    pub algorithm: Algorithm,
    pub salt: Vec<u8>,
}

impl Params {
    /// What dmverity-vhd (and containerd's EROFS differ) use: 4096-byte
    /// blocks, SHA-256, a salt of 32 zero bytes.
    pub fn standard() -> Self {
        Params {
            data_block_size: 4096,
            hash_block_size: 4096,
            algorithm: Algorithm::Sha256,
            salt: vec![0; 32],
        }
    }

    /// Bytes one digest takes in a hash block (rounded up to a power of two).
    pub fn entry_len(&self) -> usize {
        self.algorithm.digest_len().next_power_of_two()
    }

    /// Check what the kernel accepts: power-of-two block sizes 512..=1 MiB
    /// (data) / page-ish (hash), salt ≤ 256 bytes.
    pub fn validate(&self) -> Result<(), String> {
        let ok_size = |s: u32| s.is_power_of_two() && (512..=(1 << 20)).contains(&s);
        if !ok_size(self.data_block_size) || !ok_size(self.hash_block_size) {
            return Err("block sizes must be powers of two from 512 to 1048576".into());
        }
        if self.salt.len() > 256 {
            return Err("salt is longer than 256 bytes".into());
        }
        if self.entry_len() > self.hash_block_size as usize {
            return Err("hash block too small for one digest".into());
        }
        Ok(())
    }
}

/// A built tree: the bytes as stored (top level first) and the root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub bytes: Vec<u8>,
    pub root: Vec<u8>,
    pub data_blocks: u64,
}

impl Tree {
    pub fn root_hex(&self) -> String {
        hex_lower(&self.root)
    }
}

pub fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Build the levels above level 0. `level0` holds one digest per data
/// block, `digest_len` bytes each, in block order.
pub fn build_tree(params: &Params, level0: &[u8], data_blocks: u64) -> Tree {
    build_tree_from(params, level0.to_vec(), data_blocks)
}

/// [`build_tree`] taking level 0 by value: when entries need no padding
/// (the usual case) its buffer becomes the stored level 0, so a large
/// tree is held once, not twice.
pub fn build_tree_from(params: &Params, level0: Vec<u8>, data_blocks: u64) -> Tree {
    let dlen = params.algorithm.digest_len();
    // One data block needs no hash level: its digest is the root.
    if data_blocks <= 1 {
        return Tree {
            bytes: Vec::new(),
            root: level0[..dlen.min(level0.len())].to_vec(),
            data_blocks,
        };
    }
    let entry = params.entry_len();
    let hbs = params.hash_block_size as usize;
    // Level 0 as stored: entries padded to `entry`, blocks padded to `hbs`.
    let mut level = if entry == dlen {
        level0
    } else {
        let mut padded = Vec::with_capacity(level0.len() / dlen * entry + hbs);
        for d in level0.chunks(dlen) {
            padded.extend_from_slice(d);
            padded.resize(padded.len() + entry - dlen, 0);
        }
        padded
    };
    level.resize(level.len().div_ceil(hbs).max(1) * hbs, 0);
    let mut levels = vec![level];
    while levels.last().expect("a level").len() > hbs {
        let below = levels.last().expect("a level");
        let mut above = Vec::with_capacity(below.len() / hbs * entry + hbs);
        let mut digest = vec![0u8; dlen];
        for block in below.chunks(hbs) {
            params.algorithm.hash_into(&params.salt, block, &mut digest);
            above.extend_from_slice(&digest);
            above.resize(above.len() + entry - dlen, 0);
        }
        above.resize(above.len().div_ceil(hbs) * hbs, 0);
        levels.push(above);
    }
    let mut root = vec![0u8; dlen];
    params
        .algorithm
        .hash_into(&params.salt, levels.last().expect("top level"), &mut root);
    // Stored top level first. Level 0 is by far the largest: the small
    // upper levels are inserted in front of it rather than copying it.
    let mut levels = levels.into_iter();
    let mut bytes = levels.next().expect("level 0");
    let upper: Vec<u8> = levels.rev().flatten().collect();
    bytes.splice(0..0, upper);
    Tree {
        bytes,
        root,
        data_blocks,
    }
}

/// A deterministic 16-byte id derived from content: the first 16 bytes of
/// SHA-256("layerseal:" + label + ":" + root hash), marked as an RFC 9562
/// version-8 UUID. Upstream uses random bytes here; deriving them keeps
/// whole output files reproducible without touching root hashes.
pub fn derive_uuid(label: &str, root: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"layerseal:");
    h.update(label.as_bytes());
    h.update(b":");
    h.update(root);
    let d = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    id[6] = (id[6] & 0x0f) | 0x80;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

/// Hash an in-memory image: level 0 plus the tree. For tests and small data.
pub fn tree_of(params: &Params, data: &[u8]) -> Tree {
    let dbs = params.data_block_size as usize;
    let dlen = params.algorithm.digest_len();
    let blocks = data.len().div_ceil(dbs);
    let mut level0 = vec![0u8; blocks * dlen];
    let mut padded = vec![0u8; dbs];
    for (i, chunk) in data.chunks(dbs).enumerate() {
        let block = if chunk.len() == dbs {
            chunk
        } else {
            padded[..chunk.len()].copy_from_slice(chunk);
            &padded[..]
        };
        params
            .algorithm
            .hash_into(&params.salt, block, &mut level0[i * dlen..(i + 1) * dlen]);
    }
    build_tree(params, &level0, blocks as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_sizes_follow_the_spec_examples() {
        // basic.tar: 317 data blocks → 3 leaf blocks + 1 top block.
        let p = Params::standard();
        let t = build_tree(&p, &vec![0u8; 317 * 32], 317);
        assert_eq!(t.bytes.len(), 16384);
        // large.tar: 11023 blocks → 87 + 1 blocks.
        let t = build_tree(&p, &vec![0u8; 11023 * 32], 11023);
        assert_eq!(t.bytes.len(), 88 * 4096);
        // Exactly 128 blocks fit one hash block: a single level.
        let t = build_tree(&p, &vec![0u8; 128 * 32], 128);
        assert_eq!(t.bytes.len(), 4096);
        // One block: no tree, the block's digest is the root.
        let t = tree_of(&p, &[5u8; 4096]);
        assert!(t.bytes.is_empty());
        let mut d = vec![0u8; 32];
        p.algorithm.hash_into(&p.salt, &[5u8; 4096], &mut d);
        assert_eq!(t.root, d);
    }

    #[test]
    fn root_is_salted_hash_of_the_top_block() {
        let p = Params::standard();
        let t = tree_of(&p, &[7u8; 4096 * 3]);
        let mut expect = vec![0u8; 32];
        p.algorithm
            .hash_into(&p.salt, &t.bytes[..4096], &mut expect);
        assert_eq!(t.root, expect);
    }

    #[test]
    fn derived_uuids_are_stable_and_labelled() {
        let a = derive_uuid("verity", &[1; 32]);
        assert_eq!(a, derive_uuid("verity", &[1; 32]));
        assert_ne!(a, derive_uuid("vhd", &[1; 32]));
        assert_eq!(a[6] >> 4, 8);
    }
}
