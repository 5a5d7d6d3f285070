//! Userspace verification: recompute the tree over the data and compare it
//! with the stored tree and the expected root hash, naming the first block
//! that differs.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::{build_tree, Params, Superblock};

/// Where a check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corruption {
    /// A data block's digest differs from the stored level 0.
    DataBlock { index: u64, offset: u64 },
    /// A hash block differs from what its level below gives.
    HashBlock { offset: u64 },
    /// The stored top block does not hash to the expected root.
    RootHash { expected: String, actual: String },
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Corruption::DataBlock { index, offset } => {
                write!(
                    f,
                    "data block {index} (byte offset {offset}) does not match the hash tree"
                )
            }
            Corruption::HashBlock { offset } => {
                write!(f, "hash block at byte offset {offset} is corrupt")
            }
            Corruption::RootHash { expected, actual } => {
                write!(
                    f,
                    "root hash mismatch: expected {expected}, the hash tree gives {actual}"
                )
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Corrupt(Corruption),
    #[error("{0}")]
    Format(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Verify `data_blocks` blocks of `data` (from byte `data_offset`) against
/// the hash device `hash` whose superblock is at `hash_offset`.
pub fn verify(
    data: &File,
    data_offset: u64,
    hash: &File,
    hash_offset: u64,
    root_hex: &str,
) -> Result<Superblock, VerifyError> {
    let mut sb_bytes = [0u8; 512];
    hash.read_exact_at(&mut sb_bytes, hash_offset)
        .map_err(|e| {
            VerifyError::Format(format!(
                "cannot read a dm-verity superblock at byte {hash_offset}: {e}"
            ))
        })?;
    let sb = Superblock::decode(&sb_bytes).map_err(|e| {
        VerifyError::Format(format!(
            "no usable dm-verity superblock at byte {hash_offset} ({e}); \
             if the tree is in a separate file, give it as the hash device"
        ))
    })?;
    let p: &Params = &sb.params;
    let dbs = u64::from(p.data_block_size);
    let dlen = p.algorithm.digest_len();
    let entry = p.entry_len();

    // Recompute level 0 from the data, reading 1 MiB at a time.
    let mut level0 = vec![0u8; sb.data_blocks as usize * dlen];
    let per_read = (1u64 << 20) / dbs;
    let mut buf = vec![0u8; (per_read * dbs) as usize];
    let mut i = 0u64;
    while i < sb.data_blocks {
        let n = per_read.min(sb.data_blocks - i);
        let chunk = &mut buf[..(n * dbs) as usize];
        data.read_exact_at(chunk, data_offset + i * dbs)
            .map_err(|e| {
                VerifyError::Format(format!(
                    "data ends before block {} of {} (byte {}): {e}",
                    i,
                    sb.data_blocks,
                    data_offset + i * dbs
                ))
            })?;
        for (k, block) in chunk.chunks_exact(dbs as usize).enumerate() {
            let at = (i as usize + k) * dlen;
            p.algorithm
                .hash_into(&p.salt, block, &mut level0[at..at + dlen]);
        }
        i += n;
    }
    let tree = build_tree(p, &level0, sb.data_blocks);

    // Compare with the stored tree (it starts one hash block after the
    // superblock), level 0 first, so the first bad data block is named.
    let tree_at = hash_offset + u64::from(p.hash_block_size);
    let mut stored = vec![0u8; tree.bytes.len()];
    hash.read_exact_at(&mut stored, tree_at)
        .map_err(|e| VerifyError::Format(format!("hash tree truncated at byte {tree_at}: {e}")))?;
    let level0_len = (sb.data_blocks as usize * entry)
        .div_ceil(p.hash_block_size as usize)
        .max(1)
        * p.hash_block_size as usize;
    let level0_at = tree.bytes.len() - level0_len;
    for i in 0..sb.data_blocks as usize {
        let at = level0_at + i * entry;
        if stored[at..at + dlen] != tree.bytes[at..at + dlen] {
            return Err(VerifyError::Corrupt(Corruption::DataBlock {
                index: i as u64,
                offset: data_offset + i as u64 * dbs,
            }));
        }
    }
    let hbs = p.hash_block_size as usize;
    for (i, (s, t)) in stored.chunks(hbs).zip(tree.bytes.chunks(hbs)).enumerate() {
        if s != t {
            return Err(VerifyError::Corrupt(Corruption::HashBlock {
                offset: tree_at + (i * hbs) as u64,
            }));
        }
    }
    let actual = tree.root_hex();
    if !actual.eq_ignore_ascii_case(root_hex) {
        return Err(VerifyError::Corrupt(Corruption::RootHash {
            expected: root_hex.to_lowercase(),
            actual,
        }));
    }
    Ok(sb)
}
