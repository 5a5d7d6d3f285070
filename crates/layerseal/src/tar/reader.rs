//! The `Next`/`Read` state machine (spec §1, §5, §6, §10.6).

use std::io::{self, Read};

use super::header::{block_kind, Format, Header, Kind, RawBlock};
use super::pax::{self, PaxMap};
use super::sparse::{self, Fragment, PaxSparse};
use super::typeflag::{self, is_header_only};
use super::{TarError, BLOCK};

/// PAX and GNU long-name sections larger than this are rejected.
const MAX_SPECIAL: u64 = 1 << 20;

/// Where the stream stands once a `Next` or `Read` ended it. Sticky.
#[derive(Debug, Clone)]
enum Stop {
    End,
    Failed(TarError),
}

/// Expansion state of a sparse entry.
struct Sparse {
    holes: Vec<Fragment>,
    first: usize,
    pos: i64,
}

impl Sparse {
    fn logical_remaining(&self) -> i64 {
        let last = self.holes[self.holes.len() - 1];
        last.offset + last.length - self.pos
    }
}

/// Reads entries from a tar stream exactly as Go's `archive/tar` does.
pub struct Reader<R> {
    inner: R,
    /// Stored bytes of the current entry's data section not yet consumed.
    remaining: u64,
    /// Padding after the current data section.
    pad: u64,
    sparse: Option<Sparse>,
    stop: Option<Stop>,
    /// Bytes consumed from `inner`, for error messages.
    offset: u64,
    /// Offset of the current entry's header block.
    entry_offset: u64,
    lenient_pax_times: bool,
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            remaining: 0,
            pad: 0,
            sparse: None,
            stop: None,
            offset: 0,
            entry_offset: 0,
            lenient_pax_times: false,
        }
    }

    /// Accept PAX time records Go rejects (e.g. `1.12a`), leaving the raw
    /// record in `Header::pax` for callers with their own rule (composefs
    /// import reads the fraction as cfsctl does).
    pub fn lenient_pax_times(mut self) -> Self {
        self.lenient_pax_times = true;
        self
    }

    /// Byte offset in the stream of the header of the entry last returned.
    pub fn entry_offset(&self) -> u64 {
        self.entry_offset
    }

    /// Byte offset in the stream of the next unread byte.
    pub fn stream_offset(&self) -> u64 {
        self.offset
    }

    /// Whether the current entry's data is expanded from a sparse map (so
    /// its bytes are not a contiguous run of the stream).
    pub fn entry_is_sparse(&self) -> bool {
        self.sparse.is_some()
    }

    /// The next entry, `Ok(None)` at a clean end. Errors are sticky.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Header>, TarError> {
        match &self.stop {
            Some(Stop::End) => return Ok(None),
            Some(Stop::Failed(e)) => return Err(e.clone()),
            None => {}
        }
        let result = self.next_inner();
        match &result {
            Ok(None) => self.stop = Some(Stop::End),
            Err(e) => self.stop = Some(Stop::Failed(e.clone())),
            Ok(Some(_)) => {}
        }
        result
    }

    fn next_inner(&mut self) -> Result<Option<Header>, TarError> {
        let mut pending: Option<PaxMap> = None;
        let mut long_name: Vec<u8> = Vec::new();
        let mut long_link: Vec<u8> = Vec::new();
        let mut format = Format::ALL;
        loop {
            // Finish the previous entry: its stored data, then its padding.
            self.sparse = None;
            let skip = std::mem::take(&mut self.remaining);
            if self.discard(skip)? < skip {
                return Err(TarError::UnexpectedEof);
            }
            let pad = std::mem::take(&mut self.pad);
            if self.discard(pad)? < pad {
                return Ok(None);
            }

            self.entry_offset = self.offset;
            let Some(block) = self.read_header_block()? else {
                return Ok(None);
            };
            let kind = block_kind(&block).ok_or(TarError::Header)?;
            let mut h = RawBlock(&block).decode(kind).ok_or(TarError::Header)?;
            self.set_data_section(&h)?;
            format.narrow(h.format);

            match h.typeflag {
                typeflag::XHEADER | typeflag::XGLOBAL => {
                    format.narrow(Format::PAX);
                    let records = pax::parse_records(&self.read_special()?)?;
                    if h.typeflag == typeflag::XGLOBAL {
                        return Ok(Some(global_entry(h.name, records, format)));
                    }
                    pending = Some(records);
                }
                typeflag::GNU_LONGNAME | typeflag::GNU_LONGLINK => {
                    format.narrow(Format::GNU);
                    let data = self.read_special()?;
                    let value = super::number::parse_string(&data).to_vec();
                    if h.typeflag == typeflag::GNU_LONGNAME {
                        long_name = value;
                    } else {
                        long_link = value;
                    }
                }
                _ => {
                    pax::merge(&mut h, pending.take(), self.lenient_pax_times)?;
                    if !long_name.is_empty() {
                        h.name = long_name;
                    }
                    if !long_link.is_empty() {
                        h.linkname = long_link;
                    }
                    if h.typeflag == typeflag::REG_A {
                        h.typeflag = if h.name.ends_with(b"/") {
                            typeflag::DIR
                        } else {
                            typeflag::REG
                        };
                    }
                    self.set_data_section(&h)?;
                    self.handle_sparse(&mut h, kind, &block)?;
                    if format.has(Format::USTAR) && format.has(Format::PAX) {
                        format.narrow(Format::USTAR);
                    }
                    h.format = format;
                    return Ok(Some(h));
                }
            }
        }
    }

    /// Go's `handleRegularFile`: the data section length from size and type.
    fn set_data_section(&mut self, h: &Header) -> Result<(), TarError> {
        let stored = if is_header_only(h.typeflag) {
            0
        } else {
            h.size
        };
        let stored = u64::try_from(stored).map_err(|_| TarError::Header)?;
        self.remaining = stored;
        self.pad = (BLOCK as u64 - stored % BLOCK as u64) % BLOCK as u64;
        Ok(())
    }

    fn handle_sparse(
        &mut self,
        h: &mut Header,
        kind: Kind,
        block: &[u8; BLOCK],
    ) -> Result<(), TarError> {
        let fragments = if h.typeflag == typeflag::GNU_SPARSE {
            if kind != Kind::Gnu {
                return Err(TarError::Header);
            }
            h.size = super::number::parse_numeric(&block[483..495]).ok_or(TarError::Header)?;
            let mut out = Vec::new();
            let mut more = sparse::old_gnu_slots(block, 386, 4, 482, &mut out)?;
            while more {
                let mut ext = [0u8; BLOCK];
                if self.read_full(&mut ext)? < BLOCK {
                    return Err(TarError::UnexpectedEof);
                }
                more = sparse::old_gnu_slots(&ext, 0, 21, 504, &mut out)?;
            }
            out
        } else {
            match sparse::pax_version(h)? {
                PaxSparse::None => return Ok(()),
                PaxSparse::V0x => sparse::pax_0x_map(h)?,
                PaxSparse::V10 => sparse::pax_10_map(|blk| {
                    if self.read_section(blk)? < BLOCK {
                        return Err(TarError::UnexpectedEof);
                    }
                    Ok(())
                })?,
            }
        };
        if is_header_only(h.typeflag) || !sparse::validate(&fragments, h.size) {
            return Err(TarError::Header);
        }
        self.sparse = Some(Sparse {
            holes: sparse::holes(&fragments, h.size),
            first: 0,
            pos: 0,
        });
        Ok(())
    }

    /// Read a header position: `None` at a clean end (spec §4.1).
    fn read_header_block(&mut self) -> Result<Option<[u8; BLOCK]>, TarError> {
        let mut block = [0u8; BLOCK];
        match self.read_full(&mut block)? {
            0 => return Ok(None),
            BLOCK => {}
            _ => return Err(TarError::UnexpectedEof),
        }
        if block.iter().any(|&c| c != 0) {
            return Ok(Some(block));
        }
        match self.read_full(&mut block)? {
            0 => Ok(None),
            BLOCK if block.iter().all(|&c| c == 0) => Ok(None),
            BLOCK => Err(TarError::Header),
            _ => Err(TarError::UnexpectedEof),
        }
    }

    /// The whole data section of a PAX or GNU long-name header.
    fn read_special(&mut self) -> Result<Vec<u8>, TarError> {
        let want = self.remaining.min(MAX_SPECIAL + 1);
        let mut buf = vec![0u8; usize::try_from(want).map_err(|_| TarError::FieldTooLong)?];
        let got = self.read_section(&mut buf)?;
        if got as u64 > MAX_SPECIAL {
            return Err(TarError::FieldTooLong);
        }
        if (got as u64) < want {
            return Err(TarError::UnexpectedEof);
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// Fill `buf` from the stored data section; fewer bytes only at the end
    /// of the section. A stream that ends inside the section is an error.
    fn read_section(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        let mut n = 0;
        while n < buf.len() {
            let got = self.read_stored(&mut buf[n..])?;
            if got == 0 {
                break;
            }
            n += got;
        }
        Ok(n)
    }

    /// One read of stored data (Go's `regFileReader`): 0 at the section end.
    fn read_stored(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        let limit = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if limit == 0 {
            return Ok(0);
        }
        let got = loop {
            match self.inner.read(&mut buf[..limit]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        self.offset += got as u64;
        self.remaining -= got as u64;
        if got == 0 {
            return Err(TarError::UnexpectedEof);
        }
        Ok(got)
    }

    /// Read until `buf` is full or the stream ends; returns the count.
    fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(got) => n += got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.offset += n as u64;
        Ok(n)
    }

    /// Read and drop up to `n` bytes; returns how many there were.
    fn discard(&mut self, n: u64) -> Result<u64, TarError> {
        let mut sink = [0u8; 8192];
        let mut left = n;
        while left > 0 {
            let want = sink.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let got = self.read_full(&mut sink[..want])?;
            left -= got as u64;
            if got < want {
                break;
            }
        }
        Ok(n - left)
    }

    /// One `Read` of the current entry, Go style: bytes delivered and how the
    /// call ended (`None` = more may follow, `Some(Ok)` = end of entry).
    fn read_entry(&mut self, buf: &mut [u8]) -> (usize, Option<Result<(), TarError>>) {
        match self.sparse.as_mut() {
            None => match self.read_stored(buf) {
                Ok(0) => (0, Some(Ok(()))),
                Ok(n) if self.remaining == 0 => (n, Some(Ok(()))),
                Ok(n) => (n, None),
                Err(e) => (0, Some(Err(e))),
            },
            Some(_) => self.read_sparse(buf),
        }
    }

    fn read_sparse(&mut self, buf: &mut [u8]) -> (usize, Option<Result<(), TarError>>) {
        let Some(sp) = self.sparse.as_ref() else {
            return (0, Some(Ok(())));
        };
        let logical = u64::try_from(sp.logical_remaining()).unwrap_or(0);
        let finished = buf.len() as u64 >= logical;
        let want = if finished {
            logical as usize
        } else {
            buf.len()
        };
        let mut n = 0usize;
        let mut err: Option<TarError> = None;
        let mut missing = false;
        while n < want && err.is_none() && !missing {
            let sp = self.sparse.as_ref().expect("sparse state");
            let hole = sp.holes[sp.first];
            let (hole_start, hole_end) = (hole.offset, hole.offset + hole.length);
            let pos = sp.pos;
            let room = (want - n) as i64;
            let got = if pos < hole_start {
                let len = room.min(hole_start - pos) as usize;
                let mut filled = 0;
                while filled < len {
                    match self.read_stored(&mut buf[n + filled..n + len]) {
                        Ok(0) => {
                            missing = true;
                            break;
                        }
                        Ok(k) => filled += k,
                        Err(e) => {
                            err = Some(e);
                            break;
                        }
                    }
                }
                filled
            } else {
                let len = room.min(hole_end - pos) as usize;
                buf[n..n + len].fill(0);
                len
            };
            n += got;
            let sp = self.sparse.as_mut().expect("sparse state");
            sp.pos += got as i64;
            if sp.pos >= hole_end && sp.first + 1 < sp.holes.len() {
                sp.first += 1;
            }
        }
        let sp = self.sparse.as_ref().expect("sparse state");
        if missing {
            return (n, Some(Err(TarError::MissData)));
        }
        if let Some(e) = err {
            return (n, Some(Err(e)));
        }
        if sp.logical_remaining() == 0 && self.remaining > 0 {
            return (n, Some(Err(TarError::UnrefData)));
        }
        (n, finished.then_some(Ok(())))
    }
}

/// A `g` header comes back as an entry of its own (spec §7.5).
fn global_entry(name: Vec<u8>, records: PaxMap, format: Format) -> Header {
    let mut h = Header {
        typeflag: typeflag::XGLOBAL,
        name,
        linkname: Vec::new(),
        size: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        uname: Vec::new(),
        gname: Vec::new(),
        mtime: None,
        atime: None,
        ctime: None,
        devmajor: 0,
        devminor: 0,
        pax: None,
        format,
    };
    // A bad value stops Go's merge (in random map order); keep only the
    // header name then, as the spec suggests, and no records.
    let mut probe = h.clone();
    if pax::merge(&mut probe, Some(records), false).is_ok() {
        h.name = probe.name;
        h.pax = probe.pax;
    }
    h
}

impl<R: Read> Read for Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.stop {
            Some(Stop::End) => return Ok(0),
            Some(Stop::Failed(e)) => return Err(e.clone().into()),
            None => {}
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let (n, end) = self.read_entry(buf);
        if let Some(Err(e)) = end {
            // Go returns the bytes together with the error; we return the
            // bytes now and the (sticky) error on the next call.
            self.stop = Some(Stop::Failed(e.clone()));
            if n == 0 {
                return Err(e.into());
            }
        }
        Ok(n)
    }
}
