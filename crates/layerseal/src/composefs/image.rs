//! composefs images: the metadata-only EROFS that C `mkcomposefs` writes
//! from a dumpfile (format versions 0 and 1), byte for byte, and the
//! cfsctl variant that defines OCI image ids (spec:
//! composefs-image-layout.md §1, §3–§8, §11.5).
//!
//! The writer works in the C tool's phases: pick the version, rewrite the
//! tree (overlay xattrs, whiteouts, `.`/`..`, the root marker and the 256
//! stub devices), number the inodes breadth first, build the shared xattr
//! table, size and place every inode, then lay out the bytes.

use std::borrow::Cow;
use std::collections::HashMap;

use super::dumpfile::{
    chunk_size, set_xattr_accounted, Dump, Entry, Kind, MAX_CHUNKS, S_IFBLK, S_IFCHR, S_IFDIR,
    S_IFLNK, S_IFMT, S_IFREG,
};
use crate::erofs::format::{
    dir_blocks, file_type, push_xattr_entry, xattr_entry_len, xattr_filter_bit, xattr_prefix,
    InodeRecord, BLOCK, LAYOUT_CHUNK_BASED, LAYOUT_INLINE, LAYOUT_PLAIN, MAGIC as EROFS_MAGIC,
    SB_OFFSET,
};

const SLOT: u64 = 32;
/// The composefs header's magic (offset 0).
pub const COMPOSEFS_MAGIC: u32 = 0xD078_629A;
/// MTIME | XATTR_FILTER.
const FEATURE_COMPAT: u32 = 6;
/// C stores shared pairs past this many per inode locally.
const MAX_SHARED_REFS: usize = 128;
/// Tails longer than this go to a block of their own.
const MAX_INLINE_TAIL: u64 = BLOCK / 2;

const OVERLAY: &[u8] = b"trusted.overlay.";

/// Which reference writer to reproduce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flavor {
    /// C `mkcomposefs --from-file`.
    #[default]
    Mkcomposefs,
    /// composefs-rs `cfsctl` (OCI image ids): no cap on shared xattr
    /// references, stub look-alikes left as they are, hardlinked
    /// whiteouts rejected, empty symlinks inline (§11.5).
    Cfsctl,
}

#[derive(Clone, Copy, Debug)]
pub struct ImageOptions {
    pub min_version: u32,
    pub max_version: u32,
    pub flavor: Flavor,
}

impl Default for ImageOptions {
    /// `mkcomposefs` without version flags: v0, or v1 when the tree holds
    /// a whiteout device.
    fn default() -> Self {
        ImageOptions {
            min_version: 0,
            max_version: 1,
            flavor: Flavor::Mkcomposefs,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("composefs format version {0} is not supported (0 and 1 are)")]
    Version(u32),
    #[error("{path}: {message}")]
    Node { path: String, message: String },
    #[error("image too large: {0}")]
    TooLarge(&'static str),
}

/// One inode of the image while it is being laid out.
struct Work<'a> {
    entry: Cow<'a, Entry>,
    /// Dump node index (stubs: none).
    node: Option<usize>,
    name: Vec<u8>,
    /// After the whiteout conversion.
    mode: u32,
    size: u64,
    nlink: u32,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The C writer's xattr size counter (§2.7, §4.5).
    accounted: u64,
    /// Directories: every entry with the work index of its final target.
    entries: Vec<(Vec<u8>, usize)>,
    /// Directories: real (non-link) children in name order.
    children: Vec<usize>,
}

impl Work<'_> {
    fn kind(&self) -> u32 {
        self.mode & S_IFMT
    }

    fn is_external(&self) -> bool {
        self.kind() == S_IFREG && self.size > 0 && self.entry.content.is_none()
    }

    /// Set an xattr with C's accounting (it can refuse: §4.5).
    fn set_xattr(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        if set_xattr_accounted(&mut self.xattrs, &mut self.accounted, key, value) {
            Ok(())
        } else {
            Err("cannot set xattr: numerical result out of range (as mkcomposefs)".into())
        }
    }
}

/// Size and place decisions for one inode.
#[derive(Clone, Copy, Default)]
struct Placed {
    extended: bool,
    xattr_len: u64,
    tail: u64,
    n_blocks: u64,
    nid: u64,
    pos: u64,
    first_block: u64,
}

