//! A small EROFS reader (uncompressed images: flat plain / flat inline /
//! chunk-based layouts, extra devices in one flat file as tar-index images
//! have them, inline xattrs): superblock, inodes, directories, xattrs, data.
//! Used by `verify`, the tests (listing images without a kernel) and a
//! fuzz target. Corrupt images give typed errors; every offset is bounds
//! checked and every walk is bounded, so no input panics or loops.

use std::collections::HashSet;

use super::format::{crc32c_raw, MAGIC, SB_OFFSET, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    #[error("not an EROFS image: {0}")]
    NotErofs(String),
    #[error("corrupt EROFS image: {0}")]
    Corrupt(String),
    #[error("unsupported EROFS feature: {0}")]
    Unsupported(String),
}

fn corrupt(m: impl Into<String>) -> ReadError {
    ReadError::Corrupt(m.into())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuperInfo {
    pub block_size: u64,
    pub root_nid: u64,
    pub inos: u64,
    pub blocks: u64,
    pub compat: u32,
    pub uuid: [u8; 16],
    pub checksum_ok: bool,
    /// Block address of each extra device (device id 1, 2, …) in the file.
    pub device_uniaddr: Vec<u64>,
    /// Time of compact inodes (which store an offset from it).
    pub build_time: i64,
    pub build_time_nsec: u32,
    /// Block of the shared xattr table.
    pub xattr_blkaddr: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InodeInfo {
    pub nid: u64,
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub size: u64,
    pub mtime: i64,
    pub nsec: u32,
    pub layout: u16,
    pub i_u: u32,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Where the inode ends (inode + xattr body), for inline tails.
    tail_at: u64,
}

pub struct Image<'a> {
    bytes: &'a [u8],
    pub sb: SuperInfo,
}

const MAX_DEPTH: usize = 4096;

fn get<'b>(bytes: &'b [u8], at: u64, len: u64, what: &str) -> Result<&'b [u8], ReadError> {
    let end = at
        .checked_add(len)
        .ok_or_else(|| corrupt(format!("{what}: offset overflow")))?;
    if end > bytes.len() as u64 {
        return Err(corrupt(format!(
            "{what}: bytes {at}..{end} beyond the image ({} bytes)",
            bytes.len()
        )));
    }
    Ok(&bytes[at as usize..end as usize])
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

const PREFIXES: [(u8, &[u8]); 5] = [
    (1, b"user."),
    (2, b"system.posix_acl_access"),
    (3, b"system.posix_acl_default"),
    (4, b"trusted."),
    (6, b"security."),
];

