//! Traversal and jobs (erofs-mkfs-layout.md §3, §6): every inode placed by
//! the allocator in mkfs.erofs's order, then the image written block by
//! block into a [`BlockSink`].

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use super::alloc::{Allocator, Id, Kind};
use super::format::*;
use super::options::MkfsVersion;
use super::tree::{Data, Ino, Tree, ROOT};
use crate::sink::BlockSink;

/// Where an inode ended up.
#[derive(Debug, Clone, Copy)]
struct Placed {
    extent: Id,
    offset: u64,
}

/// Data blocks to copy from the spool.
struct SpoolRun {
    block: u64,
    offset: u64,
    len: u64,
    from_input: bool,
}

struct Builder<'a> {
    tree: &'a Tree,
    /// Block size: 4096, or 512 for tar-index images.
    bs: u64,
    /// Tar-index image: regular files become chunk indexes into the tar.
    index: bool,
    a: Allocator,
    placed: HashMap<Ino, Placed>,
    ino_seq: u32,
    spool_runs: Vec<SpoolRun>,
    /// Blocks of literal bytes outside metadata extents (symlink data).
    literal: Vec<(u64, Vec<u8>)>,
    any_xattr: bool,
    /// Per inode: the record fields not known at placement (i_u for
    /// directories, nlink) are patched when the bytes are written.
    records: HashMap<Ino, (InodeRecord, Vec<u8>)>,
    /// Directory tails that need their own block (not inlinable).
    dir_tail_block: HashMap<Ino, bool>,
    extended: HashMap<Ino, bool>,
    /// `--sort=none`: data extents allocated in tar order before the
    /// traversal, by inode, until the inode's job drops them.
    preallocated: HashMap<Ino, Id>,
}

fn xattrs_of(tree: &Tree, ino: Ino) -> Vec<(Vec<u8>, Vec<u8>)> {
    let node = &tree.inodes[ino];
    let mut x = node.xattrs.clone();
    if node.is_dir() && node.has_whiteouts && !x.iter().any(|(n, _)| n == b"trusted.overlay.origin")
    {
        x.push((b"trusted.overlay.origin".to_vec(), Vec::new()));
    }
    x
}

