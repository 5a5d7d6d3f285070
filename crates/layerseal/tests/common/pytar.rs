//! A streaming writer of the USTAR members Python's `tarfile` (PAX format)
//! writes for short names, to regenerate corpus layers byte for byte.

use std::io::{self, Read};

/// One regular file: name (< 100 bytes), mode, mtime, and its data.
pub struct Member {
    pub name: String,
    pub mode: u32,
    pub mtime: u64,
    pub size: u64,
    pub data: Box<dyn Read + Send>,
}

fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

pub fn header(m: &Member) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[..m.name.len()].copy_from_slice(m.name.as_bytes());
    octal(&mut b[100..108], u64::from(m.mode));
    octal(&mut b[108..116], 0);
    octal(&mut b[116..124], 0);
    octal(&mut b[124..136], m.size);
    octal(&mut b[136..148], m.mtime);
    b[148..156].fill(b' ');
    b[156] = b'0';
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
    let s = format!("{sum:06o}\0");
    b[148..155].copy_from_slice(s.as_bytes());
    b
}

/// The whole archive as a stream: members, end blocks, record padding.
pub struct TarStream {
    parts: std::collections::VecDeque<Box<dyn Read + Send>>,
}

impl TarStream {
    pub fn new(members: Vec<Member>) -> Self {
        let mut parts: std::collections::VecDeque<Box<dyn Read + Send>> = Default::default();
        let mut total = 0u64;
        for m in members {
            let h = header(&m);
            let pad = (512 - m.size % 512) % 512;
            total += 512 + m.size + pad;
            parts.push_back(Box::new(io::Cursor::new(h.to_vec())));
            parts.push_back(Box::new(m.data.take(m.size)));
            parts.push_back(Box::new(io::repeat(0).take(pad)));
        }
        total += 1024;
        let record = 10240;
        let end = 1024 + (record - total % record) % record;
        parts.push_back(Box::new(io::repeat(0).take(end)));
        TarStream { parts }
    }
}

impl Read for TarStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(front) = self.parts.front_mut() {
            let n = front.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            self.parts.pop_front();
        }
        Ok(0)
    }
}
