//! A [`BlockSink`] that hashes level 0 of the dm-verity tree while the image
//! streams, on all cores, and optionally writes the image to a file.
//!
//! Appended bytes fill 1 MiB batches; full batches go to worker threads that
//! hash each 4096-byte block (all-zero blocks get a precomputed digest) and,
//! when there is an output file, write the batch at its offset. Blocks the
//! producer settles late (reserved header blocks, rewritable xattr blocks)
//! are kept aside and hashed at the end; long zero runs are never hashed or
//! written. Digests are put in block order as batches finish and go to a
//! [`DigestSpool`] (memory, then a temporary file): memory stays bounded.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::{DigestSpool, Params};
use crate::sink::{BlockSink, BLOCK};

const BATCH: usize = 1 << 20;
const BATCH_BLOCKS: u64 = (BATCH / BLOCK) as u64;

struct Job {
    start: u64,
    buf: Vec<u8>,
    len: usize,
}

/// Level 0 of a tree: one digest per data block, in block order.
pub struct Level0 {
    pub digests: DigestSpool,
    pub blocks: u64,
}

/// Digests of a run of blocks, waiting for the blocks before them.
enum Piece {
    /// From a worker.
    Digests(Vec<u8>),
    /// A long zero run: every block has the zero digest.
    Zeros(u64),
    /// Blocks settled at the end (their digests are written then).
    Late(u64),
}

pub struct HashingSink {
    params: Arc<Params>,
    output: Option<(Arc<File>, u64)>,
    cursor: u64,
    buf: Vec<u8>,
    filled: usize,
    buf_start: u64,
    deferred: BTreeMap<u64, Box<[u8; BLOCK]>>,
    /// Pieces of level 0 by first block, until `next_block` reaches them.
    pending: BTreeMap<u64, Piece>,
    next_block: u64,
    level0: DigestSpool,
    zero_digest: Vec<u8>,
    jobs: Option<SyncSender<Job>>,
    results: Receiver<(u64, Vec<u8>)>,
    free: Receiver<Vec<u8>>,
    allocated: usize,
    max_buffers: usize,
    workers: Vec<JoinHandle<()>>,
    failure: Arc<Mutex<Option<io::Error>>>,
    output_error: OutputError,
}

/// Whether writing the output file failed (ENOSPC, EDQUOT, EIO …): a
/// handle kept by the caller, so that an error surfacing through a
/// filesystem writer (which sees only "I/O error") can be blamed on the
/// output path rather than on the tar entry being converted.
#[derive(Clone, Default)]
pub struct OutputError(Arc<Mutex<Option<(io::ErrorKind, String)>>>);

impl OutputError {
    fn record(&self, e: &io::Error) {
        self.0
            .lock()
            .expect("output error")
            .get_or_insert_with(|| (e.kind(), e.to_string()));
    }

    /// The first output write error, if any.
    pub fn get(&self) -> Option<io::Error> {
        self.0
            .lock()
            .expect("output error")
            .as_ref()
            .map(|(k, m)| io::Error::new(*k, m.clone()))
    }
}

fn worker(
    params: Arc<Params>,
    output: Option<(Arc<File>, u64)>,
    jobs: Arc<Mutex<Receiver<Job>>>,
    results: Sender<(u64, Vec<u8>)>,
    free: Sender<Vec<u8>>,
    (failure, output_error): (Arc<Mutex<Option<io::Error>>>, OutputError),
    zero_digest: Vec<u8>,
) {
    let dlen = params.algorithm.digest_len();
    loop {
        let job = match jobs.lock().expect("job queue").recv() {
            Ok(j) => j,
            Err(_) => return,
        };
        let data = &job.buf[..job.len];
        let mut digests = vec![0u8; data.len() / BLOCK * dlen];
        for (block, out) in data.chunks_exact(BLOCK).zip(digests.chunks_exact_mut(dlen)) {
            if is_zero(block) {
                out.copy_from_slice(&zero_digest);
            } else {
                params.algorithm.hash_into(&params.salt, block, out);
            }
        }
        if let Some((file, base)) = &output {
            if let Err(e) = file.write_all_at(data, base + job.start * BLOCK as u64) {
                output_error.record(&e);
                failure.lock().expect("failure slot").get_or_insert(e);
            }
        }
        let _ = results.send((job.start, digests));
        let _ = free.send(job.buf);
    }
}

fn is_zero(block: &[u8]) -> bool {
    block.chunks_exact(8).fold(0u64, |acc, w| {
        acc | u64::from_ne_bytes(w.try_into().expect("8 bytes"))
    }) == 0
}

