//! The in-memory inode and its 256-byte on-disk record (spec §6.3).

use std::collections::HashMap;

use super::xattr::{self, Xattr};

pub const S_IFMT: u16 = 0xF000;
pub const S_IFSOCK: u16 = 0xC000;
pub const S_IFLNK: u16 = 0xA000;
pub const S_IFREG: u16 = 0x8000;
pub const S_IFBLK: u16 = 0x6000;
pub const S_IFDIR: u16 = 0x4000;
pub const S_IFCHR: u16 = 0x2000;
pub const S_IFIFO: u16 = 0x1000;

pub const FLAG_HUGE_FILE: u32 = 0x40000;
pub const FLAG_EXTENTS: u32 = 0x80000;

pub const INODE_SIZE: usize = 256;
/// Bytes of the record compactext4 fills (through `i_crtime_extra`).
const USED: usize = 152;

/// An inode being built. Directories own their entries by name.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub number: u32,
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub links: u32,
    pub size: u64,
    pub atime: u64,
    pub ctime: u64,
    pub mtime: u64,
    pub crtime: u64,
    pub devmajor: u32,
    pub devminor: u32,
    pub flags: u32,
    /// 4096-byte blocks owned: data, extent leaves, xattr block.
    pub blocks: u32,
    pub xattr_block: u32,
    /// `i_block`: an extent root or a short symlink target.
    pub data: Vec<u8>,
    pub inline_xattrs: Vec<Xattr>,
    pub block_xattrs: Vec<Xattr>,
    pub children: Option<HashMap<Vec<u8>, u32>>,
}

impl Node {
    pub fn file_type(&self) -> u16 {
        self.mode & S_IFMT
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }

    /// The directory-entry file type code.
    pub fn dirent_type(&self) -> u8 {
        match self.file_type() {
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

    /// The on-disk record.
    pub fn encode(&self) -> [u8; INODE_SIZE] {
        let mut b = [0u8; INODE_SIZE];
        let put16 = |b: &mut [u8; INODE_SIZE], at: usize, v: u16| {
            b[at..at + 2].copy_from_slice(&v.to_le_bytes())
        };
        let put32 = |b: &mut [u8; INODE_SIZE], at: usize, v: u32| {
            b[at..at + 4].copy_from_slice(&v.to_le_bytes())
        };
        put16(&mut b, 0x00, self.mode);
        put16(&mut b, 0x02, self.uid as u16);
        put32(&mut b, 0x04, self.size as u32);
        put32(&mut b, 0x08, self.atime as u32);
        put32(&mut b, 0x0C, self.ctime as u32);
        put32(&mut b, 0x10, self.mtime as u32);
        put16(&mut b, 0x18, self.gid as u16);
        put16(&mut b, 0x1A, self.links as u16);
        put32(&mut b, 0x1C, self.blocks);
        put32(&mut b, 0x20, self.flags);
        match self.file_type() {
            S_IFDIR | S_IFREG | S_IFLNK => {
                let n = self.data.len().min(60);
                b[0x28..0x28 + n].copy_from_slice(&self.data[..n]);
            }
            S_IFBLK | S_IFCHR => {
                let dev = (self.devminor & 0xff)
                    | (self.devmajor << 8)
                    | ((self.devminor & 0xffff_ff00) << 12);
                put32(&mut b, 0x28 + 4, dev);
            }
            _ => {}
        }
        put32(&mut b, 0x68, self.xattr_block);
        put32(&mut b, 0x6C, (self.size >> 32) as u32);
        put16(&mut b, 0x78, (self.uid >> 16) as u16);
        put16(&mut b, 0x7A, (self.gid >> 16) as u16);
        put16(&mut b, 0x80, (USED - 128) as u16);
        put32(&mut b, 0x84, (self.ctime >> 32) as u32);
        put32(&mut b, 0x88, (self.mtime >> 32) as u32);
        put32(&mut b, 0x8C, (self.atime >> 32) as u32);
        put32(&mut b, 0x90, self.crtime as u32);
        put32(&mut b, 0x94, (self.crtime >> 32) as u32);
        b[USED..].copy_from_slice(&xattr::inode_area(&self.inline_xattrs));
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_use_the_new_encoding() {
        let n = Node {
            mode: S_IFCHR | 0o666,
            devmajor: 4095,
            devminor: 1_048_575,
            ..Node::default()
        };
        let b = n.encode();
        let dev = u32::from_le_bytes(b[0x2C..0x30].try_into().unwrap());
        assert_eq!(dev, 0xff | (4095 << 8) | ((1_048_575 & 0xffff_ff00) << 12));
        assert_eq!(&b[0x28..0x2C], &[0; 4]);
    }

    #[test]
    fn extra_isize_and_split_fields() {
        let n = Node {
            mode: S_IFREG | 0o644,
            uid: 100_000,
            gid: 65534,
            size: (5 << 32) + 7,
            mtime: 0x1_2345_6789,
            ..Node::default()
        };
        let b = n.encode();
        assert_eq!(u16::from_le_bytes([b[0x80], b[0x81]]), 24);
        assert_eq!(
            u16::from_le_bytes([b[2], b[3]]),
            (100_000u32 & 0xffff) as u16
        );
        assert_eq!(u16::from_le_bytes([b[0x78], b[0x79]]), 1);
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 7);
        assert_eq!(u32::from_le_bytes(b[0x6C..0x70].try_into().unwrap()), 5);
        assert_eq!(u32::from_le_bytes(b[0x88..0x8C].try_into().unwrap()), 1);
    }
}
