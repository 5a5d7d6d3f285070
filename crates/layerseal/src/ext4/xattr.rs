//! Extended attributes: name compression, entry hash, placement in the
//! inode or the xattr block, and the on-disk encoding (spec §6.6).

use super::gosort;

pub const MAGIC: u32 = 0xEA02_0000;
/// Bytes of an inode after the fixed fields (256 − 152).
pub const INODE_AREA: usize = 104;
/// Room for entries in the inode: area less magic and the terminator.
const INODE_ROOM: usize = INODE_AREA - 8;
/// Room for entries in a block: header and terminator.
const BLOCK_ROOM: usize = 4096 - 36;
const BLOCK_HEADER: usize = 32;

/// Prefix table, first match wins.
const PREFIXES: [(u8, &[u8]); 7] = [
    (2, b"system.posix_acl_access"),
    (3, b"system.posix_acl_default"),
    (8, b"system.richacl"),
    (7, b"system."),
    (1, b"user."),
    (4, b"trusted."),
    (6, b"security."),
];

/// One attribute with its name already compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xattr {
    pub index: u8,
    pub suffix: Vec<u8>,
    pub value: Vec<u8>,
}

impl Xattr {
    pub fn new(full_name: &[u8], value: &[u8]) -> Self {
        let (index, suffix) = PREFIXES
            .iter()
            .find_map(|(i, p)| full_name.strip_prefix(*p).map(|s| (*i, s)))
            .unwrap_or((0, full_name));
        Xattr {
            index,
            suffix: suffix.to_vec(),
            value: value.to_vec(),
        }
    }

    pub fn full_name(&self) -> Vec<u8> {
        let prefix = PREFIXES
            .iter()
            .find(|(i, _)| *i == self.index)
            .map_or(&b""[..], |(_, p)| *p);
        [prefix, &self.suffix].concat()
    }

    fn entry_len(&self) -> usize {
        16 + ((self.suffix.len() + 3) & !3)
    }

    fn value_len(&self) -> usize {
        (self.value.len() + 3) & !3
    }

    /// ext4's entry hash over the (compressed) name and the value.
    pub fn hash(&self) -> u32 {
        let mut h: u32 = 0;
        for &c in &self.suffix {
            h = (h << 5) ^ (h >> 27) ^ u32::from(c);
        }
        for chunk in self.value.chunks(4) {
            let mut w = [0u8; 4];
            w[..chunk.len()].copy_from_slice(chunk);
            h = (h << 16) ^ (h >> 16) ^ u32::from_le_bytes(w);
        }
        h
    }
}

/// Attributes split between the inode and the block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub inline: Vec<Xattr>,
    pub block: Vec<Xattr>,
}

/// Place attributes (already sorted by full name) greedily: in the inode if
/// it fits, else in the block if it fits. Returns the name that fits nowhere.
pub fn place(sorted: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Placement, Vec<u8>> {
    let mut p = Placement::default();
    let (mut inode_left, mut block_left) = (INODE_ROOM, BLOCK_ROOM);
    for (name, value) in sorted {
        let x = Xattr::new(&name, &value);
        let len = x.entry_len() + x.value_len();
        if inode_left >= len {
            inode_left -= len;
            p.inline.push(x);
        } else if block_left >= len {
            block_left -= len;
            p.block.push(x);
        } else {
            return Err(name);
        }
    }
    // compactext4's block order, with its non-transitive comparison.
    gosort::sort_slice(&mut p.block, |a, b| {
        a.index < b.index || a.suffix.len() < b.suffix.len() || a.suffix < b.suffix
    });
    Ok(p)
}

/// Entries from the start of `area`, values packed down from its end;
/// value offsets are relative to the area start plus `offset_base`.
fn put_entries(xattrs: &[Xattr], area: &mut [u8], offset_base: usize) {
    let mut value_end = area.len();
    let mut e = 0;
    for x in xattrs {
        let vl = x.value_len();
        value_end -= vl;
        area[e] = x.suffix.len() as u8;
        area[e + 1] = x.index;
        area[e + 2..e + 4].copy_from_slice(&((value_end + offset_base) as u16).to_le_bytes());
        area[e + 8..e + 12].copy_from_slice(&(x.value.len() as u32).to_le_bytes());
        area[e + 12..e + 16].copy_from_slice(&x.hash().to_le_bytes());
        area[e + 16..e + 16 + x.suffix.len()].copy_from_slice(&x.suffix);
        area[value_end..value_end + x.value.len()].copy_from_slice(&x.value);
        e += x.entry_len();
    }
}

/// The 104-byte in-inode area; all zero when nothing is inline.
pub fn inode_area(inline: &[Xattr]) -> [u8; INODE_AREA] {
    let mut area = [0u8; INODE_AREA];
    if !inline.is_empty() {
        area[..4].copy_from_slice(&MAGIC.to_le_bytes());
        put_entries(inline, &mut area[4..], 0);
    }
    area
}

/// A whole xattr block (header even when there are no entries).
pub fn block(entries: &[Xattr]) -> Box<[u8; 4096]> {
    let mut b = Box::new([0u8; 4096]);
    b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    put_entries(entries, &mut b[BLOCK_HEADER..], BLOCK_HEADER);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_compression_round_trips() {
        for name in [
            &b"user.a"[..],
            b"trusted.overlay.opaque",
            b"security.capability",
            b"system.posix_acl_access",
            b"other",
        ] {
            let x = Xattr::new(name, b"v");
            assert_eq!(x.full_name(), name);
        }
        assert_eq!(Xattr::new(b"user.a", b"").index, 1);
        assert_eq!(Xattr::new(b"system.posix_acl_access", b"").suffix, b"");
    }

    #[test]
    fn greedy_placement_lets_small_ones_follow_big_ones_inline() {
        let p = place(vec![
            (b"user.big".to_vec(), vec![b'v'; 3000]),
            (b"user.c".to_vec(), b"1".to_vec()),
        ])
        .unwrap();
        // user.big does not fit the 96 inline bytes; user.c then does.
        assert_eq!(p.block.len(), 1);
        assert_eq!(p.inline.len(), 1);
        assert!(place(vec![(b"user.huge".to_vec(), vec![0; 5000])]).is_err());
    }

    #[test]
    fn inline_layout() {
        let x = Xattr::new(b"user.a", b"1");
        let area = inode_area(std::slice::from_ref(&x));
        assert_eq!(&area[..4], &MAGIC.to_le_bytes());
        assert_eq!(area[4], 1); // name length
        assert_eq!(area[5], 1); // user.
        assert_eq!(u16::from_le_bytes([area[6], area[7]]), 100 - 4);
        assert_eq!(area[100], b'1');
    }
}
