//! Hash-tree bytes that stay in memory while small and move to an
//! anonymous temporary file when they grow, so hashing a layer of any
//! size needs bounded memory (a tree is 1/128 of its data with 4 KiB
//! blocks, 1/16 with 512-byte blocks).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes kept in memory up to this size.
pub const SPILL_AT: usize = 8 << 20;

#[derive(Debug)]
pub struct DigestSpool {
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
    limit: usize,
}

impl Default for DigestSpool {
    fn default() -> Self {
        Self::with_limit(SPILL_AT)
    }
}

impl DigestSpool {
    /// A spool that moves to a file past `limit` bytes (tests use small
    /// limits to exercise the file path).
    pub fn with_limit(limit: usize) -> Self {
        DigestSpool {
            mem: Vec::new(),
            file: None,
            len: 0,
            limit,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the bytes live in a temporary file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.file.is_none() && self.mem.len() + data.len() > self.limit {
            let f = tempfile::tempfile()?;
            f.write_all_at(&self.mem, 0)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &self.file {
            Some(f) => f.write_all_at(data, self.len)?,
            None => self.mem.extend_from_slice(data),
        }
        self.len += data.len() as u64;
        Ok(())
    }

    /// Append `n` zero bytes.
    pub fn append_zeros(&mut self, mut n: u64) -> io::Result<()> {
        let zeros = [0u8; 4096];
        while n > 0 {
            let k = n.min(zeros.len() as u64) as usize;
            self.append(&zeros[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// Overwrite bytes already appended.
    pub fn write_at(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        if at + data.len() as u64 > self.len {
            return Err(io::Error::other("digest spool: write past the end"));
        }
        match &self.file {
            Some(f) => f.write_all_at(data, at),
            None => {
                self.mem[at as usize..at as usize + data.len()].copy_from_slice(data);
                Ok(())
            }
        }
    }

    pub fn read_at(&self, at: u64, buf: &mut [u8]) -> io::Result<()> {
        if at + buf.len() as u64 > self.len {
            return Err(io::Error::other("digest spool: read past the end"));
        }
        match &self.file {
            Some(f) => f.read_exact_at(buf, at),
            None => {
                buf.copy_from_slice(&self.mem[at as usize..at as usize + buf.len()]);
                Ok(())
            }
        }
    }

    /// Visit the bytes in order, in pieces of at most `chunk` bytes (a
    /// multiple of the caller's block size keeps blocks whole).
    pub fn for_each_chunk(
        &self,
        chunk: usize,
        mut f: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.file.is_none() {
            for c in self.mem.chunks(chunk.max(1)) {
                f(c)?;
            }
            return Ok(());
        }
        let mut buf = vec![0u8; chunk.max(1)];
        let mut at = 0u64;
        while at < self.len {
            let n = (self.len - at).min(buf.len() as u64) as usize;
            self.read_at(at, &mut buf[..n])?;
            f(&buf[..n])?;
            at += n as u64;
        }
        Ok(())
    }

    /// All bytes (tests, small trees).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        let mut out = vec![0u8; self.len as usize];
        self.read_at(0, &mut out)?;
        Ok(out)
    }

    /// Copy the bytes into `file` at `at`.
    pub fn write_to(&self, file: &File, mut at: u64) -> io::Result<()> {
        self.for_each_chunk(1 << 20, |c| {
            file.write_all_at(c, at)?;
            at += c.len() as u64;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_past_the_limit_and_reads_back() {
        for limit in [0, 5, 1 << 20] {
            let mut s = DigestSpool::with_limit(limit);
            s.append(b"hello").unwrap();
            s.append_zeros(3).unwrap();
            s.append(b"world").unwrap();
            s.write_at(1, b"E").unwrap();
            assert_eq!(s.to_vec().unwrap(), b"hEllo\0\0\0world");
            assert_eq!(s.spilled(), limit < 13);
            let mut pieces = Vec::new();
            s.for_each_chunk(4, |c| {
                pieces.push(c.to_vec());
                Ok(())
            })
            .unwrap();
            assert_eq!(pieces.concat(), s.to_vec().unwrap());
            assert!(s.write_at(12, b"xy").is_err());
        }
    }
}
