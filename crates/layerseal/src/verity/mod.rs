//! dm-verity: hash tree, superblock and root hash as `veritysetup format`
//! (format 1, "normal" salt-first hashing) makes them (spec dmverity-vhd §5).

pub mod fsverity;
pub(crate) mod spool;
mod stream;
mod superblock;
mod verify;

use sha2::{Digest, Sha256, Sha512};

pub use spool::DigestSpool;
pub use stream::{HashingSink, Level0, OutputError};
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
/// block, `digest_len` bytes each, in block order. In memory: for tests,
/// `verify` and small data; layers use [`build_tree_spooled`].
pub fn build_tree(params: &Params, level0: &[u8], data_blocks: u64) -> Tree {
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
    let mut level = Vec::with_capacity(level0.len() / dlen * entry + hbs);
    for d in level0.chunks(dlen) {
        level.extend_from_slice(d);
        level.resize(level.len() + entry - dlen, 0);
    }
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
    let bytes = levels.into_iter().rev().flatten().collect();
    Tree {
        bytes,
        root,
        data_blocks,
    }
}

/// A tree whose levels may live in temporary files (see [`DigestSpool`]).
#[derive(Debug)]
pub struct SpooledTree {
    /// Top level first, as stored.
    levels: Vec<DigestSpool>,
    pub root: Vec<u8>,
    pub data_blocks: u64,
}

impl SpooledTree {
    /// Size of the stored tree in bytes.
    pub fn len(&self) -> u64 {
        self.levels.iter().map(DigestSpool::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn root_hex(&self) -> String {
        hex_lower(&self.root)
    }

    /// Write the stored tree into `file` at `at`.
    pub fn write_to(&self, file: &std::fs::File, mut at: u64) -> std::io::Result<()> {
        for l in &self.levels {
            l.write_to(file, at)?;
            at += l.len();
        }
        Ok(())
    }

    /// The stored tree in memory (tests).
    pub fn to_vec(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for l in &self.levels {
            out.extend_from_slice(&l.to_vec()?);
        }
        Ok(out)
    }
}

/// [`build_tree`] over a spooled level 0, each level spooled too: memory
/// stays bounded whatever the data size.
pub fn build_tree_spooled(
    params: &Params,
    mut level0: DigestSpool,
    data_blocks: u64,
) -> std::io::Result<SpooledTree> {
    let dlen = params.algorithm.digest_len();
    if data_blocks <= 1 {
        let mut root = vec![0u8; dlen.min(level0.len() as usize)];
        level0.read_at(0, &mut root)?;
        return Ok(SpooledTree {
            levels: Vec::new(),
            root,
            data_blocks,
        });
    }
    let entry = params.entry_len();
    let hbs = params.hash_block_size as u64;
    if entry != dlen {
        // Padded entries (no algorithm here needs them): in memory.
        let t = build_tree(params, &level0.to_vec()?, data_blocks);
        let mut all = DigestSpool::default();
        all.append(&t.bytes)?;
        return Ok(SpooledTree {
            levels: vec![all],
            root: t.root,
            data_blocks,
        });
    }
    let pad = |l: &mut DigestSpool| {
        let n = l.len().div_ceil(hbs).max(1) * hbs - l.len();
        l.append_zeros(n)
    };
    pad(&mut level0)?;
    let mut levels = vec![level0];
    while levels.last().expect("a level").len() > hbs {
        let below = levels.last().expect("a level");
        let mut above = DigestSpool::default();
        let mut digest = vec![0u8; dlen];
        below.for_each_chunk(hbs as usize * 256, |chunk| {
            for block in chunk.chunks(hbs as usize) {
                params.algorithm.hash_into(&params.salt, block, &mut digest);
                above.append(&digest)?;
            }
            Ok(())
        })?;
        pad(&mut above)?;
        levels.push(above);
    }
    let top = levels.last().expect("top level").to_vec()?;
    let mut root = vec![0u8; dlen];
    params.algorithm.hash_into(&params.salt, &top, &mut root);
    levels.reverse();
    Ok(SpooledTree {
        levels,
        root,
        data_blocks,
    })
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
    fn spooled_trees_equal_in_memory_trees() {
        // Sizes around level boundaries, 4 KiB and 512-byte hash blocks,
        // sha256 and sha512, in memory and spilled to files.
        for (hbs, alg) in [
            (4096u32, Algorithm::Sha256),
            (512, Algorithm::Sha256),
            (4096, Algorithm::Sha512),
        ] {
            let p = Params {
                hash_block_size: hbs,
                data_block_size: hbs,
                algorithm: alg,
                ..Params::standard()
            };
            let dlen = alg.digest_len();
            for blocks in [1u64, 2, 15, 16, 17, 127, 128, 129, 2000, 16385] {
                let level0: Vec<u8> = (0..blocks as usize * dlen)
                    .map(|i| (i * 31 % 251) as u8)
                    .collect();
                let want = build_tree(&p, &level0, blocks);
                for limit in [0, 1 << 20] {
                    let mut spool = DigestSpool::with_limit(limit);
                    spool.append(&level0).unwrap();
                    let got = build_tree_spooled(&p, spool, blocks).unwrap();
                    assert_eq!(got.root, want.root, "{hbs} {blocks} {limit}");
                    assert_eq!(got.to_vec().unwrap(), want.bytes, "{hbs} {blocks} {limit}");
                    assert_eq!(got.len(), want.bytes.len() as u64);
                }
            }
        }
    }

    #[test]
    fn derived_uuids_are_stable_and_labelled() {
        let a = derive_uuid("verity", &[1; 32]);
        assert_eq!(a, derive_uuid("verity", &[1; 32]));
        assert_ne!(a, derive_uuid("vhd", &[1; 32]));
        assert_eq!(a[6] >> 4, 8);
    }
}
