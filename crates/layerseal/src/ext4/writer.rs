//! A compact ext4 writer that lays out images exactly as hcsshim's
//! compactext4 does (spec §4 replace rules, §6 layout). Images are written
//! front to back into a [`BlockSink`]; memory holds metadata only.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use super::dir::DirEncoder;
use super::extent;
use super::inode::*;
use super::layout::{self, BLOCK_SIZE, FIRST_INODE};
use super::path;
use super::time;
use super::xattr;
use super::Ext4Error;
use crate::sink::BlockSink;
use crate::tar::Timestamp;

const BLOCK: u64 = BLOCK_SIZE as u64;
const ROOT: u32 = 2;
pub const MAX_LINKS: u32 = 65000;
pub const MAX_FILE_SIZE: u64 = 128 << 30;
const SMALL_SYMLINK: usize = 59;

/// What to create: compactext4's `File`.
#[derive(Debug, Clone, Default)]
pub struct File {
    pub linkname: Vec<u8>,
    pub size: u64,
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub atime: Option<Timestamp>,
    pub ctime: Option<Timestamp>,
    pub mtime: Option<Timestamp>,
    pub crtime: Option<Timestamp>,
    pub devmajor: u32,
    pub devminor: u32,
    /// Full attribute names to values.
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// The regular file whose data is being written.
struct Current {
    ino: u32,
    start: u64,
    written: u64,
    max: u64,
}

/// Where the finished image ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Image size in 4096-byte blocks.
    pub blocks: u64,
    pub inodes: u32,
    pub groups: u32,
}

pub struct Writer<S: BlockSink> {
    sink: S,
    /// Slot `i` holds inode `i + 1`.
    nodes: Vec<Option<Node>>,
    pos: u64,
    max_disk_size: u64,
    gd_blocks: u32,
    cur: Option<Current>,
}

fn show(name: &[u8]) -> String {
    crate::text::shown(name)
}

fn rejected(msg: String) -> Ext4Error {
    Ext4Error::Rejected(msg)
}

impl<S: BlockSink> Writer<S> {
    /// A writer reserving metadata for images up to `max_disk_size` bytes.
    pub fn new(mut sink: S, max_disk_size: u64) -> Result<Self, Ext4Error> {
        let max_disk_size = max_disk_size.div_ceil(BLOCK) * BLOCK;
        let gd_blocks = layout::gd_blocks(max_disk_size);
        sink.reserve_leading(1 + u64::from(gd_blocks))?;
        let mut w = Writer {
            sink,
            nodes: vec![None],
            pos: (1 + u64::from(gd_blocks)) * BLOCK,
            max_disk_size,
            gd_blocks,
            cur: None,
        };
        let root = w.make_inode(
            &File {
                mode: S_IFDIR | 0o755,
                ..File::default()
            },
            None,
        )?;
        w.node_mut(root).links += 1;
        w.nodes.resize_with(FIRST_INODE as usize - 1, || None);
        w.create(
            b"lost+found",
            &File {
                mode: S_IFDIR | 0o700,
                ..File::default()
            },
        )?;
        Ok(w)
    }

    fn node(&self, ino: u32) -> &Node {
        self.nodes[ino as usize - 1].as_ref().expect("live inode")
    }

    fn node_mut(&mut self, ino: u32) -> &mut Node {
        self.nodes[ino as usize - 1].as_mut().expect("live inode")
    }

    /// Bytes may be added at the cursor without passing the maximum size.
    fn check_room(&self, n: u64) -> Result<(), Ext4Error> {
        if self.pos + n > self.max_disk_size {
            return Err(Ext4Error::TooBig(format!(
                "disk exceeded maximum size of {} bytes",
                self.max_disk_size
            )));
        }
        Ok(())
    }

    fn append(&mut self, data: &[u8]) -> Result<(), Ext4Error> {
        self.check_room(data.len() as u64)?;
        self.sink.append(data)?;
        self.pos += data.len() as u64;
        Ok(())
    }

    fn pad_to_block(&mut self) -> Result<(), Ext4Error> {
        let rem = self.pos % BLOCK;
        if rem != 0 {
            self.check_room(BLOCK - rem)?;
            self.sink.append_zeros(BLOCK - rem)?;
            self.pos += BLOCK - rem;
        }
        Ok(())
    }

