//! The merged root filesystem of an OCI image as composefs-rs (`cfsctl oci
//! pull` / `compute-id`) assembles it, and its image id (spec:
//! composefs-image-layout.md §11).
//!
//! Layers are applied in order: whiteouts and opaque markers remove what
//! lower layers (and earlier entries of the same layer) put there, a
//! directory over a directory replaces only its metadata, anything else
//! replaces; hardlinks share one leaf. Then `/` takes `/usr`'s metadata,
//! `/run` is emptied and xattrs are filtered. Regular files over 64 bytes
//! become objects named by their fs-verity digest.
//!
//! Deliberate differences from cfsctl, which rejects these layers:
//! * a missing parent directory is created as `0755`, owner 0:0, with the
//!   mtime of the entry that needed it and no xattrs (a whiteout under a
//!   missing directory removes nothing and creates nothing);
//! * sparse files are expanded: holes read as zeros, so the object and its
//!   id are those of the full file;
//! * a device number over 32 bits is an error, not a crash.

use std::collections::BTreeMap;
use std::io::{self, Read};

use super::dumpfile::{Dump, Entry, Kind, Node, S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG};
use super::image::{build, Flavor, ImageOptions};
use crate::tar::{typeflag, Header, Reader, TarError};
use crate::verity::{fsverity, hex_lower, Algorithm};

const S_IFIFO: u32 = 0o010000;
/// Regular files up to this size are stored inline in the image.
pub const INLINE_MAX: u64 = 64;
const MAX_NAME: usize = 255;
/// Deeper paths cannot exist on Linux (PATH_MAX 4096 allows 2048
/// components); the tree walks recurse this deep at most.
const MAX_DEPTH: usize = 2048;

/// Where regular-file objects go: every implementation returns the data's
/// fs-verity digest.
pub trait ObjectStore {
    fn algorithm(&self) -> Algorithm;
    /// Consume exactly `size` bytes of `data`, keep them if this store
    /// keeps objects, and return their fs-verity digest. `contiguous`:
    /// the bytes are the next `size` bytes of the layer tar itself (not
    /// a sparse file's expansion), so a splitstream may refer to them.
    fn put(&mut self, data: &mut dyn Read, size: u64, contiguous: bool) -> io::Result<Vec<u8>>;
}

/// Computes digests and keeps nothing (`compute-id`).
pub struct DigestOnly {
    pub algorithm: Algorithm,
    pub threads: usize,
}

impl ObjectStore for DigestOnly {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn put(&mut self, data: &mut dyn Read, size: u64, _contiguous: bool) -> io::Result<Vec<u8>> {
        digest_exact(data, size, self.algorithm, self.threads)
    }
}

/// fs-verity digest of exactly `size` bytes of `data` (short data is an
/// error: the tar was truncated).
pub fn digest_exact(
    data: &mut dyn Read,
    size: u64,
    algorithm: Algorithm,
    threads: usize,
) -> io::Result<Vec<u8>> {
    let mut counted = Counted {
        inner: data.take(size),
        n: 0,
    };
    // Small files: in memory on this thread, no worker start-up.
    let d = if size <= fsverity::SMALL {
        let mut buf = Vec::with_capacity(size as usize);
        counted.read_to_end(&mut buf)?;
        fsverity::digest_bytes(&buf, algorithm)?
    } else {
        fsverity::digest(&mut counted, algorithm, threads)?
    };
    if counted.n != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("file data ends after {} of {size} bytes", counted.n),
        ));
    }
    Ok(d)
}

struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("layer {layer}: tar at byte {offset}: {source}")]
    Tar {
        layer: usize,
        offset: u64,
        source: TarError,
    },
    #[error("layer {layer}: {path:?} (tar header at byte {offset}): {message}")]
    Entry {
        layer: usize,
        path: String,
        offset: u64,
        message: String,
    },
    #[error("layer {layer}: {path:?}: storing the file: {source}")]
    Object {
        layer: usize,
        path: String,
        source: io::Error,
    },
    #[error("{0}")]
    Tree(String),
    #[error("writing the image: {0}")]
    Image(#[from] super::image::ImageError),
}

/// Which xattrs survive into the image (`cfsctl --xattrs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XattrFilter {
    /// Only `security.capability` (cfsctl's default).
    #[default]
    AllowlistOnly,
    /// Also `user.*`.
    KeepUserXattrs,
}