impl<'a> Image<'a> {
    pub fn open(bytes: &'a [u8]) -> Result<Self, ReadError> {
        let sb = get(bytes, SB_OFFSET as u64, 128, "superblock")
            .map_err(|_| ReadError::NotErofs("too small".into()))?;
        if le32(sb, 0) != MAGIC {
            return Err(ReadError::NotErofs("bad magic".into()));
        }
        let bits = u32::from(sb[12]);
        if !(9..=16).contains(&bits) {
            return Err(corrupt(format!("block size bits {bits}")));
        }
        let block_size = 1u64 << bits;
        let incompat = le32(sb, 80);
        if incompat & !0x8 != 0 {
            return Err(ReadError::Unsupported(format!(
                "incompat features {incompat:#x}"
            )));
        }
        let compat = le32(sb, 8);
        let checksum_ok = if compat & 1 != 0 {
            let len = if block_size > 1024 {
                block_size - 1024
            } else {
                block_size
            };
            let mut copy = get(bytes, SB_OFFSET as u64, len, "superblock checksum area")?.to_vec();
            copy[4..8].fill(0);
            crc32c_raw(&copy) == le32(sb, 4)
        } else {
            true
        };
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&sb[48..64]);
        let info = SuperInfo {
            block_size,
            root_nid: u64::from(le16(sb, 14)),
            inos: le64(sb, 16),
            blocks: u64::from(le32(sb, 36)),
            compat,
            uuid,
            checksum_ok,
            device_uniaddr: Vec::new(),
            build_time: le64(sb, 24) as i64,
            build_time_nsec: le32(sb, 32),
            xattr_blkaddr: u64::from(le32(sb, 44)),
        };
        if le32(sb, 40) != 0 {
            return Err(ReadError::Unsupported("meta_blkaddr other than 0".into()));
        }
        let mut info = info;
        if incompat & 0x8 != 0 {
            let slots = u64::from(le16(sb, 86));
            let table = u64::from(le16(sb, 88)) * 128;
            for i in 0..slots {
                let slot = get(bytes, table + i * 128, 128, "device table")?;
                let uniaddr = u64::from(le32(slot, 68)) | (u64::from(le16(slot, 74)) << 32);
                info.device_uniaddr.push(uniaddr);
            }
        }
        Ok(Image { bytes, sb: info })
    }

    pub fn inode(&self, nid: u64) -> Result<InodeInfo, ReadError> {
        let at = nid.checked_mul(32).ok_or_else(|| corrupt("nid overflow"))?;
        let head = get(self.bytes, at, 32, &format!("inode {nid}"))?;
        let format = le16(head, 0);
        let extended = format & 1 != 0;
        let layout = (format >> 1) & 7;
        let icount = u64::from(le16(head, 2));
        let (mode, nlink, size, mtime, nsec, uid, gid, isize) = if extended {
            let b = get(self.bytes, at, 64, &format!("inode {nid}"))?;
            (
                le16(b, 4),
                le32(b, 44),
                le64(b, 8),
                le64(b, 32) as i64,
                le32(b, 40),
                le32(b, 24),
                le32(b, 28),
                64u64,
            )
        } else {
            (
                le16(head, 4),
                u32::from(le16(head, 6)),
                u64::from(le32(head, 8)),
                self.sb.build_time.wrapping_add(i64::from(le32(head, 12))),
                self.sb.build_time_nsec,
                u32::from(le16(head, 24)),
                u32::from(le16(head, 26)),
                32u64,
            )
        };
        if layout != 0 && layout != 2 && layout != 4 {
            return Err(ReadError::Unsupported(format!(
                "inode {nid}: data layout {layout} (compressed)"
            )));
        }
        let xsize = if icount == 0 {
            0
        } else {
            12 + 4 * (icount - 1)
        };
        let mut xattrs = Vec::new();
        if xsize > 0 {
            let body = get(
                self.bytes,
                at + isize,
                xsize,
                &format!("inode {nid} xattrs"),
            )?;
            let shared = usize::from(body[4]);
            if 12 + 4 * shared > body.len() {
                return Err(corrupt(format!(
                    "inode {nid}: more shared xattrs than its body holds"
                )));
            }
            for i in 0..shared {
                let id = u64::from(le32(body, 12 + 4 * i));
                xattrs.push(self.shared_xattr(nid, id)?);
            }
            let mut p = 12 + 4 * shared;
            while p + 4 <= body.len() {
                let (nlen, index, vlen) = (
                    body[p] as usize,
                    body[p + 1],
                    usize::from(le16(body, p + 2)),
                );
                let end = p + 4 + nlen + vlen;
                if end > body.len() {
                    return Err(corrupt(format!(
                        "inode {nid}: xattr entry runs past its body"
                    )));
                }
                let prefix = PREFIXES
                    .iter()
                    .find(|(i, _)| *i == index)
                    .map_or(&b""[..], |(_, p)| *p);
                let name = [prefix, &body[p + 4..p + 4 + nlen]].concat();
                xattrs.push((name, body[p + 4 + nlen..end].to_vec()));
                p = end.div_ceil(4) * 4;
            }
        }
        Ok(InodeInfo {
            nid,
            mode,
            uid,
            gid,
            nlink,
            size,
            mtime,
            nsec,
            layout,
            i_u: le32(head, 16),
            xattrs,
            tail_at: at + isize + xsize,
        })
    }

    /// Entry `id` of the shared xattr table.
    fn shared_xattr(&self, nid: u64, id: u64) -> Result<(Vec<u8>, Vec<u8>), ReadError> {
        let what = format!("inode {nid} shared xattr {id}");
        let at = self
            .sb
            .xattr_blkaddr
            .checked_mul(self.sb.block_size)
            .and_then(|b| b.checked_add(id.checked_mul(4)?))
            .ok_or_else(|| corrupt(format!("{what}: offset overflow")))?;
        let head = get(self.bytes, at, 4, &what)?;
        let (nlen, index, vlen) = (u64::from(head[0]), head[1], u64::from(le16(head, 2)));
        let body = get(self.bytes, at + 4, nlen + vlen, &what)?;
        let prefix = PREFIXES
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(&b""[..], |(_, p)| *p);
        let name = [prefix, &body[..nlen as usize]].concat();
        Ok((name, body[nlen as usize..].to_vec()))
    }

    /// The data of a regular file, symlink or directory.
    pub fn data(&self, ino: &InodeInfo) -> Result<Vec<u8>, ReadError> {
        let bs = self.sb.block_size;
        if ino.size > self.bytes.len() as u64 {
            return Err(corrupt(format!(
                "inode {}: size {} larger than the image",
                ino.nid, ino.size
            )));
        }
        match ino.layout {
            4 => self.chunked_data(ino),
            0 => {
                if ino.size == 0 {
                    return Ok(Vec::new());
                }
                let start = u64::from(ino.i_u)
                    .checked_mul(bs)
                    .ok_or_else(|| corrupt("block overflow"))?;
                Ok(get(
                    self.bytes,
                    start,
                    ino.size,
                    &format!("inode {} data", ino.nid),
                )?
                .to_vec())
            }
            _ => {
                let full = ino.size / bs * bs;
                let mut out = Vec::with_capacity(ino.size as usize);
                if full > 0 {
                    let start = u64::from(ino.i_u)
                        .checked_mul(bs)
                        .ok_or_else(|| corrupt("block overflow"))?;
                    out.extend_from_slice(get(
                        self.bytes,
                        start,
                        full,
                        &format!("inode {} data", ino.nid),
                    )?);
                }
                let tail = ino.size - full;
                if (ino.tail_at % bs) + tail > bs {
                    return Err(corrupt(format!(
                        "inode {}: inline tail crosses a block",
                        ino.nid
                    )));
                }
                out.extend_from_slice(get(
                    self.bytes,
                    ino.tail_at,
                    tail,
                    &format!("inode {} inline tail", ino.nid),
                )?);
                Ok(out)
            }
        }
    }

    /// Chunk-based data: a table of chunk addresses (8-byte aligned after
    /// the inode and xattrs), each chunk on the primary or an extra device.
    fn chunked_data(&self, ino: &InodeInfo) -> Result<Vec<u8>, ReadError> {
        let bs = self.sb.block_size;
        let format = ino.i_u;
        if format & 0x40 != 0 {
            return Err(ReadError::Unsupported("48-bit chunk addresses".into()));
        }
        let chunk_bits = (format & 0x1f) + bs.trailing_zeros();
        if chunk_bits > 48 {
            return Err(corrupt(format!(
                "inode {}: chunk size 2^{chunk_bits}",
                ino.nid
            )));
        }
        let chunk = 1u64 << chunk_bits;
        let indexes = format & 0x20 != 0;
        let entry = if indexes { 8 } else { 4 };
        let count = ino.size.div_ceil(chunk);
        let table_at = ino.tail_at.div_ceil(8) * 8;
        let table = get(
            self.bytes,
            table_at,
            count * entry,
            &format!("inode {} chunk table", ino.nid),
        )?;
        let mut out = Vec::with_capacity(ino.size as usize);
        for (i, e) in table.chunks_exact(entry as usize).enumerate() {
            let (device, blk) = if indexes {
                (le16(e, 2), le32(e, 4))
            } else {
                (0, le32(e, 0))
            };
            let len = chunk.min(ino.size - i as u64 * chunk);
            if blk == u32::MAX {
                out.resize(out.len() + len as usize, 0);
                continue;
            }
            let base = match device {
                0 => 0,
                d => *self
                    .sb
                    .device_uniaddr
                    .get(usize::from(d) - 1)
                    .ok_or_else(|| corrupt(format!("inode {}: no device {d}", ino.nid)))?,
            };
            let at = (base + u64::from(blk))
                .checked_mul(bs)
                .ok_or_else(|| corrupt("block overflow"))?;
            out.extend_from_slice(get(
                self.bytes,
                at,
                len,
                &format!("inode {} chunk {i}", ino.nid),
            )?);
        }
        Ok(out)
    }

    /// Directory entries (name, nid, file type), `.` and `..` included.
    pub fn dir(&self, ino: &InodeInfo) -> Result<Vec<(Vec<u8>, u64, u8)>, ReadError> {
        if ino.mode & S_IFMT != S_IFDIR {
            return Err(corrupt(format!("inode {} is not a directory", ino.nid)));
        }
        let data = self.data(ino)?;
        let bs = self.sb.block_size as usize;
        let mut out = Vec::new();
        for block in data.chunks(bs) {
            if block.len() < 12 {
                return Err(corrupt(format!(
                    "inode {}: directory block too short",
                    ino.nid
                )));
            }
            let n = usize::from(le16(block, 8)) / 12;
            if n == 0 || 12 * n > block.len() {
                return Err(corrupt(format!(
                    "inode {}: bad directory entry count",
                    ino.nid
                )));
            }
            for i in 0..n {
                let nid = le64(block, 12 * i);
                let off = usize::from(le16(block, 12 * i + 8));
                let end = if i + 1 < n {
                    usize::from(le16(block, 12 * (i + 1) + 8))
                } else {
                    block.len()
                };
                if off > end || end > block.len() {
                    return Err(corrupt(format!(
                        "inode {}: directory name offsets out of order",
                        ino.nid
                    )));
                }
                let mut name = &block[off..end];
                if i + 1 == n {
                    if let Some(z) = name.iter().position(|&c| c == 0) {
                        name = &name[..z];
                    }
                }
                out.push((name.to_vec(), nid, block[12 * i + 10]));
            }
        }
        Ok(out)
    }

    /// Every path with its inode, depth first, sorted; bounded.
    pub fn walk(&self) -> Result<Vec<(Vec<u8>, InodeInfo)>, ReadError> {
        let mut out = Vec::new();
        let root = self.inode(self.sb.root_nid)?;
        let mut seen_dirs = HashSet::new();
        let mut stack = vec![(b"/".to_vec(), root, 0usize)];
        while let Some((path, ino, depth)) = stack.pop() {
            if depth > MAX_DEPTH {
                return Err(corrupt("directory tree deeper than 4096 levels"));
            }
            if ino.mode & S_IFMT == S_IFDIR {
                if !seen_dirs.insert(ino.nid) {
                    return Err(corrupt(format!(
                        "directory inode {} reached twice (loop)",
                        ino.nid
                    )));
                }
                for (name, nid, _) in self.dir(&ino)? {
                    if name == b"." || name == b".." {
                        continue;
                    }
                    if name.is_empty() || name.contains(&b'/') {
                        return Err(corrupt(format!("bad name in directory inode {}", ino.nid)));
                    }
                    let child = self.inode(nid)?;
                    let mut p = if path == b"/" {
                        b"/".to_vec()
                    } else {
                        [path.as_slice(), b"/"].concat()
                    };
                    p.extend_from_slice(&name);
                    stack.push((p, child, depth + 1));
                }
            }
            out.push((path, ino));
            if out.len() > 10_000_000 {
                return Err(corrupt("more than 10 million entries"));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// The listing format of the shared EROFS vectors (`tree`).
pub fn listing(img: &Image) -> Result<Vec<String>, ReadError> {
    use sha2::{Digest, Sha256};
    let mut lines = Vec::new();
    for (path, ino) in img.walk()? {
        let t = match ino.mode & S_IFMT {
            S_IFDIR => "d",
            S_IFREG => "f",
            S_IFLNK => "l",
            0o020000 => "c",
            0o060000 => "b",
            0o010000 => "p",
            _ => "s",
        };
        let nlink = ino.nlink;
        let mut line = format!(
            "{} {t} {:o} {}:{} n{nlink} {}.{:09}",
            String::from_utf8_lossy(&path),
            ino.mode & 0o7777,
            ino.uid,
            ino.gid,
            ino.mtime,
            ino.nsec
        );
        match t {
            "f" => {
                let d = img.data(&ino)?;
                let h: String = Sha256::digest(&d)
                    .iter()
                    .take(8)
                    .map(|b| format!("{b:02x}"))
                    .collect();
                line.push_str(&format!(" s{} sha256:{h}", ino.size));
            }
            "l" => line.push_str(&format!(
                " -> {}",
                String::from_utf8_lossy(&img.data(&ino)?)
            )),
            "c" | "b" => {
                let dev = ino.i_u;
                let (major, minor) = ((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00));
                line.push_str(&format!(" {major}:{minor}"));
            }
            _ => {}
        }
        let mut x = ino.xattrs.clone();
        x.sort();
        for (n, v) in x {
            let n = String::from_utf8_lossy(&n);
            if v.len() > 64 {
                let h: String = Sha256::digest(&v)
                    .iter()
                    .take(8)
                    .map(|b| format!("{b:02x}"))
                    .collect();
                line.push_str(&format!(" x[{n}=len{}:sha256:{h}]", v.len()));
            } else {
                let hexv: String = v.iter().map(|b| format!("{b:02x}")).collect();
                line.push_str(&format!(" x[{n}={hexv}]"));
            }
        }
        lines.push(line);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(matches!(
            Image::open(&[0u8; 100]),
            Err(ReadError::NotErofs(_))
        ));
        let mut b = vec![0u8; 4096];
        b[1024..1028].copy_from_slice(&MAGIC.to_le_bytes());
        b[1024 + 12] = 40;
        assert!(matches!(Image::open(&b), Err(ReadError::Corrupt(_))));
        b[1024 + 12] = 12;
        b[1024 + 14] = 200; // root nid far away
        let img = Image::open(&b).unwrap();
        assert!(img.walk().is_err());
    }
}