/// Build the image for a parsed dumpfile.
pub fn build(dump: &Dump, opts: &ImageOptions) -> Result<Vec<u8>, ImageError> {
    let version = pick_version(dump, opts)?;
    let mut works = rewrite(dump, version, opts.flavor)?;
    let order = number(&mut works);
    Layout::new(&works, &order, opts.flavor)?.emit(&works, &order, version)
}

/// §3: the minimum, raised to 1 when allowed and a real node is a
/// whiteout device.
fn pick_version(dump: &Dump, opts: &ImageOptions) -> Result<u32, ImageError> {
    let max = opts.max_version.max(opts.min_version);
    let mut version = opts.min_version;
    let has_whiteout = dump.nodes.iter().any(|n| match &n.kind {
        Kind::Inode(e) => e.mode & S_IFMT == S_IFCHR && e.rdev == 0,
        Kind::Link { .. } => false,
    });
    if max >= 1 && version < 1 && has_whiteout {
        version = 1;
    }
    if version > 1 {
        return Err(ImageError::Version(version));
    }
    Ok(version)
}

fn node_error(dump: &Dump, w: &Work, message: String) -> ImageError {
    let path = match w.node {
        Some(n) => crate::text::shown(&dump.path(n)),
        None => format!("/{}", crate::text::shown(&w.name)),
    };
    ImageError::Node { path, message }
}

/// A root-level char 0:0 that cfsctl cannot tell from a generated stub.
fn is_stub_lookalike(w: &Work, root: &Work) -> bool {
    is_stub_name(&w.name)
        && w.mode == S_IFCHR | 0o644
        && w.entry.uid == root.entry.uid
        && w.entry.gid == root.entry.gid
        && (w.entry.mtime_sec, w.entry.mtime_nsec) == (root.entry.mtime_sec, root.entry.mtime_nsec)
        && w.xattrs == stub_xattrs(root)
}

/// A stub's name: two lowercase hex digits (`00`..`ff`).
pub(crate) fn is_stub_name(name: &[u8]) -> bool {
    name.len() == 2
        && name
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// A stub's xattrs: only the root's `security.selinux`, if it has one.
fn stub_xattrs(root: &Work) -> Vec<(Vec<u8>, Vec<u8>)> {
    root.xattrs
        .iter()
        .filter(|(k, _)| k == b"security.selinux")
        .cloned()
        .collect()
}

/// §4: copy the tree into work nodes and apply the overlay rewrite, in
/// depth-first pre-order; then the root marker and the stubs.
fn rewrite<'a>(dump: &'a Dump, version: u32, flavor: Flavor) -> Result<Vec<Work<'a>>, ImageError> {
    // Work index = dump index for inode nodes; link nodes get none.
    let mut slot: Vec<Option<usize>> = vec![None; dump.nodes.len()];
    let mut works: Vec<Work<'a>> = Vec::new();
    for (i, n) in dump.nodes.iter().enumerate() {
        if let Kind::Inode(e) = &n.kind {
            slot[i] = Some(works.len());
            works.push(Work {
                entry: Cow::Borrowed(e),
                node: Some(i),
                name: n.name.clone(),
                mode: e.mode,
                size: e.size,
                nlink: e.nlink,
                xattrs: e.xattrs.clone(),
                accounted: 0,
                entries: Vec::new(),
                children: Vec::new(),
            });
        }
    }
    let target_of = |i: usize| -> usize {
        match &dump.nodes[i].kind {
            Kind::Link { target, .. } => slot[*target].expect("links resolve to inodes"),
            Kind::Inode(_) => slot[i].expect("inode"),
        }
    };
    for (i, n) in dump.nodes.iter().enumerate() {
        let Some(w) = slot[i] else { continue };
        if works[w].kind() != S_IFDIR {
            continue;
        }
        let parent = slot[n.parent].expect("parents are directories");
        let mut entries = vec![(b".".to_vec(), w), (b"..".to_vec(), parent)];
        for (name, &c) in &n.children {
            entries.push((name.clone(), target_of(c)));
            if let Some(cw) = slot[c] {
                works[w].children.push(cw);
            }
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        works[w].entries = entries;
    }

    // Depth-first pre-order over real nodes, children in name order.
    let mut stack = vec![0usize];
    while let Some(w) = stack.pop() {
        stack.extend(works[w].children.iter().rev());
        let parent = works[w]
            .node
            .map(|n| slot[dump.nodes[n].parent].expect("parent"))
            .unwrap_or(0);
        rewrite_node(&mut works, w, parent, version, flavor)
            .map_err(|m| node_error(dump, &works[w], m))?;
    }

    works[0]
        .set_xattr(b"trusted.overlay.opaque", b"y")
        .map_err(|m| node_error(dump, &works[0], m))?;
    add_stubs(&mut works);
    Ok(works)
}

