//! GNU sparse files: the three map encodings and the validation Go applies
//! (spec §10). Expansion itself lives in the reader.

use super::header::Header;
use super::number::{parse_decimal, parse_numeric};
use super::pax::SPARSE_MAP;
use super::TarError;

/// One stored data fragment: `length` bytes placed at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    pub offset: i64,
    pub length: i64,
}

impl Fragment {
    fn end(self) -> i64 {
        self.offset + self.length
    }
}

/// Entries of an old-GNU (`'S'`) map from one block: `count` slots of 24
/// bytes starting at `at`. Returns whether an extension block follows.
pub fn old_gnu_slots(
    block: &[u8; 512],
    at: usize,
    count: usize,
    flag_at: usize,
    out: &mut Vec<Fragment>,
) -> Result<bool, TarError> {
    for i in 0..count {
        let slot = &block[at + 24 * i..at + 24 * (i + 1)];
        if slot[0] == 0 {
            break;
        }
        let offset = parse_numeric(&slot[..12]).ok_or(TarError::Header)?;
        let length = parse_numeric(&slot[12..]).ok_or(TarError::Header)?;
        out.push(Fragment { offset, length });
    }
    Ok(block[flag_at] != 0)
}

/// Which PAX sparse version the records announce.
pub enum PaxSparse {
    None,
    V0x,
    V10,
}

/// Recognise PAX sparse records and apply their name and size (spec §10.1).
pub fn pax_version(h: &mut Header) -> Result<PaxSparse, TarError> {
    let Some(pax) = &h.pax else {
        return Ok(PaxSparse::None);
    };
    let get = |k: &[u8]| pax.get(k).map_or(&[][..], Vec::as_slice);
    let (major, minor) = (get(b"GNU.sparse.major"), get(b"GNU.sparse.minor"));
    let version = match (major, minor) {
        (b"0", b"0" | b"1") => PaxSparse::V0x,
        (b"1", b"0") => PaxSparse::V10,
        _ if !major.is_empty() || !minor.is_empty() => return Ok(PaxSparse::None),
        _ if !get(SPARSE_MAP).is_empty() => PaxSparse::V0x,
        _ => return Ok(PaxSparse::None),
    };
    let name = get(b"GNU.sparse.name").to_vec();
    let mut size = get(b"GNU.sparse.size");
    if size.is_empty() {
        size = get(b"GNU.sparse.realsize");
    }
    let size = if size.is_empty() {
        None
    } else {
        Some(parse_decimal(size).ok_or(TarError::Header)?)
    };
    if !name.is_empty() {
        h.name = name;
    }
    if let Some(size) = size {
        h.size = size;
    }
    Ok(version)
}

/// Entry count guard shared by both PAX map forms: negative or so large
/// that twice it overflows is a bad header.
fn entry_count(text: &[u8]) -> Result<i64, TarError> {
    let n = parse_decimal(text).ok_or(TarError::Header)?;
    if !(0..1 << 62).contains(&n) {
        return Err(TarError::Header);
    }
    Ok(n)
}

/// PAX 0.0/0.1: `GNU.sparse.numblocks` and a comma-separated map.
pub fn pax_0x_map(h: &Header) -> Result<Vec<Fragment>, TarError> {
    let pax = h.pax.as_ref().ok_or(TarError::Header)?;
    let n = entry_count(
        pax.get(&b"GNU.sparse.numblocks"[..])
            .map_or(&[][..], Vec::as_slice),
    )?;
    let map = pax.get(SPARSE_MAP).map_or(&[][..], Vec::as_slice);
    let tokens: Vec<&[u8]> = if map.is_empty() {
        Vec::new()
    } else {
        map.split(|&c| c == b',').collect()
    };
    if i64::try_from(tokens.len()).ok() != n.checked_mul(2) {
        return Err(TarError::Header);
    }
    tokens
        .chunks(2)
        .map(|pair| {
            Ok(Fragment {
                offset: parse_decimal(pair[0]).ok_or(TarError::Header)?,
                length: parse_decimal(pair[1]).ok_or(TarError::Header)?,
            })
        })
        .collect()
}

/// PAX 1.0: the map is newline-separated decimal text at the start of the
/// data section, consumed in whole blocks. `next_block` reads one block of
/// the data section (failing with `UnexpectedEof` when it is short).
pub fn pax_10_map(
    mut next_block: impl FnMut(&mut [u8; 512]) -> Result<(), TarError>,
) -> Result<Vec<Fragment>, TarError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut consumed = 0usize;
    let mut newlines: i64 = 0;
    let mut feed = |want: i64, buf: &mut Vec<u8>, newlines: &mut i64| -> Result<(), TarError> {
        while *newlines < want {
            let mut blk = [0u8; 512];
            next_block(&mut blk)?;
            buf.extend_from_slice(&blk);
            *newlines += blk.iter().filter(|&&c| c == b'\n').count() as i64;
        }
        Ok(())
    };
    let token = |buf: &Vec<u8>, consumed: &mut usize, newlines: &mut i64| -> Vec<u8> {
        *newlines -= 1;
        let rest = &buf[*consumed..];
        let nl = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
        let tok = rest[..nl].to_vec();
        *consumed += (nl + 1).min(rest.len());
        tok
    };
    feed(1, &mut buf, &mut newlines)?;
    let n = entry_count(&token(&buf, &mut consumed, &mut newlines))?;
    feed(2 * n, &mut buf, &mut newlines)?;
    let mut out = Vec::new();
    for _ in 0..n {
        let offset = parse_decimal(&token(&buf, &mut consumed, &mut newlines));
        let length = parse_decimal(&token(&buf, &mut consumed, &mut newlines));
        match (offset, length) {
            (Some(offset), Some(length)) => out.push(Fragment { offset, length }),
            _ => return Err(TarError::Header),
        }
    }
    Ok(out)
}

/// Go's `validateSparseEntries`: in order, non-overlapping, within `size`.
pub fn validate(fragments: &[Fragment], size: i64) -> bool {
    if size < 0 {
        return false;
    }
    let mut prev_end = 0i64;
    for f in fragments {
        if f.offset < 0 || f.length < 0 || f.offset > i64::MAX - f.length {
            return false;
        }
        if f.end() > size || prev_end > f.offset {
            return false;
        }
        prev_end = f.end();
    }
    true
}

/// Turn data fragments into the list of holes between them; the last hole
/// always exists (possibly empty) and ends at `size`.
pub fn holes(fragments: &[Fragment], size: i64) -> Vec<Fragment> {
    let mut out = Vec::new();
    let mut pre = Fragment {
        offset: 0,
        length: 0,
    };
    for f in fragments.iter().filter(|f| f.length != 0) {
        pre.length = f.offset - pre.offset;
        if pre.length > 0 {
            out.push(pre);
        }
        pre.offset = f.end();
    }
    pre.length = size - pre.offset;
    out.push(pre);
    out
}
