//! A reader that copies everything read through it into a writer.

use std::io::{self, Read, Write};

pub struct Tee<R, W> {
    pub inner: R,
    pub copy: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}