/// Sorted entries of a directory: (name, target inode), `.` and `..` included.
fn entries(tree: &Tree, dir: Ino) -> Vec<(Vec<u8>, Ino)> {
    let node = &tree.inodes[dir];
    let mut v: Vec<(Vec<u8>, Ino)> = node.children.iter().map(|(n, &i)| (n.clone(), i)).collect();
    v.push((b".".to_vec(), dir));
    v.push((b"..".to_vec(), if dir == ROOT { ROOT } else { node.parent }));
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

impl Builder<'_> {
    /// Extended (64-byte) inode: what does not fit a compact one. A
    /// compact inode's mtime is the epoch (the build time); 1.9 drops a
    /// sub-second part there, 1.8 keeps such an inode extended.
    fn is_extended(&self, ino: Ino) -> bool {
        let n = &self.tree.inodes[ino];
        let opts = &self.tree.opts;
        let nlink = if n.is_dir() { 2 } else { n.nlink };
        n.size > u64::from(u32::MAX)
            || n.uid > 65535
            || n.gid > 65535
            || nlink > 65535
            || n.mtime != opts.build_time as i64
            || (opts.version.is_1_8() && n.nsec != 0)
    }

    fn dir_size(&self, ino: Ino) -> u64 {
        let e = entries(self.tree, ino);
        let names: Vec<&[u8]> = e.iter().map(|(n, _)| n.as_slice()).collect();
        dir_size(&names, self.bs)
    }

    /// Place an inode (record + xattr body + optional inline tail).
    fn place(&mut self, ino: Ino, tail: u64) -> Option<Placed> {
        self.place_with_chunks(ino, tail, &[])
    }

    /// [`Self::place`] with chunk indexes after the record and xattrs
    /// (8-byte aligned, as the kernel reads them).
    fn place_with_chunks(&mut self, ino: Ino, tail: u64, chunks: &[u8]) -> Option<Placed> {
        let ext = self.is_extended(ino);
        let xb = xattr_body(&xattrs_of(self.tree, ino), !self.tree.opts.version.is_1_8());
        let xattr_len = xb.len();
        let mut trailing = xb;
        let base = if ext { 64 } else { 32 };
        if !chunks.is_empty() {
            trailing.resize(
                ((base + xattr_len) as u64).div_ceil(8) as usize * 8 - base,
                0,
            );
            trailing.extend_from_slice(chunks);
        }
        let s = (base + trailing.len()) as u64;
        let (extent, offset) = self.a.choose(s, tail)?;
        self.ino_seq += 1;
        self.extended.insert(ino, ext);
        let p = Placed { extent, offset };
        self.placed.insert(ino, p);
        let node = &self.tree.inodes[ino];
        if xattr_len > 0 {
            self.any_xattr = true;
        }
        let rec = InodeRecord {
            extended: ext,
            layout: LAYOUT_PLAIN,
            xattr_body_len: xattr_len,
            mode: node.mode,
            nlink: node.nlink,
            size: node.size,
            mtime: node.mtime,
            nsec: node.nsec,
            i_u: 0,
            ino: self.ino_seq,
            uid: node.uid,
            gid: node.gid,
        };
        self.records.insert(ino, (rec, trailing));
        Some(p)
    }

    fn set(&mut self, ino: Ino, f: impl FnOnce(&mut InodeRecord)) {
        if let Some((r, _)) = self.records.get_mut(&ino) {
            f(r);
        }
    }

    /// Tar-index regular file: one chunk index per chunk, chunks as large
    /// as the file (rounded to a power of two, at least one block) so
    /// there is usually just one, pointing at the data in the tar.
    fn chunk_job(&mut self, ino: Ino, tar_offset: u64, len: u64) {
        let blkszbits = self.bs.trailing_zeros();
        let chunkbits = (64 - (len - 1).leading_zeros()).clamp(blkszbits, blkszbits + 31);
        let chunk = 1u64 << chunkbits;
        let mut index = Vec::new();
        let mut pos = 0;
        while pos < len {
            let blk = (tar_offset + pos) / self.bs;
            index.extend_from_slice(&((blk >> 32) as u16).to_le_bytes());
            index.extend_from_slice(&1u16.to_le_bytes()); // device 1: the tar
            index.extend_from_slice(&(blk as u32).to_le_bytes());
            pos += chunk;
        }
        self.place_with_chunks(ino, 0, &index)
            .expect("placement without tail");
        self.set(ino, |r| {
            r.layout = LAYOUT_CHUNK_BASED;
            r.i_u = CHUNK_FORMAT_INDEXES | (chunkbits - blkszbits);
        });
    }

    fn file_job(&mut self, ino: Ino) {
        let node = &self.tree.inodes[ino];
        if self.index {
            if let (Data::Input { offset, len }, S_IFREG) = (&node.data, node.mode & S_IFMT) {
                let (offset, len) = (*offset, *len);
                self.chunk_job(ino, offset, len);
                return;
            }
        }
        match (&node.data, node.mode & S_IFMT) {
            (Data::Spool { .. } | Data::Input { .. } | Data::Streamed { .. }, S_IFREG)
                if self.preallocated.contains_key(&ino) =>
            {
                // --sort=none: the blocks were taken while the tar was
                // read; only the inode is placed now.
                let e = self.preallocated.remove(&ino).expect("checked");
                self.place(ino, 0).expect("placement without tail");
                let start = self.a.addr(e);
                self.set(ino, |r| r.i_u = start as u32);
                self.push_data_run(ino, start);
                self.a.drop_extent(e);
            }
            (Data::Spool { len, .. } | Data::Input { len, .. }, S_IFREG) => {
                let n = *len;
                let full = n / self.bs;
                let t = n % self.bs;
                let mut ext = None;
                if full > 0 {
                    let e = self.a.block_request(Kind::Data, full);
                    if t > 0 {
                        self.a.grow(e);
                    }
                    ext = Some(e);
                }
                self.place(ino, 0).expect("placement without tail");
                if ext.is_none() && t > 0 {
                    ext = Some(self.a.block_request(Kind::Data, 1));
                }
                let e = ext.expect("data extent");
                let start = self.a.addr(e);
                self.set(ino, |r| r.i_u = start as u32);
                self.push_data_run(ino, start);
                self.a.drop_extent(e);
            }
            (Data::Link(target), S_IFLNK) => {
                let target = target.clone();
                let l = target.len() as u64;
                let full = l / self.bs;
                let t = l % self.bs;
                let mut ext = if full > 0 {
                    Some(self.a.block_request(Kind::Data, full))
                } else {
                    None
                };
                let tail_start = (full * self.bs) as usize;
                if t == 0 {
                    self.place(ino, 0).expect("placement");
                } else if let Some(p) = self.place(ino, t) {
                    self.set(ino, |r| r.layout = LAYOUT_INLINE);
                    let (_, xb) = &self.records[&ino];
                    let isz = if self.extended[&ino] { 64 } else { 32 } + xb.len() as u64;
                    self.a
                        .write(p.extent, p.offset + isz, &target[tail_start..]);
                } else {
                    if let Some(e) = ext {
                        self.a.grow(e);
                    }
                    self.place(ino, 0).expect("placement");
                    if ext.is_none() {
                        ext = Some(self.a.block_request(Kind::Data, 1));
                    }
                }
                match ext {
                    Some(e) => {
                        let start = self.a.addr(e);
                        self.set(ino, |r| r.i_u = start as u32);
                        let layout_inline = self.records[&ino].0.layout == LAYOUT_INLINE;
                        let upto = if layout_inline {
                            tail_start
                        } else {
                            target.len()
                        };
                        let mut bytes = target[..upto].to_vec();
                        bytes.resize(
                            (bytes.len() as u64).div_ceil(self.bs) as usize * self.bs as usize,
                            0,
                        );
                        self.literal.push((start, bytes));
                        self.a.drop_extent(e);
                    }
                    None => {
                        if self.records[&ino].0.layout == LAYOUT_INLINE {
                            self.set(ino, |r| r.i_u = u32::MAX);
                        } else if l == 0 {
                            self.set(ino, |r| r.i_u = u32::MAX);
                        }
                    }
                }
            }
            _ => {
                self.place(ino, 0).expect("placement");
                let rdev = node.rdev;
                self.set(ino, |r| r.i_u = rdev);
            }
        }
    }

    /// Copy a regular file's data to `block` when the image is written.
    fn push_data_run(&mut self, ino: Ino, block: u64) {
        if let Data::Spool { offset, len } | Data::Input { offset, len } =
            self.tree.inodes[ino].data
        {
            self.spool_runs.push(SpoolRun {
                block,
                offset,
                len,
                from_input: matches!(self.tree.inodes[ino].data, Data::Input { .. }),
            });
        }
    }

    /// `--sort=none` (erofs-mkfs-layout.md §6.1 with data in tar order):
    /// mkfs takes each regular file's whole blocks as it reads the member,
    /// before any inode is placed; replaced files keep theirs.
    fn preallocate_in_tar_order(&mut self) {
        for &ino in &self.tree.data_order {
            let blocks = self.tree.inodes[ino].size.div_ceil(self.bs);
            let e = self.a.block_request(Kind::Data, blocks);
            if let Data::Streamed { block, .. } = self.tree.inodes[ino].data {
                // The tree streamed the data where this allocation puts it.
                assert_eq!(self.a.addr(e), block, "streamed data block");
            }
            self.preallocated.insert(ino, e);
        }
    }

    fn dir_inode_job(&mut self, ino: Ino) {
        let size = self.dir_size(ino);
        let t = size % self.bs;
        if t == 0 {
            self.place(ino, 0).expect("placement");
            self.dir_tail_block.insert(ino, false);
        } else if self.place(ino, t).is_some() {
            self.set(ino, |r| r.layout = LAYOUT_INLINE);
            self.dir_tail_block.insert(ino, false);
        } else {
            self.place(ino, 0).expect("placement");
            self.dir_tail_block.insert(ino, true);
        }
        self.set(ino, |r| r.size = size);
    }

    fn dir_data_job(&mut self, ino: Ino) {
        let size = self.records[&ino].0.size;
        let full = size / self.bs;
        let ext = if full > 0 {
            Some(self.a.block_request(Kind::Meta, full))
        } else {
            None
        };
        let list = entries(self.tree, ino);
        let mut with_nids: Vec<(Vec<u8>, u64, u8)> = Vec::with_capacity(list.len());
        for (name, target) in &list {
            let p = self.placed[target];
            let nid = self.a.nid(p.extent, p.offset);
            with_nids.push((name.clone(), nid, file_type(self.tree.inodes[*target].mode)));
        }
        let refs: Vec<(&[u8], u64, u8)> = with_nids
            .iter()
            .map(|(n, nid, t)| (n.as_slice(), *nid, *t))
            .collect();
        let bytes = dir_blocks(&refs, size, self.bs);
        let tail = (size % self.bs) as usize;
        let full_bytes = (full * self.bs) as usize;
        let inline = self.records[&ino].0.layout == LAYOUT_INLINE;
        let mut ext = ext;
        if tail > 0 && !inline {
            match ext {
                Some(e) => self.a.grow(e),
                None => ext = Some(self.a.block_request(Kind::Meta, 1)),
            }
        }
        if let Some(e) = ext {
            let start = self.a.addr(e);
            self.set(ino, |r| r.i_u = start as u32);
            let upto = if inline { full_bytes } else { bytes.len() };
            self.a.write(e, 0, &bytes[..upto]);
            self.a.drop_extent(e);
        } else {
            self.set(ino, |r| r.i_u = u32::MAX);
        }
        if inline && tail > 0 {
            let p = self.placed[&ino];
            let (_, xb) = &self.records[&ino];
            let isz = if self.extended[&ino] { 64 } else { 32 } + xb.len() as u64;
            self.a.write(p.extent, p.offset + isz, &bytes[full_bytes..]);
        }
    }

    fn visit(&mut self, ino: Ino) {
        if self.tree.inodes[ino].is_dir() {
            self.dir_inode_job(ino);
        } else {
            self.file_job(ino);
        }
    }

    fn run(&mut self) {
        if self.tree.opts.sort_none && !self.index {
            self.preallocate_in_tar_order();
        }
        self.visit(ROOT);
        let p = self.placed[&ROOT];
        self.a.nid(p.extent, p.offset);
        let mut visited = std::collections::HashSet::new();
        visited.insert(ROOT);
        let mut stack = vec![ROOT];
        while !stack.is_empty() {
            let dir = stack.remove(0);
            let mut newdirs = Vec::new();
            let kids: Vec<Ino> = self.tree.inodes[dir].children.values().copied().collect();
            for child in kids {
                if !visited.insert(child) {
                    continue;
                }
                self.visit(child);
                if self.tree.inodes[child].is_dir() {
                    newdirs.push(child);
                }
            }
            newdirs.extend(stack);
            stack = newdirs;
            self.dir_data_job(dir);
        }
        // Files replaced later in the tar: their data stays where mkfs
        // wrote it, unreferenced.
        let mut orphans: Vec<(Ino, Id)> = self.preallocated.drain().collect();
        orphans.sort_unstable();
        for (ino, e) in orphans {
            let start = self.a.addr(e);
            self.push_data_run(ino, start);
        }
        self.a.map_all();
    }
}

