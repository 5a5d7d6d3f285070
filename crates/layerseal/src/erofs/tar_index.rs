//! Tar-index layers (`mkfs.erofs --tar=i` + the tar appended, as
//! containerd's differ writes them with `enable_tar_index`): a 512-byte
//! block EROFS image whose regular files are chunk indexes into the tar
//! that follows it in the same file, so file data is never copied.
//!
//! The index depends on the whole tar, so the tar is kept (the input file
//! itself when it is a plain tar, else a temporary copy) and the final file
//! is streamed afterwards, hashing 512-byte verity blocks on all cores.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use super::build;
use super::format::INDEX_BLOCK;
use super::options::MkfsOptions;
use super::tree::{Tree, TreeError};
use crate::sink::VecSink;
use crate::tee::Tee;
use crate::verity::{DigestSpool, Params};

/// dm-verity parameters over a tar-index file: containerd uses 512-byte
/// data and hash blocks so the mapped device keeps 512-byte sectors.
pub fn verity_params() -> Params {
    Params {
        data_block_size: INDEX_BLOCK as u32,
        hash_block_size: INDEX_BLOCK as u32,
        ..Params::standard()
    }
}

/// A tar read into a tree, with the tar bytes kept for appending.
pub struct IndexedTar {
    pub tree: Tree,
    tar: File,
    tar_len: u64,
    /// Bytes through the end-of-archive marker.
    archive_end: u64,
}

impl IndexedTar {
    /// Read `input` (a decompressed tar) to its end. `file`, when given,
    /// holds the same bytes and is appended instead of a copy. `after_tar`
    /// runs on the remaining stream after the end-of-archive marker (the
    /// caller drains it there and checks digests).
    pub fn read<R: Read, E: From<TreeError>>(
        input: R,
        file: Option<File>,
        opts: &MkfsOptions,
        after_tar: impl FnOnce(&mut dyn Read) -> Result<(), E>,
    ) -> Result<Self, E> {
        let spool_err = |e| E::from(TreeError::Spool(e));
        let (tree, archive_end, tar) = match file {
            Some(f) => {
                let mut input = input;
                let (tree, end) =
                    Tree::from_tar_with(&mut input, Some(f.try_clone().map_err(spool_err)?), opts)?;
                after_tar(&mut input)?;
                (tree, end, f)
            }
            None => {
                let copy = tempfile::tempfile().map_err(spool_err)?;
                let mut tee = Tee {
                    inner: input,
                    copy: copy.try_clone().map_err(spool_err)?,
                };
                let (tree, end) = Tree::from_tar_with(
                    &mut tee,
                    Some(copy.try_clone().map_err(spool_err)?),
                    opts,
                )?;
                after_tar(&mut tee)?;
                (tree, end, copy)
            }
        };
        let tar_len = tar.metadata().map_err(spool_err)?.len();
        Ok(IndexedTar {
            tree,
            tar,
            tar_len,
            archive_end,
        })
    }

    /// The index image alone, what `mkfs.erofs --tar=i` writes (containerd
    /// appends the tar itself).
    pub fn index_image<S: crate::sink::BlockSink>(&self, sink: S, uuid: [u8; 16]) -> io::Result<S> {
        let blocks = u32::try_from(self.archive_end / INDEX_BLOCK)
            .map_err(|_| io::Error::other("tar too large for a tar-index image (2 TiB)"))?;
        Ok(build::write_tar_index(&self.tree, sink, uuid, blocks)?.0)
    }

    /// Write the index image then the tar (zero-padded to a 512-byte
    /// block) into `out` (when given), returning level 0 of the verity
    /// tree and the number of 512-byte data blocks.
    pub fn write(
        &self,
        uuid: [u8; 16],
        params: &Params,
        out: Option<&File>,
        threads: usize,
    ) -> io::Result<(DigestSpool, u64)> {
        let blocks = u32::try_from(self.archive_end / INDEX_BLOCK)
            .map_err(|_| io::Error::other("tar too large for a tar-index image (2 TiB)"))?;
        let (index, _) = build::write_tar_index(&self.tree, VecSink::default(), uuid, blocks)?;
        let mut tar = self.tar.try_clone()?;
        tar.seek(SeekFrom::Start(0))?;
        let pad = (INDEX_BLOCK - self.tar_len % INDEX_BLOCK) % INDEX_BLOCK;
        let stream = io::Cursor::new(index.bytes)
            .chain(tar.take(self.tar_len))
            .chain(io::repeat(0).take(pad));
        hash_and_copy(stream, params, out, threads)
    }
}

/// Hash `stream` in `data_block_size` blocks (its length must be a
/// multiple) on `threads` cores, writing it to `out` as it goes.
fn hash_and_copy<R: Read>(
    mut stream: R,
    params: &Params,
    out: Option<&File>,
    threads: usize,
) -> io::Result<(DigestSpool, u64)> {
    const BATCH: usize = 4 << 20;
    let bs = params.data_block_size as usize;
    let dlen = params.algorithm.digest_len();
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut buf = vec![0u8; BATCH];
    let mut level0 = DigestSpool::default();
    let mut batch_digests = Vec::new();
    let mut blocks = 0u64;
    loop {
        let mut n = 0;
        while n < BATCH {
            match stream.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if n == 0 {
            break;
        }
        if n % bs != 0 {
            return Err(io::Error::other("tar-index stream not block aligned"));
        }
        batch_digests.clear();
        batch_digests.resize(n / bs * dlen, 0);
        let per = (n / bs).div_ceil(threads);
        let data = &buf[..n];
        // Write the batch while it is hashed: the copy and the hashing
        // overlap instead of taking turns.
        let written = std::thread::scope(|s| {
            let writer = out.map(|mut f| s.spawn(move || f.write_all(data)));
            for (data, digests) in data
                .chunks(per * bs)
                .zip(batch_digests.chunks_mut(per * dlen))
            {
                s.spawn(move || {
                    for (block, d) in data.chunks_exact(bs).zip(digests.chunks_exact_mut(dlen)) {
                        params.algorithm.hash_into(&params.salt, block, d);
                    }
                });
            }
            writer.map_or(Ok(()), |w| w.join().expect("writer thread"))
        });
        written?;
        level0.append(&batch_digests)?;
        blocks += (n / bs) as u64;
    }
    Ok((level0, blocks))
}
