//! fs-verity file digests (what `fsverity digest` prints and composefs
//! names objects by): a Merkle tree over 4096-byte blocks without salt,
//! then the hash of the 256-byte descriptor. Streaming; level 0 is hashed
//! on worker threads for large files.

use std::io::{self, Read};

use super::{build_tree_spooled, Algorithm, HashingSink, Params};
use crate::sink::BlockSink;

const LOG_BLOCKSIZE: u8 = 12;

/// Up to this size data is hashed in memory on the calling thread.
pub const SMALL: u64 = 1 << 20;

/// The kernel's algorithm number.
pub fn alg_id(a: Algorithm) -> u8 {
    match a {
        Algorithm::Sha256 => 1,
        Algorithm::Sha512 => 2,
    }
}

/// The descriptor digest for `data_size` bytes with tree root `root`
/// (all zero for an empty file).
pub fn descriptor_digest(a: Algorithm, data_size: u64, root: &[u8]) -> Vec<u8> {
    let mut d = [0u8; 256];
    d[0] = 1;
    d[1] = alg_id(a);
    d[2] = LOG_BLOCKSIZE;
    d[8..16].copy_from_slice(&data_size.to_le_bytes());
    d[16..16 + root.len()].copy_from_slice(root);
    let mut out = vec![0u8; a.digest_len()];
    a.hash_into(&[], &d, &mut out);
    out
}

/// fs-verity digest of everything `r` yields. `threads` 0 = all cores.
pub fn digest<R: Read>(mut r: R, a: Algorithm, threads: usize) -> io::Result<Vec<u8>> {
    let params = Params {
        data_block_size: 4096,
        hash_block_size: 4096,
        algorithm: a,
        salt: Vec::new(),
    };
    let mut sink = HashingSink::new(params.clone(), None, threads)?;
    let size = sink.append_from(&mut r, u64::MAX)?;
    let pad = (4096 - size % 4096) % 4096;
    sink.append_zeros(pad)?;
    let level0 = sink.finish()?;
    if size == 0 {
        return Ok(descriptor_digest(a, 0, &[]));
    }
    let tree = build_tree_spooled(&params, level0.digests, level0.blocks)?;
    Ok(descriptor_digest(a, size, &tree.root))
}

/// fs-verity digest of bytes in memory, on this thread: what small
/// objects need (no worker start-up, no batch buffers).
pub fn digest_bytes(data: &[u8], a: Algorithm) -> io::Result<Vec<u8>> {
    if data.is_empty() {
        return Ok(descriptor_digest(a, 0, &[]));
    }
    let params = Params {
        data_block_size: 4096,
        hash_block_size: 4096,
        algorithm: a,
        salt: Vec::new(),
    };
    let dlen = a.digest_len();
    let blocks = data.len().div_ceil(4096);
    let mut leaves = vec![0u8; blocks * dlen];
    let mut last = [0u8; 4096];
    for (chunk, d) in data.chunks(4096).zip(leaves.chunks_exact_mut(dlen)) {
        if chunk.len() == 4096 {
            a.hash_into(&params.salt, chunk, d);
        } else {
            last[..chunk.len()].copy_from_slice(chunk);
            a.hash_into(&params.salt, &last, d);
        }
    }
    let mut level0 = super::DigestSpool::default();
    level0.append(&leaves)?;
    let tree = build_tree_spooled(&params, level0, blocks as u64)?;
    Ok(descriptor_digest(a, data.len() as u64, &tree.root))
}

/// fs-verity digest of a file's contents (read in 1 MiB pieces).
pub fn digest_file(path: &std::path::Path, a: Algorithm, threads: usize) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() <= SMALL {
        let mut data = Vec::new();
        (&file).read_to_end(&mut data)?;
        return digest_bytes(&data, a);
    }
    digest(io::BufReader::with_capacity(1 << 20, file), a, threads)
}

/// The signed message of a kernel fs-verity signature:
/// "FSVerity" ‖ le16 algorithm ‖ le16 digest size ‖ digest.
pub fn formatted_digest(a: Algorithm, digest: &[u8]) -> Vec<u8> {
    let mut m = b"FSVerity".to_vec();
    m.extend_from_slice(&u16::from(alg_id(a)).to_le_bytes());
    m.extend_from_slice(&(digest.len() as u16).to_le_bytes());
    m.extend_from_slice(digest);
    m
}

#[cfg(test)]
mod tests {
    #[test]
    fn in_memory_digest_equals_the_streaming_one() {
        for a in [super::Algorithm::Sha256, super::Algorithm::Sha512] {
            for len in [0usize, 1, 4095, 4096, 4097, 8192, 4096 * 129 + 7] {
                let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                assert_eq!(
                    super::digest_bytes(&data, a).unwrap(),
                    super::digest(&data[..], a, 1).unwrap(),
                    "{len}"
                );
            }
        }
    }

    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn pinned_vectors() {
        assert_eq!(
            hex(&digest(&b"hello world"[..], Algorithm::Sha256, 1).unwrap()),
            "1e2eaa4202d750a41174ee454970b92c1bc2f925b1e35076d8c7d5f56362ba64"
        );
        assert_eq!(
            hex(&digest(&b""[..], Algorithm::Sha256, 1).unwrap()),
            "3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95"
        );
        assert_eq!(formatted_digest(Algorithm::Sha256, &[0; 32]).len(), 44);
    }
}