impl XattrFilter {
    fn keeps(self, key: &[u8]) -> bool {
        key == b"security.capability"
            || (self == XattrFilter::KeepUserXattrs && key.starts_with(b"user."))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Stat {
    /// File type bits | permission bits.
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, u32),
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

#[derive(Clone, Debug)]
enum Content {
    /// Regular file of at most 64 bytes.
    Inline(Vec<u8>),
    /// Regular file stored as an object.
    External {
        size: u64,
        digest: Vec<u8>,
    },
    Symlink(Vec<u8>),
    Device(u32),
    Fifo,
}

#[derive(Clone, Debug)]
struct Leaf {
    stat: Stat,
    content: Content,
}

#[derive(Clone, Debug)]
struct Dir {
    stat: Stat,
    entries: BTreeMap<Vec<u8>, Item>,
    /// Single-layer trees: the layer marks this directory opaque.
    opaque: bool,
}

#[derive(Clone, Debug)]
enum Item {
    Dir(Dir),
    /// Index into the leaf table: names sharing it are hardlinks.
    Leaf(usize),
}

/// The merged tree of the layers applied so far.
pub struct MergedTree {
    root: Dir,
    leaves: Vec<Leaf>,
    layers: usize,
    /// One layer on its own (a sealed image's per-layer digest): whiteouts
    /// stay in the tree as overlayfs expects them in a lower layer, 0:0
    /// character devices and `trusted.overlay.opaque=y` directories,
    /// instead of being applied.
    keep_whiteouts: bool,
}

impl Default for MergedTree {
    fn default() -> Self {
        Self::new()
    }
}

/// A tar path made absolute: `None` for the root entry (no final normal
/// component), else the parent components and the name.
type SplitPath<'a> = Option<(Vec<&'a [u8]>, &'a [u8])>;

fn split_path(path: &[u8]) -> Result<SplitPath<'_>, String> {
    let comps: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    if comps.len() > MAX_DEPTH {
        return Err(format!("path deeper than {MAX_DEPTH} directories"));
    }
    let Some((&name, parents)) = comps.split_last() else {
        return Ok(None);
    };
    if parents.contains(&&b".."[..]) {
        return Err("path has a .. component".into());
    }
    if name == b".." {
        return Ok(None);
    }
    if name.len() > MAX_NAME {
        return Err(format!("name longer than {MAX_NAME} bytes"));
    }
    Ok(Some((parents.to_vec(), name)))
}

fn lossy(b: &[u8]) -> String {
    crate::text::shown(b)
}

/// The PAX `mtime` fraction as cfsctl reads it: 9 or more digits use the
/// first 9 (0 if any is not a digit); fewer are scaled; otherwise 0.
fn pax_nanos(record: &[u8]) -> (Option<i64>, u32) {
    let (secs, frac) = match record.iter().position(|&c| c == b'.') {
        Some(dot) => (&record[..dot], &record[dot + 1..]),
        None => (record, &[][..]),
    };
    let secs = std::str::from_utf8(secs).ok().and_then(|s| s.parse().ok());
    let digits = &frac[..frac.len().min(9)];
    if frac.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return (secs, 0);
    }
    let mut n = 0u32;
    for i in 0..9 {
        n = n * 10 + digits.get(i).map_or(0, |c| u32::from(c - b'0'));
    }
    (secs, n)
}

fn stat_of(h: &Header, type_bits: u32) -> Stat {
    let header_secs = h.mtime.map_or(0, |t| t.secs);
    let mtime = match h.pax.as_ref().and_then(|m| m.get(&b"mtime"[..])) {
        Some(raw) if !raw.is_empty() => {
            let (secs, nanos) = pax_nanos(raw);
            (secs.unwrap_or(header_secs), nanos)
        }
        _ => (header_secs, 0),
    };
    let xattrs = h
        .schily_xattrs()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    Stat {
        mode: type_bits | (h.mode as u32 & 0o7777),
        uid: h.uid as u32,
        gid: h.gid as u32,
        mtime,
        xattrs,
    }
}

/// glibc `makedev`.
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xffff_f000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0xff)
}

impl MergedTree {
    /// An empty root (mode 0, owner 0:0, mtime 0): the first layer's
    /// entries go under it; `/usr` later lends it its metadata.
    pub fn new() -> Self {
        MergedTree {
            root: Dir {
                stat: Stat {
                    mode: S_IFDIR,
                    uid: 0,
                    gid: 0,
                    mtime: (0, 0),
                    xattrs: BTreeMap::new(),
                },
                entries: BTreeMap::new(),
                opaque: false,
            },
            leaves: Vec::new(),
            layers: 0,
            keep_whiteouts: false,
        }
    }