/// §4.1 for one node: validate, escape, metacopy/redirect, whiteouts.
fn rewrite_node(
    works: &mut [Work],
    w: usize,
    parent: usize,
    version: u32,
    flavor: Flavor,
) -> Result<(), String> {
    let node = &mut works[w];
    if node.is_external() && node.size.div_ceil(chunk_size(node.size)) > MAX_CHUNKS {
        return Err("file too large".into());
    }
    for (k, _) in node.xattrs.iter_mut() {
        if k.starts_with(OVERLAY) {
            k.splice(OVERLAY.len()..OVERLAY.len(), b"overlay.".iter().copied());
        }
    }
    if node.is_external() {
        let metacopy = match &node.entry.digest {
            Some(d) => {
                // struct ovl_metacopy: version 0, length, flags 0, the
                // hash algorithm (1 = sha256, 2 = sha512), the digest.
                let alg = if d.len() == 64 { 2 } else { 1 };
                let mut v = vec![0, 4 + d.len() as u8, 0, alg];
                v.extend_from_slice(d);
                v
            }
            None => Vec::new(),
        };
        node.set_xattr(b"trusted.overlay.metacopy", &metacopy)?;
        if let Some(p) = node.entry.payload.clone() {
            let redirect = [b"/".as_slice(), &p].concat();
            node.set_xattr(b"trusted.overlay.redirect", &redirect)?;
        }
    }
    let whiteout = node.kind() == S_IFCHR && node.entry.rdev == 0;
    if !whiteout {
        return Ok(());
    }
    // cfsctl leaves a root-level device it cannot tell from a stub alone.
    let stub_like = flavor == Flavor::Cfsctl
        && parent == 0
        && w != 0
        && is_stub_lookalike(&works[w], &works[0]);
    if stub_like {
        return Ok(());
    }
    let node = &mut works[w];
    if flavor == Flavor::Cfsctl && node.nlink > 1 {
        return Err("whiteout inode has nlink > 1".into());
    }
    node.size = 0;
    node.mode = S_IFREG | (node.mode & !S_IFMT);
    node.set_xattr(b"trusted.overlay.overlay.whiteout", b"")?;
    node.set_xattr(b"user.overlay.whiteout", b"")?;
    let p = &mut works[parent];
    p.set_xattr(b"trusted.overlay.overlay.whiteouts", b"")?;
    p.set_xattr(b"user.overlay.whiteouts", b"")?;
    if version >= 1 {
        p.set_xattr(b"trusted.overlay.overlay.opaque", b"x")?;
        p.set_xattr(b"user.overlay.opaque", b"x")?;
    }
    Ok(())
}

/// §4.3: char 0:0 devices `00`..`ff` under the root where the name is
/// free, with the root's owner, time and SELinux label.
fn add_stubs(works: &mut Vec<Work>) {
    let root = &works[0];
    let stub_entry = Entry {
        size: 0,
        mode: S_IFCHR | 0o644,
        nlink: 1,
        uid: root.entry.uid,
        gid: root.entry.gid,
        rdev: 0,
        mtime_sec: root.entry.mtime_sec,
        mtime_nsec: root.entry.mtime_nsec,
        payload: None,
        content: None,
        digest: None,
        xattrs: Vec::new(),
    };
    let selinux = stub_xattrs(root);
    for i in 0..=255u8 {
        let name = format!("{i:02x}").into_bytes();
        if works[0].entries.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let w = works.len();
        works.push(Work {
            entry: Cow::Owned(stub_entry.clone()),
            node: None,
            name: name.clone(),
            mode: stub_entry.mode,
            size: 0,
            nlink: 1,
            xattrs: selinux.clone(),
            accounted: 0,
            entries: Vec::new(),
            children: Vec::new(),
        });
        works[0].entries.push((name, w));
        works[0].children.push(w);
    }
    works[0].entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut children = std::mem::take(&mut works[0].children);
    children.sort_unstable_by(|&a, &b| works[a].name.cmp(&works[b].name));
    works[0].children = children;
}

