//! From tar members to the in-memory tree, with mkfs.erofs's `--aufs`
//! rules (erofs-mkfs-layout.md §2): implicit directories inheriting from
//! their parent, directory merging, replacement, hard links sharing an
//! inode, whiteouts as 0:0 character devices, opaque markers. File data
//! is spooled to a temporary file (it is laid out in traversal order,
//! not tar order).
//!
//! Where mkfs.erofs loses data (§12) this does the right thing instead:
//! GNU sparse members are expanded, old-style `\0` regular files kept,
//! duplicate xattrs collapsed, paths with `..` refused.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};

use super::format::*;
use super::options::MkfsOptions;
use crate::sink::BlockSink;
use crate::tar::{typeflag, Header, Reader};

pub type Ino = usize;
pub const ROOT: Ino = 0;

#[derive(Debug, Clone)]
pub enum Data {
    None,
    /// Regular file contents in the spool.
    Spool {
        offset: u64,
        len: u64,
    },
    /// Regular file contents at this offset of the (seekable) input.
    Input {
        offset: u64,
        len: u64,
    },
    /// Symlink target.
    Link(Vec<u8>),
    /// `--sort=none`, streamed: regular file contents already written to
    /// the image's sink at this block, as the tar was read.
    Streamed {
        block: u64,
        len: u64,
    },
}

#[derive(Debug, Clone)]
pub struct Inode {
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub nsec: u32,
    pub size: u64,
    pub rdev: u32,
    pub nlink: u32,
    pub data: Data,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Directories: entries by name.
    pub children: BTreeMap<Vec<u8>, Ino>,
    pub parent: Ino,
    pub has_whiteouts: bool,
}

impl Inode {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{0}")]
    Tar(#[from] crate::tar::TarError),
    #[error("{path}: {message}")]
    Entry { path: String, message: String },
    #[error("spool file: {0}")]
    Spool(std::io::Error),
}

/// A failed copy of member data: the tar reader's own error (corrupt or
/// truncated input), or the spool's / sink's.
fn copy_error(e: std::io::Error) -> TreeError {
    match e
        .get_ref()
        .and_then(|i| i.downcast_ref::<crate::tar::TarError>())
    {
        Some(t) => TreeError::Tar(t.clone()),
        None => TreeError::Spool(e),
    }
}

fn short_data(path: &[u8], copied: u64, len: u64) -> TreeError {
    entry_err(
        path,
        format!("unexpected EOF after {copied} of {len} bytes"),
    )
}

fn entry_err(path: &[u8], message: impl Into<String>) -> TreeError {
    TreeError::Entry {
        path: crate::text::shown(path),
        message: message.into(),
    }
}

pub struct Tree {
    pub inodes: Vec<Inode>,
    pub spool: std::fs::File,
    /// Hash-only builds: regular file data is hashed as it is read (each
    /// file from a block boundary, its last block zero-padded, as the
    /// image lays it out) instead of spooled; `Data::Spool` offsets then
    /// count bytes of that padded stream.
    data_hasher: Option<crate::verity::HashingSink>,
    /// The level-0 digests of that stream, once the tar is read, with the
    /// digest length.
    pub data_digests: Option<(crate::verity::DigestSpool, usize)>,
    /// A plain tar file read in place: file data is not spooled but read
    /// from it by offset when the image is written.
    pub input: Option<std::fs::File>,
    spool_len: u64,
    pub volume_name: [u8; 16],
    /// How mkfs.erofs is run (build time, `--sort`, release).
    pub opts: MkfsOptions,
    /// Regular files with data, in tar order, replaced ones included:
    /// with `--sort=none` mkfs allocates their blocks as it reads them.
    pub data_order: Vec<Ino>,
    /// Blocks of file data streamed into the sink (`--sort=none`).
    pub streamed_blocks: u64,
}

enum Walk {
    Root,
    Opaque(Option<Ino>),
    Entry {
        dir: Ino,
        name: Vec<u8>,
        whiteout: bool,
    },
}

/// Decode `%XX` escapes (LIBARCHIVE.xattr names).
fn url_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(&s[i + 1..i + 3]), 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s: Vec<u8> = s.iter().copied().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// The member's xattrs, SCHILY and LIBARCHIVE, one per name (last wins).
fn member_xattrs(h: &Header) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut add = |n: Vec<u8>, v: Vec<u8>| match out.iter_mut().find(|(k, _)| *k == n) {
        Some(e) => e.1 = v,
        None => out.push((n, v)),
    };
    if let Some(pax) = &h.pax {
        for (k, v) in pax {
            if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                add(name.to_vec(), v.clone());
            } else if let Some(name) = k.strip_prefix(b"LIBARCHIVE.xattr.") {
                if let Some(value) = base64_decode(v) {
                    add(url_decode(name), value);
                }
            }
        }
    }
    out
}

