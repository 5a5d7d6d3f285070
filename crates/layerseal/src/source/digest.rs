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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_refuses_junk() {
        let d = Digest::sha256_of(b"abc");
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        assert!(Digest::parse("sha256:xyz").is_err());
        assert!(Digest::parse("md5:abc").is_err());
    }
}