/// §5: breadth-first order; directory nlink; xattrs sorted by key.
fn number(works: &mut [Work]) -> Vec<usize> {
    let mut order = vec![0usize];
    let mut i = 0;
    while i < order.len() {
        let w = order[i];
        order.extend(works[w].children.iter().copied());
        i += 1;
    }
    for &w in &order {
        if works[w].kind() == S_IFDIR {
            let dirs = works[w]
                .children
                .iter()
                .filter(|&&c| works[c].kind() == S_IFDIR)
                .count();
            works[w].nlink = 2 + dirs as u32;
        }
        works[w].xattrs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    order
}

/// Everything the byte writer needs, computed before any byte is written.
struct Layout<'w> {
    placed: Vec<Placed>,
    /// Shared pairs in table order with their byte offsets.
    shared: Vec<(&'w [u8], &'w [u8])>,
    shared_offset: HashMap<(&'w [u8], &'w [u8]), u64>,
    shared_size: u64,
    /// Per work node: is each of its xattrs (key order) a shared ref?
    refs: Vec<Vec<bool>>,
    /// Inode number (BFS position) per work node.
    ino: Vec<u32>,
    min_time: (i64, u32),
    has_acl: bool,
    inodes_end: u64,
    blocks: u64,
    flavor: Flavor,
}

fn round_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Directory packing (§7.3): full blocks and the last group.
fn dir_split(entries: &[(Vec<u8>, usize)]) -> (u64, u64) {
    let names: Vec<&[u8]> = entries.iter().map(|(n, _)| n.as_slice()).collect();
    let end = crate::erofs::format::dir_size(&names, BLOCK);
    let (blocks, tail) = (end / BLOCK, end % BLOCK);
    if tail > MAX_INLINE_TAIL {
        (blocks + 1, 0)
    } else {
        (blocks, tail)
    }
}

impl<'w> Layout<'w> {
    fn new(works: &'w [Work], order: &[usize], flavor: Flavor) -> Result<Self, ImageError> {
        // §6: count pairs over inodes, share those used more than once.
        let mut counts: HashMap<(&[u8], &[u8]), u32> = HashMap::new();
        for &w in order {
            for (k, v) in &works[w].xattrs {
                *counts.entry((k.as_slice(), v.as_slice())).or_default() += 1;
            }
        }
        let mut shared: Vec<(&[u8], &[u8])> = counts
            .iter()
            .filter(|(_, &c)| c > 1)
            .map(|(&p, _)| p)
            .collect();
        shared.sort_unstable_by(|a, b| {
            b.0.cmp(a.0)
                .then(b.1.len().cmp(&a.1.len()))
                .then(b.1.cmp(a.1))
        });
        let mut shared_offset = HashMap::new();
        let mut shared_size = 0u64;
        for &(k, v) in &shared {
            shared_offset.insert((k, v), shared_size);
            let (_, suffix) = xattr_prefix(k);
            shared_size += xattr_entry_len(suffix, v) as u64;
        }

        let mut min_time = (i64::MAX, u32::MAX);
        let mut has_acl = false;
        for &w in order {
            let e = &works[w].entry;
            min_time = min_time.min((e.mtime_sec, e.mtime_nsec));
            has_acl |= works[w]
                .xattrs
                .iter()
                .any(|(k, _)| k == b"system.posix_acl_access" || k == b"system.posix_acl_default");
        }

        let mut ino = vec![0u32; works.len()];
        for (i, &w) in order.iter().enumerate() {
            ino[w] = i as u32;
        }
        let mut placed = vec![Placed::default(); works.len()];
        let mut refs = vec![Vec::new(); works.len()];
        let mut pos = (SB_OFFSET + 128) as u64;
        for &w in order {
            let node = &works[w];
            let mut xattr_len = 0;
            if !node.xattrs.is_empty() {
                xattr_len = 12;
                let mut n = 0;
                for (k, v) in &node.xattrs {
                    let is_shared = shared_offset.contains_key(&(k.as_slice(), v.as_slice()))
                        && (flavor == Flavor::Cfsctl || n < MAX_SHARED_REFS);
                    if is_shared {
                        n += 1;
                        xattr_len += 4;
                    } else {
                        xattr_len += xattr_entry_len(xattr_prefix(k).1, v) as u64;
                    }
                    refs[w].push(is_shared);
                }
            }
            let (mut n_blocks, mut tail) = match node.kind() {
                S_IFDIR => dir_split(&node.entries),
                S_IFLNK => (0, node.size),
                S_IFREG if node.is_external() => (0, 4 * node.size.div_ceil(chunk_size(node.size))),
                S_IFREG => {
                    let (b, t) = (node.size / BLOCK, node.size % BLOCK);
                    if t > MAX_INLINE_TAIL {
                        (b + 1, 0)
                    } else {
                        (b, t)
                    }
                }
                _ => (0, 0),
            };
            let size_for_compact = if node.kind() == S_IFDIR {
                n_blocks * BLOCK + tail
            } else {
                node.size
            };
            let e = &node.entry;
            let extended = (e.mtime_sec, e.mtime_nsec) != min_time
                || node.nlink > 0xFFFF
                || e.uid > 0xFFFF
                || e.gid > 0xFFFF
                || size_for_compact > u64::from(u32::MAX);
            let header = if extended { 64 } else { 32 };

            pos = round_up(pos, SLOT);
            if node.kind() == S_IFLNK {
                let total = header + xattr_len + tail;
                if total >= BLOCK {
                    n_blocks = 1;
                    tail = 0;
                }
                if total > 0 && pos / BLOCK != (pos + total - 1) / BLOCK {
                    pos = round_up(pos, BLOCK);
                }
            } else if tail > 0 {
                let r = BLOCK - (pos + header + xattr_len) % BLOCK;
                if r < tail {
                    let pad = round_up(r, SLOT);
                    let r2 = BLOCK - (pos + header + xattr_len + pad) % BLOCK;
                    if tail <= r2 {
                        pos += pad;
                    } else {
                        n_blocks += 1;
                        tail = 0;
                        pos = round_up(pos, BLOCK);
                    }
                }
            }
            placed[w] = Placed {
                extended,
                xattr_len,
                tail,
                n_blocks,
                nid: pos / SLOT,
                pos,
                first_block: 0,
            };
            pos += header + xattr_len + tail;
        }
        let inodes_end = round_up(pos, SLOT);
        let data_start = round_up(inodes_end + shared_size, BLOCK);
        let mut next_block = data_start / BLOCK;
        for &w in order {
            let p = &mut placed[w];
            if p.n_blocks > 0 {
                p.first_block = next_block;
                next_block += p.n_blocks;
            }
        }
        if placed[0].nid > u64::from(u16::MAX) {
            return Err(ImageError::TooLarge("root inode past nid 65535"));
        }
        if next_block > u64::from(u32::MAX) || inodes_end / BLOCK > u64::from(u32::MAX) {
            return Err(ImageError::TooLarge("more than 2^32 blocks"));
        }
        Ok(Layout {
            placed,
            shared,
            shared_offset,
            shared_size,
            refs,
            ino,
            min_time,
            has_acl,
            inodes_end,
            blocks: next_block,
            flavor,
        })
    }