fn add_xattrs(list: &mut Vec<(Vec<u8>, Vec<u8>)>, new: Vec<(Vec<u8>, Vec<u8>)>) {
    for (n, v) in new {
        match list.iter_mut().find(|(k, _)| *k == n) {
            Some(e) => e.1 = v,
            None => list.push((n, v)),
        }
    }
}

/// erofs-utils 1.8's reading of a pax `mtime`: `sscanf("%lld")` for the
/// seconds, then the digits after a `.` as a plain `%d` number of
/// nanoseconds (`.5` is 5 ns). `None` where mkfs fails the member.
fn pax_mtime_1_8(v: &[u8]) -> Option<(i64, u32)> {
    fn int_prefix(s: &[u8]) -> Option<(i64, usize)> {
        let mut i = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
        let neg = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let digits = s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        // strtoll saturates on overflow.
        let mut n: i64 = 0;
        for &c in &s[i..i + digits] {
            n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
        }
        Some((if neg { -n } else { n }, i + digits))
    }
    let (secs, mut at) = int_prefix(v)?;
    at += v[at..]
        .iter()
        .take_while(|c| c.is_ascii_whitespace())
        .count();
    if v.get(at) != Some(&b'.') {
        return Some((secs, 0));
    }
    let (frac, _) = int_prefix(&v[at + 1..])?;
    Some((secs, frac as i32 as u32))
}

impl Tree {
    fn new(opts: &MkfsOptions) -> Result<Self, TreeError> {
        let spool = tempfile::tempfile().map_err(TreeError::Spool)?;
        let root = Inode {
            mode: S_IFDIR | 0o777,
            uid: 0,
            gid: 0,
            // The root before any `./` member carries the build time.
            mtime: opts.build_time as i64,
            nsec: 0,
            size: 0,
            rdev: 0,
            nlink: 2,
            data: Data::None,
            xattrs: Vec::new(),
            children: BTreeMap::new(),
            parent: ROOT,
            has_whiteouts: false,
        };
        Ok(Tree {
            inodes: vec![root],
            spool,
            data_hasher: None,
            data_digests: None,
            input: None,
            spool_len: 0,
            volume_name: [0; 16],
            opts: opts.clone(),
            data_order: Vec::new(),
            streamed_blocks: 0,
        })
    }

    /// A member's mtime as this mkfs release reads it (`-T` without
    /// `--mkfs-time` overrides every one with the build time).
    fn member_mtime(&self, h: &Header, name: &[u8]) -> Result<(i64, u32), TreeError> {
        if self.opts.all_time {
            return Ok((self.opts.build_time as i64, 0));
        }
        if self.opts.version.is_1_8() {
            if let Some(v) = h.pax.as_ref().and_then(|p| p.get(b"mtime".as_slice())) {
                if v.contains(&b'.') {
                    return pax_mtime_1_8(v)
                        .ok_or_else(|| entry_err(name, "pax mtime is not a number"));
                }
            }
        }
        Ok(h.mtime.map_or((0, 0), |m| (m.secs, m.nanos)))
    }

    fn implicit_dir(&mut self, parent: Ino) -> Ino {
        let p = &self.inodes[parent];
        let node = Inode {
            mode: S_IFDIR | 0o755 | (p.mode & 0o022),
            uid: p.uid,
            gid: p.gid,
            mtime: p.mtime,
            nsec: p.nsec,
            size: 0,
            rdev: 0,
            nlink: 2,
            data: Data::None,
            xattrs: Vec::new(),
            children: BTreeMap::new(),
            parent,
            has_whiteouts: false,
        };
        self.inodes.push(node);
        self.inodes.len() - 1
    }

