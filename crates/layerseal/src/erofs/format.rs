//! EROFS on-disk structures (uncompressed; 4096-byte blocks, or 512 in
//! tar-index images): superblock
//! and its CRC32C, compact and extended inodes, directory blocks, inline
//! xattr bodies with the name filter (specs: erofs-dmverity.md §5,
//! erofs-mkfs-layout.md §4, §7–§9).

pub const BLOCK: u64 = 4096;
/// Block size of tar-index images (dm-verity over them uses it too).
pub const INDEX_BLOCK: u64 = 512;
pub const SB_OFFSET: usize = 1024;
pub const MAGIC: u32 = 0xE0F5_E1E2;

pub const LAYOUT_PLAIN: u16 = 0;
pub const LAYOUT_INLINE: u16 = 2;
pub const LAYOUT_CHUNK_BASED: u16 = 4;
/// Chunk format flag: 8-byte chunk indexes with a device id.
pub const CHUNK_FORMAT_INDEXES: u32 = 0x20;

pub const S_IFMT: u16 = 0o170000;
pub const S_IFDIR: u16 = 0o040000;
pub const S_IFREG: u16 = 0o100000;
pub const S_IFLNK: u16 = 0o120000;
pub const S_IFCHR: u16 = 0o020000;
pub const S_IFBLK: u16 = 0o060000;
pub const S_IFIFO: u16 = 0o010000;
pub const S_IFSOCK: u16 = 0o140000;

/// Directory entry file type.
pub fn file_type(mode: u16) -> u8 {
    match mode & S_IFMT {
        S_IFREG => 1,
        S_IFDIR => 2,
        S_IFCHR => 3,
        S_IFBLK => 4,
        S_IFIFO => 5,
        S_IFSOCK => 6,
        S_IFLNK => 7,
        _ => 0,
    }
}

/// CRC-32C register as EROFS stores it: reflected Castagnoli, initial
/// all-ones, no final inversion.
pub fn crc32c_raw(data: &[u8]) -> u32 {
    const EROFS_CRC32C: crc::Algorithm<u32> = crc::Algorithm {
        xorout: 0,
        ..crc::CRC_32_ISCSI
    };
    const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&EROFS_CRC32C);
    CRC.checksum(data)
}

/// xxHash32 (for the xattr name filter).
pub fn xxh32(input: &[u8], seed: u32) -> u32 {
    xxhash_rust::xxh32::xxh32(input, seed)
}

const XATTR_PREFIXES: [(u8, &[u8]); 5] = [
    (1, b"user."),
    (2, b"system.posix_acl_access"),
    (3, b"system.posix_acl_default"),
    (4, b"trusted."),
    (6, b"security."),
];
const FILTER_SEED: u32 = 0x25BB_E08F;

/// The prefix index of an xattr name and the suffix stored on disk (the
/// first matching prefix wins; `lustre.` is never used).
pub fn xattr_prefix(name: &[u8]) -> (u8, &[u8]) {
    XATTR_PREFIXES
        .iter()
        .find_map(|(i, p)| name.strip_prefix(*p).map(|s| (*i, s)))
        .unwrap_or((0, name))
}

/// The name-filter bit of one xattr (set bits are cleared in the stored
/// filter: a set bit there means "certainly absent").
pub fn xattr_filter_bit(index: u8, suffix: &[u8]) -> u32 {
    1 << (xxh32(suffix, FILTER_SEED.wrapping_add(u32::from(index))) & 31)
}

/// One xattr entry as stored inline or in the shared table: length,
/// index, value length, suffix, value, zero-padded to 4 bytes.
pub fn push_xattr_entry(out: &mut Vec<u8>, index: u8, suffix: &[u8], value: &[u8]) {
    out.push(suffix.len() as u8);
    out.push(index);
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(suffix);
    out.extend_from_slice(value);
    out.resize(out.len().div_ceil(4) * 4, 0);
}

/// Size of that entry.
pub fn xattr_entry_len(suffix: &[u8], value: &[u8]) -> usize {
    (4 + suffix.len() + value.len()).div_ceil(4) * 4
}

