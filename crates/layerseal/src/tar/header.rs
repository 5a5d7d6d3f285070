//! One 512-byte header block, decoded as Go does (spec §2–§4).

use std::collections::BTreeMap;

use super::number::{parse_numeric, parse_octal, parse_string};
use super::BLOCK;

/// A point in time as Go's `time.Unix(sec, nsec)`: `nanos` in `0..1e9`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    pub fn from_secs(secs: i64) -> Self {
        Timestamp { secs, nanos: 0 }
    }
}

/// `Header.Format` as a set of the three formats Go distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format(u8);

impl Format {
    pub const UNKNOWN: Format = Format(0);
    pub const USTAR: Format = Format(1);
    pub const PAX: Format = Format(2);
    pub const GNU: Format = Format(4);
    pub(crate) const ALL: Format = Format(7);

    pub fn has(self, other: Format) -> bool {
        self.0 & other.0 != 0
    }
    pub(crate) fn narrow(&mut self, other: Format) {
        self.0 &= other.0;
    }
    pub(crate) fn union(self, other: Format) -> Format {
        Format(self.0 | other.0)
    }
    /// Go's `Format.String()` for the values a reader can return.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "USTAR",
            2 => "PAX",
            4 => "GNU",
            _ => "<unknown>",
        }
    }
}

/// A tar entry as Go's reader returns it. Names are raw bytes: the format
/// has no character set and tar2ext4 does not check one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub typeflag: u8,
    pub name: Vec<u8>,
    pub linkname: Vec<u8>,
    /// Logical size (expanded, for sparse files). Header-only types may
    /// report any value here and still carry no data.
    pub size: i64,
    /// The raw mode field, not masked.
    pub mode: i64,
    pub uid: i64,
    pub gid: i64,
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    /// `None` is Go's zero time (what tar2ext4 treats as "absent").
    pub mtime: Option<Timestamp>,
    pub atime: Option<Timestamp>,
    pub ctime: Option<Timestamp>,
    pub devmajor: i64,
    pub devminor: i64,
    /// `Header.PAXRecords`: `None` when no `x` header preceded the entry.
    pub pax: Option<BTreeMap<Vec<u8>, Vec<u8>>>,
    pub format: Format,
}

impl Header {
    /// `Header.Xattrs`: `SCHILY.xattr.*` records with non-empty values.
    pub fn xattrs(&self) -> Vec<(&[u8], &[u8])> {
        self.schily_xattrs()
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    /// Every `SCHILY.xattr.*` PAX record, empty values included (tar2ext4
    /// reads PAXRecords, so an empty-valued xattr reaches the image).
    pub fn schily_xattrs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        const PREFIX: &[u8] = b"SCHILY.xattr.";
        self.pax
            .iter()
            .flat_map(|m| m.iter())
            .filter_map(|(k, v)| k.strip_prefix(PREFIX).map(|name| (name, v.as_slice())))
    }
}

/// What the magic bytes say the block is (spec §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    V7,
    Ustar,
    Star,
    Gnu,
}

/// A checksum-valid header block.
pub(crate) struct RawBlock<'a>(pub &'a [u8; BLOCK]);

/// The block's kind, or `None` when the checksum does not match.
pub(crate) fn block_kind(b: &[u8; BLOCK]) -> Option<Kind> {
    let stored = match b[148] {
        c if c >= 0x80 => return None,
        _ => parse_octal(&b[148..156])?,
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &c) in b.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        unsigned += i64::from(c);
        signed += i64::from(c as i8);
    }
    if stored != unsigned && stored != signed {
        return None;
    }
    let magic = &b[257..263];
    let version = &b[263..265];
    let trailer = &b[508..512];
    Some(if magic == b"ustar\0" && trailer == b"tar\0" {
        Kind::Star
    } else if magic == b"ustar\0" {
        Kind::Ustar
    } else if magic == b"ustar " && version == b" \0" {
        Kind::Gnu
    } else {
        Kind::V7
    })
}

impl RawBlock<'_> {
    /// Decode every field the kind defines (spec §4.3). Returns the header
    /// with its per-block format tag, or `None` for Go's `ErrHeader`.
    pub(crate) fn decode(&self, kind: Kind) -> Option<Header> {
        let b = self.0;
        let mut ok = true;
        let mut num = |field: &[u8]| -> i64 {
            parse_numeric(field).unwrap_or_else(|| {
                ok = false;
                0
            })
        };
        let size = num(&b[124..136]);
        let mode = num(&b[100..108]);
        let uid = num(&b[108..116]);
        let gid = num(&b[116..124]);
        let mtime = num(&b[136..148]);
        let mut h = Header {
            typeflag: b[156],
            name: parse_string(&b[0..100]).to_vec(),
            linkname: parse_string(&b[157..257]).to_vec(),
            size,
            mode,
            uid,
            gid,
            uname: Vec::new(),
            gname: Vec::new(),
            mtime: Some(Timestamp::from_secs(mtime)),
            atime: None,
            ctime: None,
            devmajor: 0,
            devminor: 0,
            pax: None,
            format: Format::UNKNOWN,
        };
        if kind != Kind::V7 {
            h.uname = parse_string(&b[265..297]).to_vec();
            h.gname = parse_string(&b[297..329]).to_vec();
            h.devmajor = num(&b[329..337]);
            h.devminor = num(&b[337..345]);
        }
        let mut prefix: &[u8] = &[];
        match kind {
            Kind::V7 => {}
            Kind::Ustar => {
                prefix = parse_string(&b[345..500]);
                h.format = Format::USTAR.union(Format::PAX);
                let nul_terminated = |r: std::ops::Range<usize>| b[r.end - 1] == 0;
                if b.iter().any(|&c| c >= 0x80)
                    || ![
                        124..136,
                        100..108,
                        108..116,
                        116..124,
                        136..148,
                        329..337,
                        337..345,
                    ]
                    .into_iter()
                    .all(nul_terminated)
                {
                    h.format = Format::UNKNOWN;
                }
            }
            Kind::Star => {
                prefix = parse_string(&b[345..476]);
                h.atime = Some(Timestamp::from_secs(num(&b[476..488])));
                h.ctime = Some(Timestamp::from_secs(num(&b[488..500])));
            }
            Kind::Gnu => {
                h.format = Format::GNU;
                // A bad GNU time is not an error: Go assumes an old Go writer
                // put a USTAR prefix there instead.
                let mut times_ok = true;
                let mut gnu_time = |r: std::ops::Range<usize>| -> Option<Timestamp> {
                    if b[r.start] == 0 {
                        return None;
                    }
                    match parse_numeric(&b[r]) {
                        Some(s) => Some(Timestamp::from_secs(s)),
                        None => {
                            times_ok = false;
                            Some(Timestamp::from_secs(0))
                        }
                    }
                };
                h.atime = gnu_time(345..357);
                h.ctime = gnu_time(357..369);
                if !times_ok {
                    h.atime = None;
                    h.ctime = None;
                    let s = parse_string(&b[345..500]);
                    if s.iter().all(|&c| c < 0x80) {
                        prefix = s;
                    }
                    h.format = Format::UNKNOWN;
                }
            }
        }
        if !prefix.is_empty() {
            let mut name = prefix.to_vec();
            name.push(b'/');
            name.extend_from_slice(&h.name);
            h.name = name;
        }
        ok.then_some(h)
    }
}
