//! PAX extended header records (spec §7).

use std::collections::BTreeMap;

use super::header::{Header, Timestamp};
use super::number::parse_decimal;
use super::TarError;

pub type PaxMap = BTreeMap<Vec<u8>, Vec<u8>>;

const SPARSE_OFFSET: &[u8] = b"GNU.sparse.offset";
const SPARSE_NUMBYTES: &[u8] = b"GNU.sparse.numbytes";
pub const SPARSE_MAP: &[u8] = b"GNU.sparse.map";

/// Parse a whole PAX data section into its record map.
pub fn parse_records(mut s: &[u8]) -> Result<PaxMap, TarError> {
    let mut map = PaxMap::new();
    // GNU sparse 0.0 spreads its map over repeated offset/numbytes records.
    let mut sparse: Vec<&[u8]> = Vec::new();
    while !s.is_empty() {
        let (key, value, rest) = parse_record(s).ok_or(TarError::Header)?;
        s = rest;
        if key == SPARSE_OFFSET || key == SPARSE_NUMBYTES {
            let expected = if sparse.len().is_multiple_of(2) {
                SPARSE_OFFSET
            } else {
                SPARSE_NUMBYTES
            };
            if key != expected || value.contains(&b',') {
                return Err(TarError::Header);
            }
            sparse.push(value);
        } else {
            map.insert(key.to_vec(), value.to_vec());
        }
    }
    if !sparse.is_empty() {
        map.insert(SPARSE_MAP.to_vec(), sparse.join(&b","[..]));
    }
    Ok(map)
}

/// One `"%d %s=%s\n"` record: (key, value, rest).
fn parse_record(s: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let space = s.iter().position(|&c| c == b' ')?;
    let len_text = &s[..space];
    let n = parse_decimal(len_text)?;
    if n < 5 || n > i64::try_from(s.len()).ok()? {
        return None;
    }
    let n = usize::try_from(n).ok()?;
    if n <= space + 1 {
        return None;
    }
    let rec = &s[space + 1..n - 1];
    if s[n - 1] != b'\n' {
        return None;
    }
    let eq = rec.iter().position(|&c| c == b'=')?;
    let (key, value) = (&rec[..eq], &rec[eq + 1..]);
    if key.is_empty() {
        return None;
    }
    let value_must_be_text = matches!(key, b"path" | b"linkpath" | b"uname" | b"gname");
    if value_must_be_text && value.contains(&0) || !value_must_be_text && key.contains(&0) {
        return None;
    }
    Some((key, value, &s[n..]))
}

/// A PAX time: decimal seconds with an optional fraction of up to 9 digits
/// kept; a negative time subtracts its fraction.
pub fn parse_time(s: &[u8]) -> Option<Timestamp> {
    let (secs_text, frac) = match s.iter().position(|&c| c == b'.') {
        Some(dot) => (&s[..dot], &s[dot + 1..]),
        None => (s, &[][..]),
    };
    let secs = parse_decimal(secs_text)?;
    if frac.is_empty() {
        return Some(Timestamp::from_secs(secs));
    }
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut nanos: i64 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + frac.get(i).map_or(0, |c| i64::from(c - b'0'));
    }
    if secs_text.first() == Some(&b'-') {
        // Go: time.Unix(secs, -nanos), normalised.
        if nanos == 0 {
            return Some(Timestamp::from_secs(secs));
        }
        let secs = secs.checked_sub(1)?;
        return Some(Timestamp {
            secs,
            nanos: u32::try_from(1_000_000_000 - nanos).ok()?,
        });
    }
    Some(Timestamp {
        secs,
        nanos: u32::try_from(nanos).ok()?,
    })
}

/// Apply a pending PAX map to an entry's header (spec §7.4). Records with
/// empty values change nothing but stay in `pax`. With `lenient_times` an
/// unparsable time record is left to the caller (it stays in `pax`)
/// instead of failing the header.
pub fn merge(h: &mut Header, pax: Option<PaxMap>, lenient_times: bool) -> Result<(), TarError> {
    let Some(map) = pax else {
        h.pax = None;
        return Ok(());
    };
    for (k, v) in &map {
        if v.is_empty() {
            continue;
        }
        let bad = || TarError::Header;
        match k.as_slice() {
            b"path" => h.name = v.clone(),
            b"linkpath" => h.linkname = v.clone(),
            b"uname" => h.uname = v.clone(),
            b"gname" => h.gname = v.clone(),
            b"uid" => h.uid = parse_decimal(v).ok_or_else(bad)?,
            b"gid" => h.gid = parse_decimal(v).ok_or_else(bad)?,
            b"size" => h.size = parse_decimal(v).ok_or_else(bad)?,
            b"mtime" | b"atime" | b"ctime" => {
                let t = match parse_time(v) {
                    Some(t) => t,
                    None if lenient_times => continue,
                    None => return Err(bad()),
                };
                match k.as_slice() {
                    b"mtime" => h.mtime = Some(t),
                    b"atime" => h.atime = Some(t),
                    _ => h.ctime = Some(t),
                }
            }
            _ => {}
        }
    }
    h.pax = Some(map);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Option<(i64, u32)> {
        parse_time(s.as_bytes()).map(|t| (t.secs, t.nanos))
    }

    #[test]
    fn times() {
        assert_eq!(t("1.5"), Some((1, 500_000_000)));
        assert_eq!(t("-1.5"), Some((-2, 500_000_000)));
        assert_eq!(t("-0.5"), Some((-1, 500_000_000)));
        assert_eq!(t("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(t("+7."), Some((7, 0)));
        assert_eq!(t("1.1234567899"), Some((1, 123_456_789)));
        assert_eq!(t("12.0"), Some((12, 0)));
        for bad in [".5", "1.5e3", "1.5.5", "abc", ""] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn records() {
        let m = parse_records(b"11 path=ab\n+16 comment=hey\n").unwrap();
        assert_eq!(m[&b"path"[..]], b"ab");
        assert_eq!(m[&b"comment"[..]], b"hey");
        assert!(parse_records(b"11 path=ab\n\0").is_err());
        assert!(parse_records(b"10 =value\n").is_err());
        assert!(parse_records(b"9 novalue\n").is_err());
        let m = parse_records(b"23 GNU.sparse.offset=1\n25 GNU.sparse.numbytes=2\n").unwrap();
        assert_eq!(m[SPARSE_MAP], b"1,2");
        assert!(parse_records(b"25 GNU.sparse.numbytes=2\n").is_err());
    }
}
