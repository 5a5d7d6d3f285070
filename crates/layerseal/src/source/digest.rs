//! Content digests (`sha256:<hex>`) and a reader that checks one while a
//! blob streams.

use std::fmt;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    pub algorithm: String,
    pub hex: String,
}

impl Digest {
    /// Parse `alg:hex`; only sha256 can be verified.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| format!("malformed digest {s:?}"))?;
        let ok = match alg {
            "sha256" => hex.len() == 64,
            "sha512" => hex.len() == 128,
            _ => false,
        };
        if !ok
            || !hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        {
            return Err(format!("malformed or unsupported digest {s:?}"));
        }
        Ok(Digest {
            algorithm: alg.to_string(),
            hex: hex.to_string(),
        })
    }

    pub fn sha256_of(bytes: &[u8]) -> Self {
        Digest {
            algorithm: "sha256".into(),
            hex: hex_lower(&Sha256::digest(bytes)),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

pub use crate::verity::hex_lower;

/// Hashes everything read through it; at the end compares with what was
/// expected and fails the read that hits EOF when they differ.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: Option<Digest>,
    expected_size: Option<u64>,
    read: u64,
    what: String,
    done: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// `expected` None only measures (see [`VerifyingReader::digest`]).
    pub fn new(
        inner: R,
        expected: Option<Digest>,
        expected_size: Option<u64>,
        what: impl Into<String>,
    ) -> Self {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            expected: expected.filter(|d| d.algorithm == "sha256"),
            expected_size,
            read: 0,
            what: what.into(),
            done: false,
        }
    }

    /// The digest of everything read so far.
    pub fn digest(&self) -> Digest {
        Digest {
            algorithm: "sha256".into(),
            hex: hex_lower(&self.hasher.clone().finalize()),
        }
    }

    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
            self.read += n as u64;
            if let Some(size) = self.expected_size {
                if self.read > size {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: more than the {size} bytes its descriptor declares",
                            self.what
                        ),
                    ));
                }
            }
            return Ok(n);
        }
        if !self.done && !buf.is_empty() {
            self.done = true;
            if let Some(size) = self.expected_size {
                if self.read != size {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{}: truncated: {} of {size} bytes", self.what, self.read),
                    ));
                }
            }
            if let Some(exp) = &self.expected {
                let got = self.digest();
                if &got != exp {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: digest mismatch: expected {exp}, got {got}", self.what),
                    ));
                }
            }
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_verify() {
        let d = Digest::sha256_of(b"abc");
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        assert!(Digest::parse("sha256:xyz").is_err());
        assert!(Digest::parse("md5:abc").is_err());
        let mut ok = VerifyingReader::new(&b"abc"[..], Some(d.clone()), Some(3), "blob");
        assert_eq!(std::io::read_to_string(&mut ok).unwrap(), "abc");
        let mut bad = VerifyingReader::new(&b"abd"[..], Some(d.clone()), None, "blob");
        let e = std::io::read_to_string(&mut bad).unwrap_err();
        assert!(e.to_string().contains("digest mismatch"), "{e}");
        let mut short = VerifyingReader::new(&b"ab"[..], Some(d), Some(3), "blob");
        assert!(std::io::read_to_string(&mut short)
            .unwrap_err()
            .to_string()
            .contains("truncated"));
    }
}

/// What a [`Measured`] reader has seen: bytes and their SHA-256.
#[derive(Clone, Default)]
pub struct Measurement(std::sync::Arc<std::sync::Mutex<(Sha256, u64)>>);

impl Measurement {
    pub fn digest(&self) -> Digest {
        let g = self.0.lock().expect("measurement");
        Digest {
            algorithm: "sha256".into(),
            hex: hex_lower(&g.0.clone().finalize()),
        }
    }
    pub fn bytes(&self) -> u64 {
        self.0.lock().expect("measurement").1
    }
}