    fn walk(&mut self, path: &[u8]) -> Result<Walk, TreeError> {
        let comps: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        if comps.iter().any(|c| *c == b"..") {
            return Err(entry_err(
                path,
                "path contains \"..\" (refused; OCI layers must not escape)",
            ));
        }
        let mut cur = ROOT;
        let mut last_dir: Option<Ino> = None;
        for (i, comp) in comps.iter().enumerate() {
            if comp.len() > 255 {
                return Err(entry_err(path, "name longer than 255 bytes"));
            }
            if i + 1 == comps.len() {
                if *comp == b".wh..wh..opq" {
                    return Ok(Walk::Opaque(last_dir));
                }
                if let Some(name) = comp.strip_prefix(b".wh.") {
                    return Ok(Walk::Entry {
                        dir: cur,
                        name: name.to_vec(),
                        whiteout: true,
                    });
                }
                return Ok(Walk::Entry {
                    dir: cur,
                    name: comp.to_vec(),
                    whiteout: false,
                });
            }
            cur = match self.inodes[cur].children.get(*comp) {
                Some(&c) if self.inodes[c].is_dir() => c,
                Some(_) => return Err(entry_err(path, "a parent is not a directory")),
                None => {
                    let d = self.implicit_dir(cur);
                    self.inodes[cur].children.insert(comp.to_vec(), d);
                    d
                }
            };
            last_dir = Some(cur);
        }
        Ok(Walk::Root)
    }

    /// nlink −1; a directory takes its subtree with it.
    fn remove(&mut self, ino: Ino) {
        self.inodes[ino].nlink = self.inodes[ino].nlink.saturating_sub(1);
        if self.inodes[ino].is_dir() {
            let kids: Vec<Ino> = self.inodes[ino].children.values().copied().collect();
            for k in kids {
                self.remove(k);
            }
        }
    }

    fn spool_data(&mut self, src: &mut dyn Read, len: u64, path: &[u8]) -> Result<Data, TreeError> {
        if len == 0 {
            return Ok(Data::None);
        }
        let offset = self.spool_len;
        if let Some(hasher) = self.data_hasher.as_mut() {
            let copied = hasher
                .append_from(&mut src.take(len), len)
                .map_err(copy_error)?;
            if copied != len {
                return Err(short_data(path, copied, len));
            }
            let padded = len.div_ceil(BLOCK) * BLOCK;
            hasher
                .append_zeros(padded - len)
                .map_err(TreeError::Spool)?;
            self.spool_len += padded;
            return Ok(Data::Spool { offset, len });
        }
        self.spool
            .seek(SeekFrom::Start(offset))
            .map_err(TreeError::Spool)?;
        let copied = std::io::copy(&mut src.take(len), &mut self.spool).map_err(copy_error)?;
        if copied != len {
            return Err(short_data(path, copied, len));
        }
        self.spool_len += len;
        Ok(Data::Spool { offset, len })
    }