    /// A tree for one layer on its own, its whiteouts kept (see
    /// `keep_whiteouts`); the root is left as composefs-rs leaves it
    /// (mode 0, owner 0:0, mtime 0) unless the layer has a root entry.
    pub fn single_layer() -> Self {
        MergedTree {
            keep_whiteouts: true,
            ..Self::new()
        }
    }

    fn dir_mut(&mut self, parents: &[&[u8]], implicit: Option<&Stat>) -> Result<&mut Dir, String> {
        let mut d = &mut self.root;
        for &c in parents {
            if !d.entries.contains_key(c) {
                let Some(stat) = implicit else {
                    return Err(format!("Directory entry {:?} does not exist", lossy(c)));
                };
                d.entries.insert(
                    c.to_vec(),
                    Item::Dir(Dir {
                        stat: stat.clone(),
                        entries: BTreeMap::new(),
                        opaque: false,
                    }),
                );
            }
            d = match d.entries.get_mut(c) {
                Some(Item::Dir(sub)) => sub,
                _ => {
                    return Err(format!(
                        "Directory entry {:?} is not a subdirectory",
                        lossy(c)
                    ))
                }
            };
        }
        Ok(d)
    }

    fn find_leaf(&mut self, path: &[u8]) -> Result<usize, String> {
        let (parents, name) =
            split_path(path)?.ok_or_else(|| "Directory entry \"/\" is a directory".to_string())?;
        let d = self.dir_mut(&parents, None)?;
        match d.entries.get(name) {
            Some(Item::Leaf(l)) => Ok(*l),
            Some(Item::Dir(_)) => Err(format!("Directory entry {:?} is a directory", lossy(name))),
            None => Err(format!("Directory entry {:?} does not exist", lossy(name))),
        }
    }

    /// Apply one uncompressed layer tar.
    pub fn apply_layer<R: Read>(
        &mut self,
        tar: R,
        store: &mut dyn ObjectStore,
    ) -> Result<(), OciError> {
        let layer = self.layers;
        self.layers += 1;
        let mut reader = Reader::new(tar).lenient_pax_times();
        loop {
            let h = match reader.next() {
                Ok(Some(h)) => h,
                Ok(None) => return Ok(()),
                Err(source) => {
                    return Err(OciError::Tar {
                        layer,
                        offset: reader.entry_offset(),
                        source,
                    })
                }
            };
            let offset = reader.entry_offset();
            let entry_err = |message: String| OciError::Entry {
                layer,
                path: lossy(&h.name),
                offset,
                message,
            };
            self.apply_entry(&h, &mut reader, store)
                .map_err(|e| match e {
                    EntryError::Message(m) => entry_err(m),
                    EntryError::Io(source) => OciError::Object {
                        layer,
                        path: lossy(&h.name),
                        source,
                    },
                })?;
        }
    }