/// Summary of a written image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErofsSummary {
    pub blocks: u64,
    pub inodes: u32,
}

/// Lay out `tree` and write the image into `sink`.
pub fn write<S: BlockSink>(
    tree: &Tree,
    sink: S,
    uuid: [u8; 16],
) -> std::io::Result<(S, ErofsSummary)> {
    write_image(tree, sink, uuid, None, false)
}

/// Finish an image whose file data [`Tree::from_tar_streaming`] already
/// wrote into `sink` (block 0 reserved, data in blocks 1..): the
/// metadata after it, then block 0.
pub fn write_streamed<S: BlockSink>(
    tree: &Tree,
    sink: S,
    uuid: [u8; 16],
) -> std::io::Result<(S, ErofsSummary)> {
    write_image(tree, sink, uuid, None, true)
}

/// Write the tar-index image of `tree` (`mkfs.erofs --tar=i`): 512-byte
/// blocks, regular files as chunk indexes into the tar, which the caller
/// appends right after the image. `tree` must have been read with data
/// offsets into that tar ([`Tree::from_tar_in_place`]); `tar_blocks` is
/// the tar's length in 512-byte blocks through its end-of-archive marker.
pub fn write_tar_index<S: BlockSink>(
    tree: &Tree,
    sink: S,
    uuid: [u8; 16],
    tar_blocks: u32,
) -> std::io::Result<(S, ErofsSummary)> {
    if tree
        .inodes
        .iter()
        .any(|n| matches!(n.data, Data::Spool { .. }))
    {
        return Err(std::io::Error::other(
            "a sparse tar member cannot be indexed (its data is not one contiguous run \
             in the tar); build a full EROFS image instead",
        ));
    }
    write_image(tree, sink, uuid, Some(tar_blocks), false)
}