/// The inline xattr body: 12-byte header then the entries, sorted by
/// `name ‖ 0 ‖ value` (erofs-utils 1.9.3, `sort`) or in insertion order
/// (1.8). Empty when there are none.
pub fn xattr_body(xattrs: &[(Vec<u8>, Vec<u8>)], sort: bool) -> Vec<u8> {
    if xattrs.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<&(Vec<u8>, Vec<u8>)> = xattrs.iter().collect();
    if sort {
        sorted.sort_by(|a, b| {
            let ka = [a.0.as_slice(), &[0], a.1.as_slice()].concat();
            let kb = [b.0.as_slice(), &[0], b.1.as_slice()].concat();
            ka.cmp(&kb)
        });
    }
    let mut bits = 0u32;
    let mut entries = Vec::new();
    for (name, value) in sorted {
        let (index, suffix) = xattr_prefix(name);
        bits |= xattr_filter_bit(index, suffix);
        push_xattr_entry(&mut entries, index, suffix, value);
    }
    let mut body = vec![0u8; 12];
    body[0..4].copy_from_slice(&(!bits).to_le_bytes());
    body.extend_from_slice(&entries);
    body
}

/// The fields an inode record needs.
pub struct InodeRecord {
    pub extended: bool,
    pub layout: u16,
    pub xattr_body_len: usize,
    pub mode: u16,
    pub nlink: u32,
    pub size: u64,
    pub mtime: i64,
    pub nsec: u32,
    pub i_u: u32,
    pub ino: u32,
    pub uid: u32,
    pub gid: u32,
}

impl InodeRecord {
    pub fn encode(&self) -> Vec<u8> {
        let icount = if self.xattr_body_len == 0 {
            0
        } else {
            (self.xattr_body_len - 12) / 4 + 1
        } as u16;
        if self.extended {
            let mut b = vec![0u8; 64];
            b[0..2].copy_from_slice(&(1 + (self.layout << 1)).to_le_bytes());
            b[2..4].copy_from_slice(&icount.to_le_bytes());
            b[4..6].copy_from_slice(&self.mode.to_le_bytes());
            b[8..16].copy_from_slice(&self.size.to_le_bytes());
            b[16..20].copy_from_slice(&self.i_u.to_le_bytes());
            b[20..24].copy_from_slice(&self.ino.to_le_bytes());
            b[24..28].copy_from_slice(&self.uid.to_le_bytes());
            b[28..32].copy_from_slice(&self.gid.to_le_bytes());
            b[32..40].copy_from_slice(&(self.mtime as u64).to_le_bytes());
            b[40..44].copy_from_slice(&self.nsec.to_le_bytes());
            b[44..48].copy_from_slice(&self.nlink.to_le_bytes());
            b
        } else {
            let mut b = vec![0u8; 32];
            b[0..2].copy_from_slice(&(self.layout << 1).to_le_bytes());
            b[2..4].copy_from_slice(&icount.to_le_bytes());
            b[4..6].copy_from_slice(&self.mode.to_le_bytes());
            b[6..8].copy_from_slice(&(self.nlink as u16).to_le_bytes());
            b[8..12].copy_from_slice(&(self.size as u32).to_le_bytes());
            b[16..20].copy_from_slice(&self.i_u.to_le_bytes());
            b[20..24].copy_from_slice(&self.ino.to_le_bytes());
            b[24..26].copy_from_slice(&(self.uid as u16).to_le_bytes());
            b[26..28].copy_from_slice(&(self.gid as u16).to_le_bytes());
            b
        }
    }
}

/// Size of a directory whose sorted entry names are `names` (with `.`
/// and `..`): entries never straddle a block.
pub fn dir_size(names: &[&[u8]], bs: u64) -> u64 {
    let mut off = 0u64;
    for n in names {
        let esz = 12 + n.len() as u64;
        if off % bs + esz > bs {
            off = off.div_ceil(bs) * bs;
        }
        off += esz;
    }
    off
}

/// Directory bytes: `size` long (last block not padded).
pub fn dir_blocks(entries: &[(&[u8], u64, u8)], size: u64, bs: u64) -> Vec<u8> {
    let mut out = vec![0u8; size as usize];
    let mut i = 0;
    let mut block_start = 0usize;
    while i < entries.len() {
        // Entries of this block.
        let mut used = 0u64;
        let mut j = i;
        while j < entries.len() && used + 12 + entries[j].0.len() as u64 <= bs {
            used += 12 + entries[j].0.len() as u64;
            j += 1;
        }
        let n = j - i;
        let mut name_off = 12 * n;
        for (k, (name, nid, ft)) in entries[i..j].iter().enumerate() {
            let at = block_start + 12 * k;
            out[at..at + 8].copy_from_slice(&nid.to_le_bytes());
            out[at + 8..at + 10].copy_from_slice(&(name_off as u16).to_le_bytes());
            out[at + 10] = *ft;
            out[block_start + name_off..block_start + name_off + name.len()].copy_from_slice(name);
            name_off += name.len();
        }
        i = j;
        block_start += bs as usize;
    }
    out
}