    fn emit(&self, works: &[Work], order: &[usize], version: u32) -> Result<Vec<u8>, ImageError> {
        let total = usize::try_from(self.blocks * BLOCK)
            .map_err(|_| ImageError::TooLarge("image does not fit in memory"))?;
        let mut img = vec![0u8; total];
        self.write_headers(&mut img, order.len() as u64, version);
        for &w in order {
            self.write_inode(&mut img, works, w);
        }
        let mut table = Vec::with_capacity(self.shared_size as usize);
        for &(k, v) in &self.shared {
            let (index, suffix) = xattr_prefix(k);
            push_xattr_entry(&mut table, index, suffix, v);
        }
        let at = self.inodes_end as usize;
        img[at..at + table.len()].copy_from_slice(&table);
        Ok(img)
    }

    fn write_headers(&self, img: &mut [u8], inos: u64, version: u32) {
        img[0..4].copy_from_slice(&COMPOSEFS_MAGIC.to_le_bytes());
        img[4..8].copy_from_slice(&1u32.to_le_bytes());
        img[8..12].copy_from_slice(&u32::from(self.has_acl).to_le_bytes());
        img[12..16].copy_from_slice(&version.to_le_bytes());
        let sb = &mut img[SB_OFFSET..SB_OFFSET + 128];
        sb[0..4].copy_from_slice(&EROFS_MAGIC.to_le_bytes());
        sb[8..12].copy_from_slice(&FEATURE_COMPAT.to_le_bytes());
        sb[12] = 12;
        sb[14..16].copy_from_slice(&(self.placed[0].nid as u16).to_le_bytes());
        sb[16..24].copy_from_slice(&inos.to_le_bytes());
        sb[24..32].copy_from_slice(&(self.min_time.0 as u64).to_le_bytes());
        sb[32..36].copy_from_slice(&self.min_time.1.to_le_bytes());
        sb[36..40].copy_from_slice(&(self.blocks as u32).to_le_bytes());
        sb[44..48].copy_from_slice(&((self.inodes_end / BLOCK) as u32).to_le_bytes());
    }