impl HashingSink {
    /// Hash blocks of 4096 bytes with `params`; write them to `output` at
    /// `(file, base offset)` when given. `threads` 0 means all cores.
    pub fn new(params: Params, output: Option<(File, u64)>, threads: usize) -> io::Result<Self> {
        if params.data_block_size as usize != BLOCK {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "streaming hash needs 4096-byte data blocks",
            ));
        }
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let params = Arc::new(params);
        let output = output.map(|(f, base)| (Arc::new(f), base));
        let mut zero_digest = vec![0u8; params.algorithm.digest_len()];
        params
            .algorithm
            .hash_into(&params.salt, &[0u8; BLOCK], &mut zero_digest);
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (res_tx, res_rx) = mpsc::channel();
        let (free_tx, free_rx) = mpsc::channel();
        let failure = Arc::new(Mutex::new(None));
        let output_error = OutputError::default();
        let workers = (0..threads)
            .map(|i| {
                let (p, o, j, r, f, fl, z) = (
                    params.clone(),
                    output.clone(),
                    job_rx.clone(),
                    res_tx.clone(),
                    free_tx.clone(),
                    (failure.clone(), output_error.clone()),
                    zero_digest.clone(),
                );
                std::thread::Builder::new()
                    .name(format!("verity-hash-{i}"))
                    .spawn(move || worker(p, o, j, r, f, fl, z))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(HashingSink {
            params: params.clone(),
            output,
            cursor: 0,
            buf: vec![0u8; BATCH],
            filled: 0,
            buf_start: 0,
            deferred: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_block: 0,
            level0: DigestSpool::default(),
            zero_digest,
            jobs: Some(job_tx),
            results: res_rx,
            free: free_rx,
            allocated: 1,
            max_buffers: 2 * threads + 2,
            workers,
            failure,
            output_error,
        })
    }

    /// A handle on output write failures (see [`OutputError`]).
    pub fn output_error(&self) -> OutputError {
        self.output_error.clone()
    }

    fn check_failure(&self) -> io::Result<()> {
        match self.failure.lock().expect("failure slot").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Take finished batches and move every piece that is next in block
    /// order into level 0.
    fn collect(&mut self) -> io::Result<()> {
        while let Ok((start, d)) = self.results.try_recv() {
            self.pending.insert(start, Piece::Digests(d));
        }
        let dlen = self.params.algorithm.digest_len() as u64;
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.next_block {
                break;
            }
            match entry.remove() {
                Piece::Digests(d) => {
                    self.level0.append(&d)?;
                    self.next_block += d.len() as u64 / dlen;
                }
                Piece::Zeros(n) => {
                    let run = self.zero_digest.repeat(4096);
                    let mut left = n;
                    while left > 0 {
                        let k = left.min(4096);
                        self.level0.append(&run[..(k * dlen) as usize])?;
                        left -= k;
                    }
                    self.next_block += n;
                }
                Piece::Late(n) => {
                    self.level0.append_zeros(n * dlen)?;
                    self.next_block += n;
                }
            }
        }
        Ok(())
    }

    fn fresh_buffer(&mut self) -> io::Result<Vec<u8>> {
        if let Ok(b) = self.free.try_recv() {
            return Ok(b);
        }
        if self.allocated < self.max_buffers {
            self.allocated += 1;
            return Ok(vec![0u8; BATCH]);
        }
        self.free
            .recv()
            .map_err(|_| io::Error::other("hash workers stopped"))
    }

    /// Send the whole blocks of the current batch to the workers, keeping a
    /// partial trailing block in a new batch.
    fn dispatch(&mut self) -> io::Result<()> {
        self.check_failure()?;
        self.collect()?;
        let whole = self.filled / BLOCK * BLOCK;
        if whole == 0 {
            return Ok(());
        }
        let mut next = self.fresh_buffer()?;
        let tail = self.filled - whole;
        next[..tail].copy_from_slice(&self.buf[whole..self.filled]);
        let buf = std::mem::replace(&mut self.buf, next);
        let job = Job {
            start: self.buf_start,
            buf,
            len: whole,
        };
        self.jobs
            .as_ref()
            .expect("open job queue")
            .send(job)
            .map_err(|_| io::Error::other("hash workers stopped"))?;
        self.buf_start += (whole / BLOCK) as u64;
        self.filled = tail;
        Ok(())
    }

    /// Flush and restart the batch at the (block-aligned) cursor.
    fn realign(&mut self) -> io::Result<()> {
        debug_assert_eq!(self.cursor % BLOCK as u64, 0);
        self.dispatch()?;
        self.buf_start = self.cursor / BLOCK as u64;
        Ok(())
    }

    /// Wait for the workers and assemble level 0.
    pub fn finish(mut self) -> io::Result<Level0> {
        if !self.cursor.is_multiple_of(BLOCK as u64) {
            return Err(io::Error::other("image does not end on a block boundary"));
        }
        self.dispatch()?;
        drop(self.jobs.take());
        for w in self.workers.drain(..) {
            w.join()
                .map_err(|_| io::Error::other("hash worker panicked"))?;
        }
        self.check_failure()?;
        let dlen = self.params.algorithm.digest_len();
        let blocks = self.cursor / BLOCK as u64;
        self.collect()?;
        if self.next_block != blocks || !self.pending.is_empty() {
            return Err(io::Error::other(format!(
                "level 0 incomplete: {} of {blocks} blocks hashed",
                self.next_block
            )));
        }
        let mut digest = vec![0u8; dlen];
        for (&index, block) in &self.deferred {
            self.params
                .algorithm
                .hash_into(&self.params.salt, &block[..], &mut digest);
            self.level0.write_at(index * dlen as u64, &digest)?;
            if let Some((file, base)) = &self.output {
                file.write_all_at(&block[..], base + index * BLOCK as u64)
                    .inspect_err(|e| self.output_error.record(e))?;
            }
        }
        if let Some((file, base)) = &self.output {
            let end = base + blocks * BLOCK as u64;
            if file.metadata()?.len() < end {
                file.set_len(end)
                    .inspect_err(|e| self.output_error.record(e))?;
            }
        }
        Ok(Level0 {
            digests: std::mem::take(&mut self.level0),
            blocks,
        })
    }
}

