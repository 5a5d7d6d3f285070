//! composefs-rs splitstreams: a byte stream (a layer tar, a JSON
//! document) split into inline bytes and references to objects, so file
//! contents are stored once, by fs-verity digest (spec: composefs.md §5.2).
//!
//! Layout: a 32-byte header (`SplitStream`, version 0, flags 0, algorithm,
//! log2 block size, where the info block is), the 80-byte info block
//! (ranges of the four sections, content type, reassembled size), then
//! the stream refs and object refs (raw digests), the zstd-compressed
//! named refs (`"IDX:NAME\0"`, sorted by name) and the zstd-compressed
//! instruction stream: i64 little-endian, −n = n inline bytes follow,
//! n ≥ 0 = the whole content of `object_refs[n]`.

use std::io::{self, Read, Write};

use crate::verity::Algorithm;

const MAGIC: &[u8; 11] = b"SplitStream";
const HEADER_LEN: u64 = 32;
const INFO_LEN: u64 = 80;
/// Named refs and streams are small; more is a corrupt file.
const MAX_SECTION: u64 = 1 << 30;

/// The 8-byte content types cfsctl uses.
pub mod content_type {
    pub const OCI_LAYER: [u8; 8] = *b"ocilayer";
    pub const OCI_CONFIG: [u8; 8] = *b"ociconfg";
    pub const OCI_MANIFEST: [u8; 8] = *b"ocimanif";
}

fn alg_byte(a: Algorithm) -> u8 {
    match a {
        Algorithm::Sha256 => 1,
        Algorithm::Sha512 => 2,
    }
}

/// Builds a splitstream. Inline bytes are merged and compressed as they
/// come, so memory stays at the compressed size.
pub struct Writer {
    algorithm: Algorithm,
    content_type: [u8; 8],
    stream_refs: Vec<Vec<u8>>,
    object_refs: Vec<Vec<u8>>,
    object_index: std::collections::HashMap<Vec<u8>, usize>,
    named_refs: Vec<(String, usize)>,
    pending_inline: Vec<u8>,
    stream: zstd::Encoder<'static, Vec<u8>>,
    stream_size: u64,
}

impl Writer {
    pub fn new(algorithm: Algorithm, content_type: [u8; 8]) -> io::Result<Self> {
        Ok(Writer {
            algorithm,
            content_type,
            stream_refs: Vec::new(),
            object_refs: Vec::new(),
            object_index: std::collections::HashMap::new(),
            named_refs: Vec::new(),
            pending_inline: Vec::new(),
            stream: zstd::Encoder::new(Vec::new(), 3)?,
            stream_size: 0,
        })
    }

    /// Bytes kept in the stream itself.
    pub fn inline(&mut self, data: &[u8]) -> io::Result<()> {
        self.pending_inline.extend_from_slice(data);
        self.stream_size += data.len() as u64;
        if self.pending_inline.len() >= 1 << 20 {
            self.flush_inline()?;
        }
        Ok(())
    }

    fn flush_inline(&mut self) -> io::Result<()> {
        if self.pending_inline.is_empty() {
            return Ok(());
        }
        let n = self.pending_inline.len() as i64;
        self.stream.write_all(&(-n).to_le_bytes())?;
        self.stream.write_all(&self.pending_inline)?;
        self.pending_inline.clear();
        Ok(())
    }

    /// The whole content of an object (`size` bytes) at this point.
    pub fn external(&mut self, digest: &[u8], size: u64) -> io::Result<()> {
        self.flush_inline()?;
        let next = self.object_refs.len();
        let idx = *self.object_index.entry(digest.to_vec()).or_insert(next);
        if idx == next {
            self.object_refs.push(digest.to_vec());
        }
        self.stream.write_all(&(idx as i64).to_le_bytes())?;
        self.stream_size += size;
        Ok(())
    }

    /// Another splitstream (or image) this one refers to by name.
    pub fn add_named_ref(&mut self, name: &str, digest: &[u8]) {
        let idx = match self.stream_refs.iter().position(|d| d == digest) {
            Some(i) => i,
            None => {
                self.stream_refs.push(digest.to_vec());
                self.stream_refs.len() - 1
            }
        };
        self.named_refs.push((name.to_string(), idx));
    }