fn write_image<S: BlockSink>(
    tree: &Tree,
    mut sink: S,
    uuid: [u8; 16],
    tar_blocks: Option<u32>,
    streamed: bool,
) -> std::io::Result<(S, ErofsSummary)> {
    let index = tar_blocks.is_some();
    let bs = if index { INDEX_BLOCK } else { BLOCK };
    // Boot area + superblock (+ one device slot for the tar).
    let reserved = SB_OFFSET as u64 + 128 + if index { 128 } else { 0 };
    let mut b = Builder {
        tree,
        bs,
        index,
        a: Allocator::new(bs, reserved),
        placed: HashMap::new(),
        ino_seq: 0,
        spool_runs: Vec::new(),
        literal: Vec::new(),
        any_xattr: false,
        records: HashMap::new(),
        dir_tail_block: HashMap::new(),
        extended: HashMap::new(),
        preallocated: HashMap::new(),
    };
    b.run();
    // Final nlink for directories: 2 + subdirectory entries.
    let dirs: Vec<Ino> = b
        .records
        .keys()
        .copied()
        .filter(|&i| tree.inodes[i].is_dir())
        .collect();
    for d in dirs {
        let subdirs = tree.inodes[d]
            .children
            .values()
            .filter(|&&c| tree.inodes[c].is_dir())
            .count() as u32;
        let ext = b.extended[&d];
        b.set(d, |r| {
            r.nlink = if !ext && 2 + subdirs > 65535 {
                1
            } else {
                2 + subdirs
            }
        });
    }
    // Inode records into their extents.
    let recs: Vec<(Ino, Vec<u8>)> = b
        .records
        .iter()
        .map(|(&i, (r, xb))| (i, [r.encode(), xb.clone()].concat()))
        .collect();
    for (i, bytes) in recs {
        let p = b.placed[&i];
        b.a.write(p.extent, p.offset, &bytes);
    }
    let total = b.a.tail;
    let compat = 1 | 2 | if b.any_xattr { 4 } else { 0 };
    let sb = Superblock {
        compat,
        root_nid: {
            let p = b.placed[&ROOT];
            ((b.a.addr(p.extent) * bs + p.offset) / 32) as u16
        },
        inos: u64::from(b.ino_seq),
        epoch: tree.opts.build_time,
        blocks: total as u32,
        uuid,
        volume_name: tree.volume_name,
        blkszbits: bs.trailing_zeros() as u8,
        tar_device: tar_blocks.map(|n| (n, total as u32)),
    };
    // Assemble the image in block order.
    enum Src<'a> {
        Bytes(&'a [u8]),
        Spool(u64, u64, bool),
    }
    let mut regions: Vec<(u64, u64, Src)> = Vec::new(); // (block, blocks, source)
                                                        // The blocks holding the superblock are sealed (checksummed) as one.
    let head_blocks = reserved.div_ceil(bs);
    let head_len = (head_blocks * bs) as usize;
    let mut block0 = vec![0u8; head_len];
    for id in b.a.mapped() {
        let e = &b.a.extents[id];
        if e.blocks() == 0 || e.kind != Kind::Meta {
            continue;
        }
        let addr = e.addr.expect("mapped");
        if addr == 0 {
            let n = e.bytes.len().min(head_len);
            block0[..n].copy_from_slice(&e.bytes[..n]);
            if e.bytes.len() > head_len {
                regions.push((
                    head_blocks,
                    e.blocks() - head_blocks,
                    Src::Bytes(&e.bytes[head_len..]),
                ));
            } else if e.blocks() > head_blocks {
                regions.push((head_blocks, e.blocks() - head_blocks, Src::Bytes(&[])));
            }
            continue;
        }
        regions.push((addr, e.blocks(), Src::Bytes(&e.bytes)));
    }
    for r in &b.spool_runs {
        regions.push((
            r.block,
            r.len.div_ceil(bs),
            Src::Spool(r.offset, r.len, r.from_input),
        ));
    }
    for (blk, bytes) in &b.literal {
        regions.push((*blk, bytes.len() as u64 / bs, Src::Bytes(bytes)));
    }
    regions.sort_by_key(|r| r.0);
    seal_block0(&mut block0, &sb);
    if index && tree.opts.version == MkfsVersion::V1_8_6 {
        // 1.8.6 computed the checksum but wrote back only the first
        // 512-byte block, which does not hold the superblock: it stays as
        // first written, without checksum and without the SB_CHKSUM bit.
        block0[SB_OFFSET + 4..SB_OFFSET + 8].fill(0);
        block0[SB_OFFSET + 8] &= !1;
    }
    // Streamed: block 0 is reserved and the data already follows it.
    let mut cursor = if streamed {
        1 + tree.streamed_blocks
    } else {
        sink.reserve_leading(0)?;
        sink.append(&block0)?;
        head_blocks
    };
    let mut spool = tree.spool.try_clone()?;
    let mut input = match &tree.input {
        Some(f) => Some(f.try_clone()?),
        None => None,
    };
    for (blk, n, src) in regions {
        if blk < cursor {
            return Err(std::io::Error::other(format!(
                "erofs layout overlap at block {blk}"
            )));
        }
        sink.append_zeros((blk - cursor) * bs)?;
        match src {
            Src::Bytes(bytes) => {
                sink.append(bytes)?;
                sink.append_zeros(n * bs - bytes.len() as u64)?;
            }
            Src::Spool(offset, _, false) if tree.data_digests.is_some() => {
                // Hashed as the tar was read: the file's blocks by digest.
                let (digests, dlen) = tree.data_digests.as_ref().expect("checked");
                let mut buf = vec![0u8; n as usize * dlen];
                digests.read_at(offset / bs * *dlen as u64, &mut buf)?;
                sink.append_block_digests(&buf)?;
            }
            Src::Spool(offset, len, from_input) => {
                let src = match (&mut input, from_input) {
                    (Some(f), true) => f,
                    _ => &mut spool,
                };
                src.seek(SeekFrom::Start(offset))?;
                let got = sink.append_from(&mut src.take(len), len)?;
                if got != len {
                    return Err(std::io::Error::other("spool file shorter than recorded"));
                }
                sink.append_zeros(n * bs - len)?;
            }
        }
        cursor = blk + n;
    }
    sink.append_zeros(total.saturating_sub(cursor) * bs)?;
    if streamed {
        let block: &[u8; BLOCK as usize] = block0[..BLOCK as usize]
            .try_into()
            .map_err(|_| std::io::Error::other("superblock block size"))?;
        sink.set_block(0, block)?;
    }
    Ok((
        sink,
        ErofsSummary {
            blocks: total,
            inodes: b.ino_seq,
        },
    ))
}