    fn write_inode(&self, img: &mut [u8], works: &[Work], w: usize) {
        let node = &works[w];
        let p = self.placed[w];
        let kind = node.kind();
        let external = node.is_external();
        let chunk_format = if external {
            chunk_size(node.size).trailing_zeros() - 12
        } else {
            0
        };
        let layout = if external {
            LAYOUT_CHUNK_BASED
        } else if p.tail > 0
            || (self.flavor == Flavor::Cfsctl && kind == S_IFLNK && p.n_blocks == 0)
        {
            LAYOUT_INLINE
        } else {
            LAYOUT_PLAIN
        };
        let size = match kind {
            S_IFDIR => p.n_blocks * BLOCK + p.tail,
            S_IFREG | S_IFLNK => node.size,
            _ => 0,
        };
        let i_u = match kind {
            S_IFCHR | S_IFBLK => node.entry.rdev,
            _ if external => (p.first_block as u32 & 0xFFFF_0000) | chunk_format,
            _ => p.first_block as u32,
        };
        let e = &node.entry;
        let record = InodeRecord {
            extended: p.extended,
            layout,
            xattr_body_len: p.xattr_len as usize,
            mode: node.mode as u16,
            nlink: node.nlink,
            size,
            mtime: e.mtime_sec,
            nsec: e.mtime_nsec,
            i_u,
            ino: self.ino[w],
            uid: e.uid,
            gid: e.gid,
        };
        let mut bytes = record.encode();
        bytes.extend_from_slice(&self.xattr_body(node, &self.refs[w]));
        // The tail, and what goes to data blocks.
        let mut block_data: Cow<[u8]> = Cow::Borrowed(&[]);
        match kind {
            S_IFDIR => {
                let entries: Vec<(&[u8], u64, u8)> = node
                    .entries
                    .iter()
                    .map(|(n, t)| {
                        (
                            n.as_slice(),
                            self.placed[*t].nid,
                            file_type(works[*t].mode as u16),
                        )
                    })
                    .collect();
                let all = dir_blocks(&entries, p.n_blocks * BLOCK + p.tail, BLOCK);
                let split = (p.n_blocks * BLOCK) as usize;
                bytes.extend_from_slice(&all[split..]);
                block_data = Cow::Owned(all[..split].to_vec());
            }
            S_IFLNK => {
                let target = e.payload.as_deref().unwrap_or_default();
                if p.n_blocks > 0 {
                    block_data = Cow::Borrowed(target);
                } else {
                    bytes.extend_from_slice(target);
                }
            }
            S_IFREG if external => {
                let map = vec![0xFF; p.tail as usize];
                bytes.extend_from_slice(&map);
                if p.n_blocks > 0 {
                    block_data = Cow::Owned(vec![0xFF; BLOCK as usize]);
                }
            }
            S_IFREG => {
                let content = e.content.as_deref().unwrap_or_default();
                let split = content.len() - p.tail as usize;
                bytes.extend_from_slice(&content[split..]);
                block_data = Cow::Borrowed(&content[..split]);
            }
            _ => {}
        }
        let at = p.pos as usize;
        img[at..at + bytes.len()].copy_from_slice(&bytes);
        if !block_data.is_empty() {
            let at = (p.first_block * BLOCK) as usize;
            img[at..at + block_data.len()].copy_from_slice(&block_data);
        }
    }

    fn xattr_body(&self, node: &Work, refs: &[bool]) -> Vec<u8> {
        if node.xattrs.is_empty() {
            return Vec::new();
        }
        let mut filter = 0u32;
        let mut ids = Vec::new();
        let mut local = Vec::new();
        for ((k, v), &is_ref) in node.xattrs.iter().zip(refs) {
            let (index, suffix) = xattr_prefix(k);
            filter |= xattr_filter_bit(index, suffix);
            if is_ref {
                let off = self.shared_offset[&(k.as_slice(), v.as_slice())];
                let id = ((self.inodes_end % BLOCK) + off) / 4;
                ids.extend_from_slice(&(id as u32).to_le_bytes());
            } else {
                push_xattr_entry(&mut local, index, suffix, v);
            }
        }
        let mut body = Vec::with_capacity(12 + ids.len() + local.len());
        body.extend_from_slice(&(!filter).to_le_bytes());
        body.push((ids.len() / 4) as u8);
        body.extend_from_slice(&[0; 7]);
        body.extend_from_slice(&ids);
        body.extend_from_slice(&local);
        body
    }
}