    fn find_path(&self, dir: &[u8]) -> Option<u32> {
        let mut ino = ROOT;
        for name in dir.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            ino = *self.node(ino).children.as_ref()?.get(name)?;
        }
        Some(ino)
    }

    /// compactext4's lookup: (parent dir, existing child, child name).
    fn lookup(
        &self,
        name: &[u8],
        must_exist: bool,
    ) -> Result<(u32, Option<u32>, Vec<u8>), Ext4Error> {
        let clean = path::clean(name);
        if clean.is_empty() {
            return Ok((ROOT, Some(ROOT), Vec::new()));
        }
        let (dir, child) = path::split(&clean);
        if child.is_empty() || child.len() > 255 {
            return Err(rejected(format!("{}: invalid name", show(name))));
        }
        let dir = match self.find_path(dir) {
            Some(d) if self.node(d).is_dir() => d,
            _ => return Err(rejected(format!("{}: path not found", show(name)))),
        };
        let existing = self
            .node(dir)
            .children
            .as_ref()
            .and_then(|c| c.get(child))
            .copied();
        if existing.is_none() && must_exist {
            return Err(rejected(format!("{}: file not found", show(name))));
        }
        Ok((dir, existing, child.to_vec()))
    }

    /// Build (or rebuild, when `reuse` is given) an inode from `f`.
    fn make_inode(&mut self, f: &File, reuse: Option<u32>) -> Result<u32, Ext4Error> {
        let mut mode = f.mode;
        if mode & S_IFMT == 0 {
            mode |= S_IFREG;
        }
        let typ = mode & S_IFMT;
        let mut node = match reuse {
            None => Node {
                number: self.nodes.len() as u32 + 1,
                children: (typ == S_IFDIR).then(HashMap::new),
                links: u32::from(typ == S_IFDIR),
                ..Node::default()
            },
            Some(ino) => {
                let node = self.node(ino);
                if node.flags & FLAG_EXTENTS != 0 {
                    // Blocks cannot be freed: data already written stays.
                    return Err(rejected(
                        "cannot overwrite file with non-inline data".into(),
                    ));
                }
                node.clone()
            }
        };
        node.mode = mode;
        node.uid = f.uid;
        node.gid = f.gid;
        node.flags = FLAG_HUGE_FILE;
        node.atime = time::encode(f.atime);
        node.ctime = time::encode(f.ctime);
        node.mtime = time::encode(f.mtime);
        node.crtime = time::encode(f.crtime);
        node.devmajor = f.devmajor;
        node.devminor = f.devminor;
        node.data = Vec::new();
        let kept_inline = std::mem::take(&mut node.inline_xattrs);

        let size = match typ {
            S_IFREG => {
                if f.size > MAX_FILE_SIZE {
                    return Err(Ext4Error::TooBig(format!(
                        "file too big: {} > {}",
                        f.size, MAX_FILE_SIZE
                    )));
                }
                f.size
            }
            S_IFLNK => {
                node.mode |= 0o777;
                if f.linkname.len() <= SMALL_SYMLINK {
                    node.data = f.linkname.clone();
                }
                f.linkname.len() as u64
            }
            S_IFDIR | S_IFIFO | S_IFSOCK | S_IFCHR | S_IFBLK => 0,
            _ => return Err(rejected(format!("invalid mode {mode:o}"))),
        };

        // Inline attributes of the old inode survive unless overridden.
        let mut attrs = f.xattrs.clone();
        for x in kept_inline {
            attrs.entry(x.full_name()).or_insert(x.value);
        }
        let placement = xattr::place(attrs.into_iter().collect())
            .map_err(|name| rejected(format!("could not fit xattr {}", show(&name))))?;
        node.inline_xattrs = placement.inline;
        if !placement.block.is_empty() || node.xattr_block != 0 {
            let block = xattr::block(&placement.block);
            if node.xattr_block == 0 {
                self.check_room(BLOCK)?;
                node.xattr_block = (self.pos / BLOCK) as u32;
                node.blocks += 1;
                self.sink.append_mutable_block(&block)?;
                self.pos += BLOCK;
            } else {
                self.sink.set_block(u64::from(node.xattr_block), &block)?;
            }
        }
        node.block_xattrs = placement.block;
        node.size = size;

        if typ == S_IFLNK && f.linkname.len() > SMALL_SYMLINK {
            let start = self.pos;
            self.append(&f.linkname)?;
            self.finish_data(&mut node, start)?;
        }
        let ino = node.number;
        if ino as usize > self.nodes.len() {
            self.nodes.push(Some(node));
        } else {
            self.nodes[ino as usize - 1] = Some(node);
        }
        Ok(ino)
    }

    /// Pad the data that began at `start` to a block and describe it with
    /// extents (leaf blocks, if any, follow the data).
    fn finish_data(&mut self, node: &mut Node, start: u64) -> Result<(), Ext4Error> {
        self.pad_to_block()?;
        let start_block = (start / BLOCK) as u32;
        let blocks = (self.pos / BLOCK) as u32 - start_block;
        let tree = extent::build(start_block, blocks, (self.pos / BLOCK) as u32).map_err(|e| {
            Ext4Error::TooBig(format!(
                "file needs {} extents, more than one extent leaf block holds (upstream writes a corrupt tree here)",
                e.0
            ))
        })?;
        let mut used = blocks;
        for leaf in &tree.leaf_blocks {
            self.check_room(BLOCK)?;
            self.sink.append(&leaf[..])?;
            self.pos += BLOCK;
            used += 1;
        }
        if blocks > 0 {
            node.data = tree.root.to_vec();
            node.flags |= FLAG_EXTENTS;
        }
        node.blocks += used;
        Ok(())
    }

    /// End the regular file in progress, if any.
    fn finish_inode(&mut self) -> Result<(), Ext4Error> {
        let Some(cur) = self.cur.take() else {
            return Ok(());
        };
        if cur.written != cur.max {
            return Err(rejected(format!(
                "did not write the right amount: {} != {}",
                cur.written, cur.max
            )));
        }
        if cur.max != 0 {
            let mut node = self.nodes[cur.ino as usize - 1].take().expect("live inode");
            let r = self.finish_data(&mut node, cur.start);
            self.nodes[cur.ino as usize - 1] = Some(node);
            r?;
        }
        Ok(())
    }

    /// Add a file, directory, symlink or device (compactext4 `Create`).
    pub fn create(&mut self, name: &[u8], f: &File) -> Result<(), Ext4Error> {
        self.finish_inode()?;
        let (dir, existing, child_name) = self.lookup(name, false)?;
        let new_is_dir = f.mode & S_IFMT == S_IFDIR;
        let mut reuse = None;
        if let Some(e) = existing {
            let e_node = self.node(e);
            if e_node.is_dir() {
                if !new_is_dir {
                    return Err(rejected(format!(
                        "{}: cannot replace a directory with a file",
                        show(name)
                    )));
                }
                reuse = Some(e);
            } else if new_is_dir {
                return Err(rejected(format!(
                    "{}: cannot replace a file with a directory",
                    show(name)
                )));
            } else if e_node.links < 2 {
                reuse = Some(e);
            }
        } else if new_is_dir && self.node(dir).links >= MAX_LINKS {
            return Err(rejected(format!(
                "{}: exceeded parent directory maximum link count",
                show(name)
            )));
        }
        let child = self.make_inode(f, reuse).map_err(|e| e.prefixed(name))?;
        if Some(child) != existing {
            if let Some(e) = existing {
                self.node_mut(e).links -= 1;
            }
            let child_is_dir = self.node(child).is_dir();
            self.node_mut(dir)
                .children
                .as_mut()
                .expect("dir")
                .insert(child_name, child);
            self.node_mut(child).links += 1;
            if child_is_dir {
                self.node_mut(dir).links += 1;
            }
        }
        if self.node(child).file_type() == S_IFREG {
            self.cur = Some(Current {
                ino: child,
                start: self.pos,
                written: 0,
                max: f.size,
            });
        }
        Ok(())
    }

    /// Write the data of the regular file just created, reading `src` to
    /// its end (as `io.Copy` would).
    pub fn write_data(&mut self, src: &mut dyn Read) -> Result<(), Ext4Error> {
        let Some(cur) = self.cur.as_ref() else {
            // Nothing to write into: the entry must be empty.
            let mut probe = [0u8; 1];
            return match src.read(&mut probe)? {
                0 => Ok(()),
                _ => Err(rejected("wrote too much: no file in progress".into())),
            };
        };
        let want = cur.max - cur.written;
        self.check_room(want.div_ceil(BLOCK) * BLOCK)?;
        let got = self.sink.append_from(src, want)?;
        self.pos += got;
        let cur = self.cur.as_mut().expect("current file");
        cur.written += got;
        // One more read surfaces an error the reader delivers with the last
        // bytes (Go returns data and error together).
        let mut probe = [0u8; 1];
        if src.read(&mut probe)? != 0 {
            return Err(rejected(format!(
                "wrote too much: {} > {}",
                cur.written + 1,
                cur.max
            )));
        }
        Ok(())
    }

    /// Add a hard link `new_name` to the existing `old_name`.
    pub fn link(&mut self, old_name: &[u8], new_name: &[u8]) -> Result<(), Ext4Error> {
        self.finish_inode()?;
        let (new_dir, existing, child_name) = self.lookup(new_name, false)?;
        if let Some(e) = existing {
            let e = self.node(e);
            if e.is_dir() || e.links < 2 {
                return Err(rejected(format!(
                    "{}: cannot orphan existing file or directory",
                    show(new_name)
                )));
            }
        }
        let (_, old, _) = self.lookup(old_name, true)?;
        let old = old.expect("must_exist lookup");
        if self.node(old).is_dir() {
            return Err(rejected(format!(
                "{}: link target cannot be a directory: {}",
                show(new_name),
                show(old_name)
            )));
        }
        if existing != Some(old) && self.node(old).links >= MAX_LINKS {
            return Err(rejected(format!(
                "{}: link target would exceed maximum link count: {}",
                show(new_name),
                show(old_name)
            )));
        }
        if let Some(e) = existing {
            self.node_mut(e).links -= 1;
        }
        self.node_mut(old).links += 1;
        self.node_mut(new_dir)
            .children
            .as_mut()
            .expect("dir")
            .insert(child_name, old);
        Ok(())
    }

    /// Create missing ancestors of `name`, each copying its parent's
    /// attributes (times through the lossy round trip).
    pub fn make_parents(&mut self, name: &[u8]) -> Result<(), Ext4Error> {
        self.finish_inode()?;
        let clean = path::clean(name);
        let (parents, _) = path::split(&clean);
        let mut current: Vec<u8> = Vec::new();
        let mut ino = ROOT;
        for component in parents.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            current.push(b'/');
            current.extend_from_slice(component);
            let exists = self
                .node(ino)
                .children
                .as_ref()
                .and_then(|c| c.get(component))
                .copied();
            let next = match exists {
                Some(n) => n,
                None => {
                    let p = self.node(ino);
                    let f = File {
                        mode: p.mode,
                        uid: p.uid,
                        gid: p.gid,
                        atime: time::decode(p.atime),
                        ctime: time::decode(p.ctime),
                        mtime: time::decode(p.mtime),
                        crtime: time::decode(p.crtime),
                        devmajor: p.devmajor,
                        devminor: p.devminor,
                        ..File::default()
                    };
                    self.create(&current, &f).map_err(|e| {
                        rejected(format!("failed while creating parent directories: {e}"))
                    })?;
                    self.node(ino)
                        .children
                        .as_ref()
                        .and_then(|c| c.get(component))
                        .copied()
                        .expect("just created")
                }
            };
            ino = next;
        }
        Ok(())
    }

    /// The attributes of an existing entry (compactext4 `Stat`).
    pub fn stat(&mut self, name: &[u8]) -> Result<File, Ext4Error> {
        self.finish_inode()?;
        let (_, node, _) = self.lookup(name, true)?;
        let n = self.node(node.expect("must_exist lookup"));
        let mut xattrs = BTreeMap::new();
        for x in n.block_xattrs.iter().chain(n.inline_xattrs.iter()) {
            xattrs.insert(x.full_name(), x.value.clone());
        }
        xattrs.remove(&b"system.data"[..]);
        let mut f = File {
            size: n.size,
            mode: n.mode,
            uid: n.uid,
            gid: n.gid,
            atime: time::decode(n.atime),
            ctime: time::decode(n.ctime),
            mtime: time::decode(n.mtime),
            crtime: time::decode(n.crtime),
            devmajor: n.devmajor,
            devminor: n.devminor,
            xattrs,
            ..File::default()
        };
        if n.file_type() == S_IFLNK {
            if n.size > SMALL_SYMLINK as u64 {
                return Err(rejected(format!(
                    "{}: cannot retrieve link information",
                    show(name)
                )));
            }
            f.linkname = n.data.clone();
        }
        Ok(f)
    }

    /// Write directories, inode table, bitmaps and the header blocks.
    pub fn close(mut self) -> Result<(S, Summary), Ext4Error> {
        self.finish_inode()?;
        self.write_directories()?;
        let inode_table = (self.pos / BLOCK) as u32;
        let usage: Vec<(bool, bool)> = self
            .nodes
            .iter()
            .map(|n| n.as_ref().map_or((false, false), |n| (true, n.is_dir())))
            .collect();
        let tail = layout::tail(&layout::Usage {
            inode_table,
            gd_blocks: self.gd_blocks,
            inodes: &usage,
        })
        .map_err(|_| {
            Ext4Error::TooBig(format!(
                "disk exceeded maximum size of {} bytes",
                self.max_disk_size
            ))
        })?;

        let table_bytes = u64::from(tail.groups) * u64::from(tail.inodes_per_group) * 256;
        self.check_room(table_bytes)?;
        let mut chunk = Vec::with_capacity(64 * INODE_SIZE);
        for slot in &self.nodes {
            match slot {
                Some(n) => chunk.extend_from_slice(&n.encode()),
                None => chunk.extend_from_slice(&[0u8; INODE_SIZE]),
            }
            if chunk.len() >= 1 << 20 {
                self.sink.append(&chunk)?;
                chunk.clear();
            }
        }
        self.sink.append(&chunk)?;
        self.sink
            .append_zeros(table_bytes - (self.nodes.len() * INODE_SIZE) as u64)?;
        self.pos += table_bytes;

        self.append(&tail.bitmap_blocks.clone())?;
        let fill = u64::from(tail.disk_blocks) * BLOCK - self.pos;
        self.check_room(fill)?;
        self.sink.append_zeros(fill)?;
        self.pos += fill;

        for (i, block) in tail.descriptors.chunks(BLOCK as usize).enumerate() {
            let block: &[u8; 4096] = block.try_into().expect("whole block");
            self.sink.set_block(1 + i as u64, block)?;
        }
        self.sink.set_block(0, &tail.superblock)?;
        let summary = Summary {
            blocks: u64::from(tail.disk_blocks),
            inodes: self.nodes.len() as u32,
            groups: tail.groups,
        };
        Ok((self.sink, summary))
    }

    /// Pre-order from the root; children by (inode number, name).
    fn write_directories(&mut self) -> Result<(), Ext4Error> {
        let mut stack = vec![(ROOT, ROOT)];
        while let Some((dir, parent)) = stack.pop() {
            let children = self.sorted_children(dir);
            let mut enc = DirEncoder::default();
            enc.entry(dir, 2, b".");
            enc.entry(parent, self.node(parent).dirent_type(), b"..");
            for (name, ino) in &children {
                enc.entry(*ino, self.node(*ino).dirent_type(), name);
            }
            let bytes = enc.finish();
            let start = self.pos;
            self.append(&bytes)?;
            let mut node = self.nodes[dir as usize - 1].take().expect("live dir");
            node.size = bytes.len() as u64;
            let r = self.finish_data(&mut node, start);
            self.nodes[dir as usize - 1] = Some(node);
            r?;
            for (_, ino) in children.iter().rev() {
                if self.node(*ino).is_dir() {
                    stack.push((*ino, dir));
                }
            }
        }
        Ok(())
    }

    fn sorted_children(&self, dir: u32) -> Vec<(Vec<u8>, u32)> {
        let mut v: Vec<(Vec<u8>, u32)> = self
            .node(dir)
            .children
            .as_ref()
            .map(|c| c.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}