    /// `--sort=none`: mkfs gives a file its blocks as it reads the member,
    /// right after the ones before it (from block 1), so the data can go
    /// straight into the image.
    fn stream_data(
        &mut self,
        sink: &mut (dyn BlockSink + '_),
        src: &mut dyn Read,
        len: u64,
        path: &[u8],
    ) -> Result<Data, TreeError> {
        let block = self.streamed_blocks + 1;
        let copied = sink.append_from(src, len).map_err(copy_error)?;
        if copied != len {
            return Err(short_data(path, copied, len));
        }
        let blocks = len.div_ceil(BLOCK);
        sink.append_zeros(blocks * BLOCK - len)
            .map_err(TreeError::Spool)?;
        self.streamed_blocks += blocks;
        Ok(Data::Streamed { block, len })
    }

    fn apply<'s>(
        &mut self,
        h: &Header,
        tr: &mut dyn Read,
        in_place_at: Option<u64>,
        stream: Option<&mut (dyn BlockSink + 's)>,
    ) -> Result<(), TreeError> {
        let name = h.name.as_slice();
        let t = h.typeflag;
        let kind = match t {
            typeflag::REG | typeflag::REG_A | b'7' | typeflag::GNU_SPARSE => S_IFREG,
            typeflag::LINK => 0,
            typeflag::SYMLINK => S_IFLNK,
            typeflag::CHAR => S_IFCHR,
            typeflag::BLOCK => S_IFBLK,
            typeflag::DIR => S_IFDIR,
            typeflag::FIFO => S_IFIFO,
            typeflag::XGLOBAL => return Ok(()),
            b'V' => {
                let n = name.len().min(16);
                self.volume_name = [0; 16];
                self.volume_name[..n].copy_from_slice(&name[..n]);
                return Ok(());
            }
            other => {
                return Err(entry_err(
                    name,
                    format!("unsupported tar member type {:?}", other as char),
                ))
            }
        };
        let perm = (h.mode as u16) & 0o7777;
        let (mtime, nsec) = self.member_mtime(h, name)?;
        let walk = self.walk(name)?;
        let (dir, child, whiteout) = match walk {
            Walk::Root => {
                if kind != S_IFDIR {
                    return Err(entry_err(name, "the root can only be a directory"));
                }
                let r = &mut self.inodes[ROOT];
                r.mode = S_IFDIR | perm;
                r.uid = h.uid as u32;
                r.gid = h.gid as u32;
                r.mtime = mtime;
                r.nsec = nsec;
                add_xattrs(&mut r.xattrs, member_xattrs(h));
                return Ok(());
            }
            Walk::Opaque(target) => {
                let d = target.unwrap_or(ROOT);
                add_xattrs(
                    &mut self.inodes[d].xattrs,
                    vec![(b"trusted.overlay.opaque".to_vec(), b"y".to_vec())],
                );
                return Ok(());
            }
            Walk::Entry {
                dir,
                name,
                whiteout,
            } => (dir, name, whiteout),
        };
        let existing = self.inodes[dir].children.get(&child).copied();
        if t == typeflag::LINK && !whiteout {
            let target = match self.walk(&h.linkname)? {
                Walk::Entry {
                    dir: td, name: tn, ..
                } => match self.inodes[td].children.get(&tn) {
                    Some(&x) => x,
                    None => return Err(entry_err(name, "hard link target does not exist")),
                },
                _ => return Err(entry_err(name, "hard link target is a directory")),
            };
            if self.inodes[target].is_dir() {
                return Err(entry_err(name, "hard link target is a directory"));
            }
            if existing == Some(target) {
                return Ok(());
            }
            self.inodes[target].nlink += 1;
            if let Some(old) = existing {
                self.remove(old);
            }
            self.inodes[dir].children.insert(child, target);
            return Ok(());
        }
        let is_dir = kind == S_IFDIR && !whiteout;
        let ino = match existing {
            Some(old) if self.inodes[old].is_dir() && is_dir => old,
            other => {
                if let Some(old) = other {
                    self.remove(old);
                }
                let parent = dir;
                self.inodes.push(Inode {
                    mode: 0,
                    uid: 0,
                    gid: 0,
                    mtime: 0,
                    nsec: 0,
                    size: 0,
                    rdev: 0,
                    nlink: 0,
                    data: Data::None,
                    xattrs: Vec::new(),
                    children: BTreeMap::new(),
                    parent,
                    has_whiteouts: false,
                });
                let n = self.inodes.len() - 1;
                self.inodes[dir].children.insert(child, n);
                n
            }
        };
        let data = if whiteout {
            self.inodes[dir].has_whiteouts = true;
            Data::None
        } else if kind == S_IFREG {
            let len = u64::try_from(h.size).map_err(|_| entry_err(name, "negative size"))?;
            match (in_place_at, stream) {
                (_, Some(sink)) if len > 0 => self.stream_data(sink, tr, len, name)?,
                (Some(offset), _) if len > 0 => Data::Input { offset, len },
                _ => self.spool_data(tr, len, name)?,
            }
        } else if kind == S_IFLNK {
            Data::Link(h.linkname.clone())
        } else {
            Data::None
        };
        if matches!(
            data,
            Data::Spool { .. } | Data::Input { .. } | Data::Streamed { .. }
        ) {
            self.data_order.push(ino);
        }
        let node = &mut self.inodes[ino];
        if whiteout {
            node.mode = S_IFCHR | (node.mode & 0o7777);
            node.rdev = 0;
            node.size = 0;
        } else {
            node.mode = kind | perm;
            node.rdev = if matches!(kind, S_IFCHR | S_IFBLK) {
                let (maj, min) = (h.devmajor as u32, h.devminor as u32);
                (min & 0xff) | (maj << 8) | ((min & !0xff) << 12)
            } else {
                0
            };
            node.size = match &data {
                Data::Spool { len, .. } | Data::Input { len, .. } | Data::Streamed { len, .. } => {
                    *len
                }
                Data::Link(l) => l.len() as u64,
                Data::None => 0,
            };
        }
        node.uid = h.uid as u32;
        node.gid = h.gid as u32;
        node.mtime = mtime;
        node.nsec = nsec;
        node.data = data;
        if node.is_dir() {
            if node.nlink == 0 {
                node.nlink = 2;
            }
        } else {
            node.nlink += 1;
        }
        add_xattrs(&mut node.xattrs, member_xattrs(h));
        Ok(())
    }

    /// Read a tar stream into a tree.
    pub fn from_tar<R: Read>(input: R) -> Result<(Tree, u64), TreeError> {
        Self::read(input, None, &MkfsOptions::default(), None)
    }

    /// Read a tar stream into a tree as mkfs.erofs run with `opts` would;
    /// `file`, when given, holds the same bytes (see
    /// [`Tree::from_tar_in_place`]).
    pub fn from_tar_with<R: Read>(
        input: R,
        file: Option<std::fs::File>,
        opts: &MkfsOptions,
    ) -> Result<(Tree, u64), TreeError> {
        Self::read(input, file, opts, None)
    }

    /// For a build that only hashes (no image written): file data is
    /// hashed with `params` on `threads` threads as the tar is read, while
    /// it decompresses, and never spooled; [`super::build::write`] then
    /// takes each file's blocks as their digests.
    pub fn from_tar_hashed<R: Read>(
        input: R,
        opts: &MkfsOptions,
        params: crate::verity::Params,
        threads: usize,
    ) -> Result<(Tree, u64), TreeError> {
        let dlen = params.algorithm.digest_len();
        let mut tree = Tree::new(opts)?;
        tree.data_hasher =
            Some(crate::verity::HashingSink::new(params, None, threads).map_err(TreeError::Spool)?);
        let end = tree.read_entries(input, false, None)?;
        let hasher = tree.data_hasher.take().expect("set above");
        let level0 = hasher.finish().map_err(TreeError::Spool)?;
        tree.data_digests = Some((level0.digests, dlen));
        Ok((tree, end))
    }

    /// `--sort=none` with file data written straight into `sink` as the
    /// tar is read: the sink must have block 0 reserved (the superblock
    /// block, settled by [`super::build::write_streamed`]); data then fills
    /// blocks 1.. in tar order, where mkfs puts it. Nothing is spooled.
    pub fn from_tar_streaming<R: Read>(
        input: R,
        sink: &mut dyn BlockSink,
        opts: &MkfsOptions,
    ) -> Result<(Tree, u64), TreeError> {
        let opts = MkfsOptions {
            sort_none: true,
            ..opts.clone()
        };
        Self::read(input, None, &opts, Some(sink))
    }

    /// Like [`Tree::from_tar`] for a plain tar that is also available as
    /// `file` (same bytes from offset 0): file data stays in it.
    pub fn from_tar_in_place<R: Read>(
        input: R,
        file: std::fs::File,
    ) -> Result<(Tree, u64), TreeError> {
        Self::read(input, Some(file), &MkfsOptions::default(), None)
    }

    fn read<R: Read>(
        input: R,
        file: Option<std::fs::File>,
        opts: &MkfsOptions,
        stream: Option<&mut dyn BlockSink>,
    ) -> Result<(Tree, u64), TreeError> {
        let mut tree = Tree::new(opts)?;
        let in_place = file.is_some();
        tree.input = file;
        let end = tree.read_entries(input, in_place, stream)?;
        tree.spool.flush().map_err(TreeError::Spool)?;
        Ok((tree, end))
    }

    /// Apply every tar member; returns the stream offset after the tar.
    fn read_entries<R: Read>(
        &mut self,
        input: R,
        in_place: bool,
        mut stream: Option<&mut dyn BlockSink>,
    ) -> Result<u64, TreeError> {
        let mut tr = Reader::new(input);
        while let Some(h) = tr.next()? {
            let at = (in_place && !tr.entry_is_sparse()).then(|| tr.stream_offset());
            self.apply(&h, &mut tr, at, stream.as_deref_mut())?;
        }
        Ok(tr.stream_offset())
    }
}