    /// The finished file.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        self.flush_inline()?;
        let stream = self.stream.finish()?;
        self.named_refs.sort();
        let mut names = Vec::new();
        for (name, idx) in &self.named_refs {
            names.extend_from_slice(format!("{idx}:{name}").as_bytes());
            names.push(0);
        }
        let names = zstd::encode_all(&names[..], 3)?;
        let refs_len = |r: &[Vec<u8>]| r.iter().map(|d| d.len() as u64).sum::<u64>();
        let sr_start = HEADER_LEN + INFO_LEN;
        let or_start = sr_start + refs_len(&self.stream_refs);
        let nr_start = or_start + refs_len(&self.object_refs);
        let st_start = nr_start + names.len() as u64;
        let st_end = st_start + stream.len() as u64;

        let mut out = Vec::with_capacity(st_end as usize);
        out.extend_from_slice(MAGIC);
        out.push(0); // version
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.push(alg_byte(self.algorithm));
        out.push(12); // log2 block size
        out.extend_from_slice(&HEADER_LEN.to_le_bytes());
        out.extend_from_slice(&(HEADER_LEN + INFO_LEN).to_le_bytes());
        for (a, b) in [
            (sr_start, or_start),
            (or_start, nr_start),
            (st_start, st_end),
            (nr_start, st_start),
        ] {
            out.extend_from_slice(&a.to_le_bytes());
            out.extend_from_slice(&b.to_le_bytes());
        }
        out.extend_from_slice(&self.content_type);
        out.extend_from_slice(&self.stream_size.to_le_bytes());
        for d in self.stream_refs.iter().chain(&self.object_refs) {
            out.extend_from_slice(d);
        }
        out.extend_from_slice(&names);
        out.extend_from_slice(&stream);
        Ok(out)
    }
}

/// One piece of a reassembled stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    Inline(Vec<u8>),
    /// Index into `object_refs`.
    External(usize),
}

/// A parsed splitstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitStream {
    pub algorithm: Algorithm,
    pub content_type: [u8; 8],
    pub stream_size: u64,
    pub stream_refs: Vec<Vec<u8>>,
    pub object_refs: Vec<Vec<u8>>,
    /// (name, index into `stream_refs`), sorted by name.
    pub named_refs: Vec<(String, usize)>,
    pub chunks: Vec<Chunk>,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("splitstream: {}", msg.into()),
    )
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl SplitStream {
    /// Parse a whole splitstream file.
    pub fn parse(file: &[u8]) -> io::Result<Self> {
        if file.len() < (HEADER_LEN + INFO_LEN) as usize || &file[..11] != MAGIC {
            return Err(bad("not a splitstream (magic)"));
        }
        if file[11] != 0 {
            return Err(bad(format!("unknown version {}", file[11])));
        }
        let algorithm = match file[14] {
            1 => Algorithm::Sha256,
            2 => Algorithm::Sha512,
            a => return Err(bad(format!("unknown algorithm {a}"))),
        };
        let dlen = algorithm.digest_len();
        let range = |at: usize| -> io::Result<&[u8]> {
            let (a, b) = (u64_at(file, at), u64_at(file, at + 8));
            if a > b || b > file.len() as u64 || b - a > MAX_SECTION {
                return Err(bad(format!("section {a}..{b} outside the file")));
            }
            Ok(&file[a as usize..b as usize])
        };
        let info = range(16)?;
        if info.len() < INFO_LEN as usize {
            return Err(bad("short info block"));
        }
        let info_at = u64_at(file, 16) as usize;
        let digests = |s: &[u8]| -> io::Result<Vec<Vec<u8>>> {
            if !s.len().is_multiple_of(dlen) {
                return Err(bad("reference table is not whole digests"));
            }
            Ok(s.chunks(dlen).map(<[u8]>::to_vec).collect())
        };
        let stream_refs = digests(range(info_at)?)?;
        let object_refs = digests(range(info_at + 16)?)?;
        let stream = range(info_at + 32)?;
        let names = range(info_at + 48)?;
        let content_type: [u8; 8] = info[64..72].try_into().expect("8 bytes");
        let stream_size = u64_at(info, 72);

        let mut named_refs = Vec::new();
        let names = decompress(names)?;
        for rec in names.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let rec = std::str::from_utf8(rec).map_err(|_| bad("named ref is not UTF-8"))?;
            let (idx, name) = rec
                .split_once(':')
                .ok_or_else(|| bad("named ref without ':'"))?;
            let idx: usize = idx.parse().map_err(|_| bad("named ref index"))?;
            if idx >= stream_refs.len() {
                return Err(bad("named ref index out of range"));
            }
            named_refs.push((name.to_string(), idx));
        }

        let stream = decompress(stream)?;
        let mut chunks = Vec::new();
        let mut at = 0;
        while at < stream.len() {
            let n = i64::from_le_bytes(
                stream
                    .get(at..at + 8)
                    .ok_or_else(|| bad("truncated instruction"))?
                    .try_into()
                    .expect("8 bytes"),
            );
            at += 8;
            if n < 0 {
                let len = n.unsigned_abs() as usize;
                let data = stream
                    .get(at..at + len)
                    .ok_or_else(|| bad("inline data past the end"))?;
                chunks.push(Chunk::Inline(data.to_vec()));
                at += len;
            } else {
                let idx = n as usize;
                if idx >= object_refs.len() {
                    return Err(bad(format!("object ref {idx} out of range")));
                }
                chunks.push(Chunk::External(idx));
            }
        }
        Ok(SplitStream {
            algorithm,
            content_type,
            stream_size,
            stream_refs,
            object_refs,
            named_refs,
            chunks,
        })
    }

    /// The stream ref called `name`.
    pub fn named(&self, name: &str) -> Option<&[u8]> {
        self.named_refs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| self.stream_refs[*i].as_slice())
    }

    /// Reassemble the stream; `open` gives each object's content.
    pub fn reader<'a, F>(&'a self, open: F) -> impl Read + 'a
    where
        F: FnMut(&[u8]) -> io::Result<Box<dyn Read + 'a>> + 'a,
    {
        Reassemble {
            stream: self,
            next: 0,
            current: None,
            open,
        }
    }
}