    fn apply_entry<R: Read>(
        &mut self,
        h: &Header,
        data: &mut Reader<R>,
        store: &mut dyn ObjectStore,
    ) -> Result<(), EntryError> {
        let type_bits = match h.typeflag {
            typeflag::XGLOBAL => return Ok(()),
            // 'S': GNU sparse, read expanded.
            typeflag::REG | typeflag::REG_A | b'7' | typeflag::GNU_SPARSE | typeflag::LINK => {
                S_IFREG
            }
            typeflag::SYMLINK => S_IFLNK,
            typeflag::CHAR => S_IFCHR,
            typeflag::BLOCK => S_IFBLK,
            typeflag::DIR => S_IFDIR,
            typeflag::FIFO => S_IFIFO,
            t => return Err(format!("unsupported tar entry type {:?}", t as char).into()),
        };
        let stat = stat_of(h, type_bits);
        let Some((parents, name)) = split_path(&h.name)? else {
            if type_bits != S_IFDIR || h.typeflag == typeflag::LINK {
                return Err(format!("filename {:?} must be a directory", lossy(&h.name)).into());
            }
            self.root.stat = stat;
            return Ok(());
        };
        if let (true, Some(target)) = (self.keep_whiteouts, name.strip_prefix(b".wh.")) {
            return self.keep_whiteout(&parents, target, stat);
        }
        if let Some(target) = name.strip_prefix(b".wh.") {
            // Whiteouts under a missing directory have nothing to remove.
            let Ok(dir) = self.dir_mut(&parents, None) else {
                return Ok(());
            };
            if target == b".wh..opq" {
                dir.entries.clear();
            } else {
                dir.entries.remove(target);
            }
            return Ok(());
        }
        let item = match h.typeflag {
            typeflag::DIR => Item::Dir(Dir {
                stat,
                entries: BTreeMap::new(),
                opaque: false,
            }),
            typeflag::LINK => Item::Leaf(self.find_leaf(&h.linkname)?),
            _ => {
                let content = match type_bits {
                    S_IFREG => {
                        let size = u64::try_from(h.size).map_err(|_| "negative size")?;
                        if size > INLINE_MAX {
                            let contiguous = !data.entry_is_sparse();
                            Content::External {
                                size,
                                digest: store.put(data, size, contiguous)?,
                            }
                        } else {
                            let mut buf = Vec::with_capacity(size as usize);
                            data.read_to_end(&mut buf)?;
                            if buf.len() as u64 != size {
                                return Err("file data is truncated".to_string().into());
                            }
                            Content::Inline(buf)
                        }
                    }
                    S_IFLNK => Content::Symlink(h.linkname.clone()),
                    S_IFCHR | S_IFBLK => {
                        let rdev = makedev(h.devmajor as u64, h.devminor as u64);
                        Content::Device(u32::try_from(rdev).map_err(|_| {
                            format!(
                                "device number {}:{} does not fit in 32 bits (EROFS)",
                                h.devmajor, h.devminor
                            )
                        })?)
                    }
                    _ => Content::Fifo,
                };
                self.leaves.push(Leaf { stat, content });
                Item::Leaf(self.leaves.len() - 1)
            }
        };
        let implicit = Stat {
            mode: S_IFDIR | 0o755,
            uid: 0,
            gid: 0,
            mtime: stat_of(h, 0).mtime,
            xattrs: BTreeMap::new(),
        };
        let dir = self.dir_mut(&parents, Some(&implicit))?;
        match (dir.entries.get_mut(name), item) {
            (Some(Item::Dir(old)), Item::Dir(new)) => old.stat = new.stat,
            (_, item) => {
                dir.entries.insert(name.to_vec(), item);
            }
        }
        Ok(())
    }

    /// A whiteout as overlayfs reads it in a lower layer: `.wh..wh..opq`
    /// marks the directory opaque, `.wh.NAME` becomes a 0:0 character
    /// device NAME with the whiteout entry's owner, mode bits and time.
    fn keep_whiteout(
        &mut self,
        parents: &[&[u8]],
        target: &[u8],
        stat: Stat,
    ) -> Result<(), EntryError> {
        let implicit = Stat {
            mode: S_IFDIR | 0o755,
            uid: 0,
            gid: 0,
            mtime: stat.mtime,
            xattrs: BTreeMap::new(),
        };
        let dir = self.dir_mut(parents, Some(&implicit))?;
        if target == b".wh..opq" {
            dir.opaque = true;
            return Ok(());
        }
        if target.is_empty() {
            return Err("whiteout without a name".into());
        }
        let leaf = Leaf {
            stat: Stat {
                mode: S_IFCHR | (stat.mode & 0o7777),
                ..stat
            },
            content: Content::Device(0),
        };
        self.leaves.push(leaf);
        let id = self.leaves.len() - 1;
        let dir = self.dir_mut(parents, None)?;
        dir.entries.insert(target.to_vec(), Item::Leaf(id));
        Ok(())
    }

    /// cfsctl's `transform_for_oci`: `/` takes `/usr`'s metadata, `/run`
    /// is emptied (its mtime becomes `/usr`'s), xattrs are filtered.
    pub fn finish_for_oci(&mut self, filter: XattrFilter) -> Result<(), OciError> {
        let usr = match self.root.entries.get(&b"usr"[..]) {
            Some(Item::Dir(d)) => d.stat.clone(),
            Some(_) => {
                return Err(OciError::Tree(
                    "Directory entry \"usr\" is not a subdirectory".into(),
                ))
            }
            None => {
                return Err(OciError::Tree(
                    "Directory entry \"usr\" does not exist".into(),
                ))
            }
        };
        self.root.stat = Stat {
            mode: S_IFDIR | (usr.mode & 0o7777),
            ..usr.clone()
        };
        match self.root.entries.get_mut(&b"run"[..]) {
            Some(Item::Dir(run)) => {
                run.entries.clear();
                run.stat.mtime = usr.mtime;
            }
            Some(_) => {
                return Err(OciError::Tree(
                    "Directory entry \"run\" is not a subdirectory".into(),
                ))
            }
            None => {}
        }
        fn filter_dir(d: &mut Dir, f: XattrFilter) {
            d.stat.xattrs.retain(|k, _| f.keeps(k));
            for item in d.entries.values_mut() {
                if let Item::Dir(sub) = item {
                    filter_dir(sub, f);
                }
            }
        }
        filter_dir(&mut self.root, filter);
        for leaf in &mut self.leaves {
            leaf.stat.xattrs.retain(|k, _| filter.keeps(k));
        }
        Ok(())
    }