/// The 128-byte superblock (checksum filled in by [`seal_block0`]).
pub struct Superblock {
    pub compat: u32,
    pub root_nid: u16,
    pub inos: u64,
    pub epoch: u64,
    pub blocks: u32,
    pub uuid: [u8; 16],
    pub volume_name: [u8; 16],
    /// log2 of the block size.
    pub blkszbits: u8,
    /// Tar-index images: the tar as external device 1, `(blocks, uniaddr)`
    /// (its block count, and where it starts in the flat file).
    pub tar_device: Option<(u32, u32)>,
}

/// Where the device table starts (in 128-byte slots) when there is one.
pub const DEVT_SLOTOFF: u16 = 9;

/// Write the superblock (and device table) into `head`, the image's first
/// bytes through the end of the superblock's block, and set its checksum.
pub fn seal_block0(head: &mut [u8], sb: &Superblock) {
    let s = &mut head[SB_OFFSET..SB_OFFSET + 128];
    s.fill(0);
    s[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    s[8..12].copy_from_slice(&sb.compat.to_le_bytes());
    s[12] = sb.blkszbits;
    s[14..16].copy_from_slice(&sb.root_nid.to_le_bytes());
    s[16..24].copy_from_slice(&sb.inos.to_le_bytes());
    s[24..32].copy_from_slice(&sb.epoch.to_le_bytes());
    s[36..40].copy_from_slice(&sb.blocks.to_le_bytes());
    s[48..64].copy_from_slice(&sb.uuid);
    s[64..80].copy_from_slice(&sb.volume_name);
    if let Some((blocks, uniaddr)) = sb.tar_device {
        s[80..84].copy_from_slice(&8u32.to_le_bytes()); // INCOMPAT_DEVICE_TABLE
        s[86..88].copy_from_slice(&1u16.to_le_bytes()); // extra_devices
        s[88..90].copy_from_slice(&DEVT_SLOTOFF.to_le_bytes());
        let slot = usize::from(DEVT_SLOTOFF) * 128;
        let d = &mut head[slot..slot + 128];
        d.fill(0);
        d[64..68].copy_from_slice(&blocks.to_le_bytes());
        d[68..72].copy_from_slice(&uniaddr.to_le_bytes());
    }
    // The checksum covers the rest of the superblock's block (or the
    // whole following block when blocks are smaller than 1 KiB).
    let bs = 1usize << sb.blkszbits;
    let len = if bs > SB_OFFSET { bs - SB_OFFSET } else { bs };
    let crc = crc32c_raw(&head[SB_OFFSET..SB_OFFSET + len]);
    head[SB_OFFSET + 4..SB_OFFSET + 8].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh32_known_values() {
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
        assert_eq!(
            xxh32(b"Nobody inspects the spammish repetition", 0),
            0xE229_3B2F
        );
    }

    #[test]
    fn crc32c_is_the_uninverted_register() {
        // Standard CRC-32C("123456789") = 0xE3069283; EROFS keeps it uninverted.
        assert_eq!(!crc32c_raw(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn filter_example_from_the_spec() {
        // xattrs.tar x/plain: user.a=1, user.b=two → filter 0xFF5FFFFF, 28 bytes.
        let body = xattr_body(
            &[
                (b"user.a".to_vec(), b"1".to_vec()),
                (b"user.b".to_vec(), b"two".to_vec()),
            ],
            true,
        );
        assert_eq!(body.len(), 28);
        assert_eq!(
            u32::from_le_bytes(body[0..4].try_into().unwrap()),
            0xFF5F_FFFF
        );
    }

    #[test]
    fn directory_packing() {
        let names: Vec<&[u8]> = vec![b".", b"..", b"a"];
        assert_eq!(dir_size(&names, BLOCK), 12 * 3 + 1 + 2 + 1);
        let b = dir_blocks(&[(b".", 36, 2), (b"..", 36, 2), (b"a", 40, 1)], 40, BLOCK);
        assert_eq!(u16::from_le_bytes([b[8], b[9]]), 36);
        assert_eq!(&b[36..40], b"...a");
    }
}