/// Hashes what passes through into a [`Measurement`] the caller keeps,
/// so the digest can be checked after the reader was handed on.
pub struct Measured<R> {
    inner: R,
    m: Measurement,
}

impl<R: Read> Measured<R> {
    pub fn new(inner: R) -> (Self, Measurement) {
        let m = Measurement::default();
        (
            Measured {
                inner,
                m: m.clone(),
            },
            m,
        )
    }
}

impl<R: Read> Read for Measured<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            let mut g = self.m.0.lock().expect("measurement");
            g.0.update(&buf[..n]);
            g.1 += n as u64;
        }
        Ok(n)
    }
}

enum HashMsg {
    Data(Vec<u8>),
    Finish(std::sync::mpsc::Sender<(Digest, u64)>),
}

type Pending = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// Like [`Measured`], but the hashing runs on its own thread, off the
/// critical path of the reader (decompression is single-threaded; hashing
/// its output beside it keeps the layer at decompression speed).
pub struct ThreadMeasured<R> {
    inner: R,
    pending: Pending,
    tx: std::sync::mpsc::SyncSender<HashMsg>,
}

/// The far end of a [`ThreadMeasured`] reader.
pub struct ThreadMeasurement {
    pending: Pending,
    tx: std::sync::mpsc::SyncSender<HashMsg>,
}

const CHUNK: usize = 256 << 10;

impl<R: Read> ThreadMeasured<R> {
    pub fn new(inner: R) -> (Self, ThreadMeasurement) {
        let (tx, rx) = std::sync::mpsc::sync_channel::<HashMsg>(4);
        std::thread::spawn(move || {
            let mut h = Sha256::new();
            let mut n = 0u64;
            for msg in rx {
                match msg {
                    HashMsg::Data(d) => {
                        h.update(&d);
                        n += d.len() as u64;
                    }
                    HashMsg::Finish(reply) => {
                        let digest = Digest {
                            algorithm: "sha256".into(),
                            hex: hex_lower(&h.clone().finalize()),
                        };
                        let _ = reply.send((digest, n));
                    }
                }
            }
        });
        let pending: Pending = Default::default();
        (
            ThreadMeasured {
                inner,
                pending: pending.clone(),
                tx: tx.clone(),
            },
            ThreadMeasurement { pending, tx },
        )
    }
}

impl<R: Read> Read for ThreadMeasured<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut p = self.pending.lock().expect("pending");
        p.extend_from_slice(&buf[..n]);
        if p.len() >= CHUNK {
            let full = std::mem::replace(&mut *p, Vec::with_capacity(CHUNK));
            drop(p);
            let _ = self.tx.send(HashMsg::Data(full));
        }
        Ok(n)
    }
}

impl ThreadMeasurement {
    /// Digest and length of everything read through the reader so far.
    pub fn finish(&self) -> (Digest, u64) {
        let rest = std::mem::take(&mut *self.pending.lock().expect("pending"));
        let (tx, rx) = std::sync::mpsc::channel();
        if (!rest.is_empty() && self.tx.send(HashMsg::Data(rest)).is_err())
            || self.tx.send(HashMsg::Finish(tx)).is_err()
        {
            return (Digest::sha256_of(b""), 0);
        }
        rx.recv().unwrap_or_else(|_| (Digest::sha256_of(b""), 0))
    }
}

#[cfg(test)]
mod thread_tests {
    use super::*;

    #[test]
    fn threaded_measurement_sees_every_byte() {
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        let (mut r, m) = ThreadMeasured::new(&data[..]);
        let mut sink = vec![0u8; 7919];
        // Stop one short of EOF: finish() must still count what was read.
        let mut read = 0;
        while read < data.len() - 10 {
            read += r
                .read(&mut sink[..(data.len() - 10 - read).min(7919)])
                .unwrap();
        }
        let (d, n) = m.finish();
        assert_eq!(n as usize, read);
        assert_eq!(d, Digest::sha256_of(&data[..read]));
    }
}