    /// The objects the tree refers to (size and digest), each once, in
    /// tree order.
    pub fn objects(&self) -> Vec<(u64, Vec<u8>)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut stack = vec![&self.root];
        while let Some(d) = stack.pop() {
            for item in d.entries.values() {
                match item {
                    Item::Dir(sub) => stack.push(sub),
                    Item::Leaf(l) => {
                        if let Content::External { size, digest } = &self.leaves[*l].content {
                            if seen.insert(digest.clone()) {
                                out.push((*size, digest.clone()));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The tree as a dumpfile tree: each leaf is an inode at its first
    /// name in a depth-first walk with sorted names; its other names are
    /// hardlinks; nlink counts the names.
    pub fn to_dump(&self) -> Dump {
        let mut nlink = vec![0u32; self.leaves.len()];
        count_names(&self.root, &mut nlink);
        let mut dump = Dump {
            nodes: vec![Node {
                name: Vec::new(),
                parent: 0,
                children: BTreeMap::new(),
                kind: Kind::Inode(base_entry(&self.root.stat)),
            }],
        };
        let mut first: Vec<Option<usize>> = vec![None; self.leaves.len()];
        self.add_children(&self.root, 0, &mut dump, &mut first, &nlink);
        dump
    }

    fn add_children(
        &self,
        dir: &Dir,
        at: usize,
        dump: &mut Dump,
        first: &mut [Option<usize>],
        nlink: &[u32],
    ) {
        for (name, item) in &dir.entries {
            let n = dump.nodes.len();
            let kind = match item {
                Item::Dir(d) => {
                    let mut e = base_entry(&d.stat);
                    if d.opaque {
                        e.xattrs.retain(|(k, _)| k != b"trusted.overlay.opaque");
                        e.xattrs
                            .push((b"trusted.overlay.opaque".to_vec(), b"y".to_vec()));
                    }
                    Kind::Inode(e)
                }
                Item::Leaf(l) => match first[*l] {
                    Some(target) => Kind::Link {
                        target_path: dump.path(target),
                        target,
                    },
                    None => {
                        first[*l] = Some(n);
                        Kind::Inode(leaf_entry(&self.leaves[*l], nlink[*l]))
                    }
                },
            };
            dump.nodes.push(Node {
                name: name.clone(),
                parent: at,
                children: BTreeMap::new(),
                kind,
            });
            dump.nodes[at].children.insert(name.clone(), n);
            if let Item::Dir(d) = item {
                self.add_children(d, n, dump, first, nlink);
            }
        }
    }
}

enum EntryError {
    Message(String),
    Io(io::Error),
}

impl From<String> for EntryError {
    fn from(m: String) -> Self {
        EntryError::Message(m)
    }
}

impl From<&str> for EntryError {
    fn from(m: &str) -> Self {
        EntryError::Message(m.into())
    }
}

impl From<io::Error> for EntryError {
    fn from(e: io::Error) -> Self {
        EntryError::Io(e)
    }
}

fn count_names(d: &Dir, nlink: &mut [u32]) {
    for item in d.entries.values() {
        match item {
            Item::Dir(sub) => count_names(sub, nlink),
            Item::Leaf(l) => nlink[*l] += 1,
        }
    }
}

fn base_entry(stat: &Stat) -> Entry {
    Entry {
        size: 0,
        mode: stat.mode,
        nlink: 1,
        uid: stat.uid,
        gid: stat.gid,
        rdev: 0,
        mtime_sec: stat.mtime.0,
        mtime_nsec: stat.mtime.1,
        payload: None,
        content: None,
        digest: None,
        xattrs: stat
            .xattrs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn leaf_entry(leaf: &Leaf, nlink: u32) -> Entry {
    let mut e = base_entry(&leaf.stat);
    e.nlink = nlink;
    match &leaf.content {
        Content::Inline(data) => {
            e.size = data.len() as u64;
            e.content = (!data.is_empty()).then(|| data.clone());
        }
        Content::External { size, digest } => {
            e.size = *size;
            let hex = hex_lower(digest);
            e.payload = Some(format!("{}/{}", &hex[..2], &hex[2..]).into_bytes());
            e.digest = Some(digest.clone());
        }
        Content::Symlink(target) => {
            e.size = target.len() as u64;
            e.payload = Some(target.clone());
        }
        Content::Device(rdev) => e.rdev = *rdev,
        Content::Fifo => {}
    }
    e
}

/// Options of [`compute_id`].
#[derive(Clone, Copy, Debug)]
pub struct IdOptions {
    /// EROFS format version (cfsctl's default is 1; 0 never auto-bumps).
    pub erofs_version: u32,
    pub xattrs: XattrFilter,
}

impl Default for IdOptions {
    fn default() -> Self {
        IdOptions {
            erofs_version: 1,
            xattrs: XattrFilter::AllowlistOnly,
        }
    }
}

/// The EROFS image of a finished tree.
pub fn tree_image(tree: &MergedTree, erofs_version: u32) -> Result<Vec<u8>, OciError> {
    let opts = ImageOptions {
        min_version: erofs_version,
        max_version: erofs_version,
        flavor: Flavor::Cfsctl,
    };
    Ok(build(&tree.to_dump(), &opts)?)
}

impl MergedTree {
    /// Finish the merge for an OCI image (`transform_for_oci`), write its
    /// image and return it with its id (fs-verity digest in `algorithm`).
    pub fn into_image(
        mut self,
        opts: IdOptions,
        algorithm: Algorithm,
    ) -> Result<(Vec<u8>, Vec<u8>), OciError> {
        self.finish_for_oci(opts.xattrs)?;
        let image = tree_image(&self, opts.erofs_version)?;
        let id = fsverity::digest(&image[..], algorithm, 1)
            .map_err(|e| OciError::Tree(format!("hashing the image: {e}")))?;
        Ok((image, id))
    }
}

/// The image and its id (fs-verity digest in the store's algorithm) for
/// uncompressed layer tars, lowest first.
pub fn compute_id<R: Read>(
    layers: impl IntoIterator<Item = R>,
    store: &mut dyn ObjectStore,
    opts: IdOptions,
) -> Result<(Vec<u8>, Vec<u8>), OciError> {
    let mut tree = MergedTree::new();
    for layer in layers {
        tree.apply_layer(layer, store)?;
    }
    tree.into_image(opts, store.algorithm())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_fractions_as_cfsctl_reads_them() {
        assert_eq!(
            pax_nanos(b"1700000000.5"),
            (Some(1_700_000_000), 500_000_000)
        );
        assert_eq!(pax_nanos(b"1.123456789123"), (Some(1), 123_456_789));
        assert_eq!(pax_nanos(b"1.000000001"), (Some(1), 1));
        assert_eq!(pax_nanos(b"1"), (Some(1), 0));
        assert_eq!(pax_nanos(b"1.12a"), (Some(1), 0));
        assert_eq!(pax_nanos(b"1.12345678a"), (Some(1), 0));
        assert_eq!(pax_nanos(b"1.123456789a"), (Some(1), 123_456_789));
    }

    #[test]
    fn paths() {
        assert_eq!(split_path(b"./").unwrap(), None);
        assert_eq!(split_path(b"x/..").unwrap(), None);
        assert!(split_path(b"a/../b").is_err());
        let (p, n) = split_path(b"/a//./b/").unwrap().unwrap();
        assert_eq!((p, n), (vec![&b"a"[..]], &b"b"[..]));
    }

    #[test]
    fn absurdly_deep_paths_are_refused() {
        let deep = "d/".repeat(MAX_DEPTH + 1);
        assert!(split_path(deep.as_bytes()).is_err());
        assert!(split_path("d/".repeat(MAX_DEPTH).as_bytes()).is_ok());
    }

    #[test]
    fn makedev_matches_glibc() {
        assert_eq!(makedev(8, 1), 0x801);
        assert_eq!(makedev(4096, 0), 1 << 44);
        assert_eq!(makedev(0, 256), 0x0010_0000);
    }
}