impl BlockSink for HashingSink {
    fn reserve_leading(&mut self, blocks: u64) -> io::Result<()> {
        if blocks > 0 {
            self.pending
                .insert(self.cursor / BLOCK as u64, Piece::Late(blocks));
        }
        for i in 0..blocks {
            self.deferred
                .insert(self.cursor / BLOCK as u64 + i, Box::new([0u8; BLOCK]));
        }
        self.cursor += blocks * BLOCK as u64;
        self.realign()
    }

    fn append(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = data.len().min(BATCH - self.filled);
            self.buf[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            self.cursor += n as u64;
            data = &data[n..];
            if self.filled == BATCH {
                self.dispatch()?;
            }
        }
        Ok(())
    }

    fn append_from(&mut self, src: &mut dyn Read, n: u64) -> io::Result<u64> {
        let mut done = 0u64;
        while done < n {
            let room = (BATCH - self.filled).min(usize::try_from(n - done).unwrap_or(usize::MAX));
            let got = match src.read(&mut self.buf[self.filled..self.filled + room]) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.filled += got;
            self.cursor += got as u64;
            done += got as u64;
            if self.filled == BATCH {
                self.dispatch()?;
            }
        }
        Ok(done)
    }

    fn append_zeros(&mut self, n: u64) -> io::Result<()> {
        let mut left = n;
        // Finish a partial block through the batch.
        let head = ((BLOCK as u64 - self.cursor % BLOCK as u64) % BLOCK as u64).min(left);
        self.append(&vec![0u8; head as usize])?;
        left -= head;
        let whole = left / BLOCK as u64;
        if whole > BATCH_BLOCKS {
            self.realign()?;
            self.pending
                .insert(self.cursor / BLOCK as u64, Piece::Zeros(whole));
            self.cursor += whole * BLOCK as u64;
            self.buf_start = self.cursor / BLOCK as u64;
            left -= whole * BLOCK as u64;
        }
        let zeros = vec![0u8; BATCH.min(left as usize)];
        while left > 0 {
            let k = left.min(zeros.len() as u64) as usize;
            self.append(&zeros[..k])?;
            left -= k as u64;
        }
        Ok(())
    }

    fn append_mutable_block(&mut self, block: &[u8; BLOCK]) -> io::Result<()> {
        self.realign()?;
        self.pending
            .insert(self.cursor / BLOCK as u64, Piece::Late(1));
        self.deferred
            .insert(self.cursor / BLOCK as u64, Box::new(*block));
        self.cursor += BLOCK as u64;
        self.buf_start = self.cursor / BLOCK as u64;
        Ok(())
    }

    fn append_block_digests(&mut self, digests: &[u8]) -> io::Result<()> {
        let dlen = self.params.algorithm.digest_len();
        if self.output.is_some() || !digests.len().is_multiple_of(dlen) {
            return Err(io::Error::other(
                "block digests go only into a hash-only sink, whole digests",
            ));
        }
        let blocks = (digests.len() / dlen) as u64;
        if blocks == 0 {
            return Ok(());
        }
        self.realign()?;
        self.pending
            .insert(self.cursor / BLOCK as u64, Piece::Digests(digests.to_vec()));
        self.cursor += blocks * BLOCK as u64;
        self.buf_start = self.cursor / BLOCK as u64;
        Ok(())
    }

    fn set_block(&mut self, index: u64, block: &[u8; BLOCK]) -> io::Result<()> {
        match self.deferred.get_mut(&index) {
            Some(b) => {
                **b = *block;
                Ok(())
            }
            None => Err(io::Error::other(format!(
                "block {index} was not reserved for a late write"
            ))),
        }
    }
}

impl Drop for HashingSink {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
