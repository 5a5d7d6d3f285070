//! Where filesystem writers put their blocks.
//!
//! Writers produce an image front to back, except for a few blocks they
//! settle later (the superblock and descriptors, xattr blocks that may be
//! rewritten). A sink knows which blocks are final as soon as they are
//! appended, so a hashing sink can hash them while the layer still streams,
//! and nothing has to re-read the image.

use std::io::{self, Read};

pub const BLOCK: usize = 4096;

/// A sequential block device with a few blocks settled later.
pub trait BlockSink {
    /// Declare the first `blocks` blocks as settled later with
    /// [`BlockSink::set_block`]; the cursor moves past them.
    fn reserve_leading(&mut self, blocks: u64) -> io::Result<()>;
    /// Append bytes at the cursor.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Append up to `n` bytes read from `src`; fewer only if `src` ends.
    fn append_from(&mut self, src: &mut dyn Read, n: u64) -> io::Result<u64>;
    /// Append `n` zero bytes.
    fn append_zeros(&mut self, n: u64) -> io::Result<()>;
    /// Append a whole block (cursor block-aligned) that may be replaced
    /// until the end.
    fn append_mutable_block(&mut self, block: &[u8; BLOCK]) -> io::Result<()>;
    /// Replace a mutable or reserved block.
    fn set_block(&mut self, index: u64, block: &[u8; BLOCK]) -> io::Result<()>;
    /// Append whole blocks (cursor block-aligned) known only by their
    /// level-0 dm-verity digests, hashed earlier: for sinks that hash and
    /// write nothing. Others cannot take them.
    fn append_block_digests(&mut self, _digests: &[u8]) -> io::Result<()> {
        Err(io::Error::other(
            "this sink needs block contents, not their digests",
        ))
    }
}

/// An in-memory sink: the whole image in a `Vec`. For tests, fuzzing and
/// small images.
#[derive(Default)]
pub struct VecSink {
    pub bytes: Vec<u8>,
}

impl BlockSink for VecSink {
    fn reserve_leading(&mut self, blocks: u64) -> io::Result<()> {
        self.bytes
            .resize(self.bytes.len() + blocks as usize * BLOCK, 0);
        Ok(())
    }
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.bytes.extend_from_slice(data);
        Ok(())
    }
    fn append_from(&mut self, src: &mut dyn Read, n: u64) -> io::Result<u64> {
        let before = self.bytes.len();
        src.take(n).read_to_end(&mut self.bytes)?;
        Ok((self.bytes.len() - before) as u64)
    }
    fn append_zeros(&mut self, n: u64) -> io::Result<()> {
        self.bytes.resize(self.bytes.len() + n as usize, 0);
        Ok(())
    }
    fn append_mutable_block(&mut self, block: &[u8; BLOCK]) -> io::Result<()> {
        self.append(block)
    }
    fn set_block(&mut self, index: u64, block: &[u8; BLOCK]) -> io::Result<()> {
        let at = index as usize * BLOCK;
        self.bytes[at..at + BLOCK].copy_from_slice(block);
        Ok(())
    }
}

/// A sink writing straight into a file (no hashing): what a plain
/// `mkfs`-style run needs. Blocks settled later are written in place.
pub struct FileSink {
    out: io::BufWriter<std::fs::File>,
    file: std::fs::File,
}

impl FileSink {
    pub fn new(file: std::fs::File) -> io::Result<Self> {
        Ok(FileSink {
            out: io::BufWriter::with_capacity(1 << 20, file.try_clone()?),
            file,
        })
    }

    /// Flush and hand back the file.
    pub fn finish(mut self) -> io::Result<std::fs::File> {
        io::Write::flush(&mut self.out)?;
        Ok(self.file)
    }
}

impl BlockSink for FileSink {
    fn reserve_leading(&mut self, blocks: u64) -> io::Result<()> {
        self.append_zeros(blocks * BLOCK as u64)
    }
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut self.out, data)
    }
    fn append_from(&mut self, src: &mut dyn Read, n: u64) -> io::Result<u64> {
        io::copy(&mut src.take(n), &mut self.out)
    }
    fn append_zeros(&mut self, n: u64) -> io::Result<()> {
        io::copy(&mut io::repeat(0).take(n), &mut self.out).map(|_| ())
    }
    fn append_mutable_block(&mut self, block: &[u8; BLOCK]) -> io::Result<()> {
        self.append(block)
    }
    fn set_block(&mut self, index: u64, block: &[u8; BLOCK]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        // The buffer may still hold that block: write it out first.
        io::Write::flush(&mut self.out)?;
        self.file.write_all_at(block, index * BLOCK as u64)
    }
}