fn decompress(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    zstd::Decoder::new(data)?
        .take(MAX_SECTION)
        .read_to_end(&mut out)?;
    Ok(out)
}

struct Reassemble<'a, F> {
    stream: &'a SplitStream,
    next: usize,
    current: Option<Box<dyn Read + 'a>>,
    open: F,
}

impl<'a, F> Read for Reassemble<'a, F>
where
    F: FnMut(&[u8]) -> io::Result<Box<dyn Read + 'a>>,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(r) = &mut self.current {
                let n = r.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                self.current = None;
            }
            let Some(chunk) = self.stream.chunks.get(self.next) else {
                return Ok(0);
            };
            self.next += 1;
            self.current = Some(match chunk {
                Chunk::Inline(data) => Box::new(&data[..]),
                Chunk::External(i) => (self.open)(&self.stream.object_refs[*i])?,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_merges_inline_bytes() {
        let mut w = Writer::new(Algorithm::Sha256, content_type::OCI_LAYER).unwrap();
        w.inline(b"head").unwrap();
        w.inline(b"er").unwrap();
        w.external(&[7; 32], 5).unwrap();
        w.inline(b"tail").unwrap();
        w.external(&[7; 32], 5).unwrap();
        w.add_named_ref("b", &[1; 32]);
        w.add_named_ref("a", &[2; 32]);
        let file = w.finish().unwrap();
        let s = SplitStream::parse(&file).unwrap();
        assert_eq!(s.stream_size, 6 + 5 + 4 + 5);
        assert_eq!(s.object_refs, vec![vec![7; 32]]);
        assert_eq!(
            s.chunks,
            vec![
                Chunk::Inline(b"header".to_vec()),
                Chunk::External(0),
                Chunk::Inline(b"tail".to_vec()),
                Chunk::External(0)
            ]
        );
        assert_eq!(s.named("a"), Some(&[2u8; 32][..]));
        assert_eq!(s.named_refs[0].0, "a");
        let mut out = Vec::new();
        s.reader(|_| Ok(Box::new(&b"12345"[..]) as Box<dyn Read>))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"header12345tail12345");
    }

    #[test]
    fn empty_named_refs_section_is_nine_bytes_as_cfsctl_writes() {
        let w = Writer::new(Algorithm::Sha256, content_type::OCI_LAYER).unwrap();
        let file = w.finish().unwrap();
        let nr = (u64_at(&file, 32 + 48), u64_at(&file, 32 + 56));
        assert_eq!(nr, (112, 121));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let w = Writer::new(Algorithm::Sha512, content_type::OCI_CONFIG).unwrap();
        let file = w.finish().unwrap();
        for cut in 0..file.len() {
            let _ = SplitStream::parse(&file[..cut]);
        }
        let mut bad = file.clone();
        bad[32] = 0xFF;
        assert!(SplitStream::parse(&bad).is_err());
    }
}
