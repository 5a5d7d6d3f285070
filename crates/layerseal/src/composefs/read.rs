//! A composefs image back to the tree it was made from (`dump`): the
//! overlay rewrite undone — metacopy/redirect become the digest and
//! backing path, escaped `trusted.overlay.overlay.*` keys lose one
//! `overlay.`, escaped whiteouts become 0:0 character devices again
//! with their markers (and their parents') removed, the root marker and
//! the 256 stub devices are dropped. Hardlinks (one inode reached by
//! several names) become link entries at every name after the first in
//! sorted depth-first order.

use std::collections::{BTreeMap, HashMap};

use super::dumpfile::{
    Dump, Entry, Kind, Node, S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
};
use crate::erofs::reader::{Image, InodeInfo, ReadError};

const ESCAPED: &[u8] = b"trusted.overlay.overlay.";
const OVERLAY: &[u8] = b"trusted.overlay.";
/// Markers the writer adds (to whiteouts and their parents).
const MARKERS: &[&[u8]] = &[
    b"trusted.overlay.overlay.whiteout",
    b"user.overlay.whiteout",
    b"trusted.overlay.overlay.whiteouts",
    b"user.overlay.whiteouts",
];
const OPAQUE_X: &[&[u8]] = &[b"trusted.overlay.overlay.opaque", b"user.overlay.opaque"];
const MAX_ENTRIES: usize = 10_000_000;

fn corrupt(m: impl Into<String>) -> ReadError {
    ReadError::Corrupt(m.into())
}

fn is_whiteout(ino: &InodeInfo) -> bool {
    u32::from(ino.mode) & S_IFMT == S_IFREG
        && ino
            .xattrs
            .iter()
            .any(|(k, _)| k == b"trusted.overlay.overlay.whiteout")
}

fn is_stub(name: &[u8], ino: &InodeInfo) -> bool {
    name.len() == 2
        && name
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        && u32::from(ino.mode) == S_IFCHR | 0o644
        && ino.i_u == 0
        && ino.xattrs.iter().all(|(k, _)| k == b"security.selinux")
}

fn entry(img: &Image, ino: &InodeInfo, had_whiteout_child: bool) -> Result<Entry, ReadError> {
    let mut mode = u32::from(ino.mode);
    let whiteout = is_whiteout(ino);
    if whiteout {
        mode = S_IFCHR | (mode & !S_IFMT);
    }
    let mut e = Entry {
        size: ino.size,
        mode,
        nlink: ino.nlink,
        uid: ino.uid,
        gid: ino.gid,
        rdev: 0,
        mtime_sec: ino.mtime,
        mtime_nsec: ino.nsec,
        payload: None,
        content: None,
        digest: None,
        xattrs: Vec::new(),
    };
    for (k, v) in &ino.xattrs {
        if k == b"trusted.overlay.metacopy" {
            if v.len() >= 4 {
                e.digest = Some(v[4..].to_vec());
            }
            continue;
        }
        if k == b"trusted.overlay.redirect" {
            e.payload = Some(v.strip_prefix(b"/").unwrap_or(v).to_vec());
            continue;
        }
        if (whiteout || had_whiteout_child) && MARKERS.contains(&k.as_slice()) {
            continue;
        }
        if had_whiteout_child && OPAQUE_X.contains(&k.as_slice()) && v == b"x" {
            continue;
        }
        if ino.nid == img.sb.root_nid && k == b"trusted.overlay.opaque" {
            continue;
        }
        let key = match k.strip_prefix(ESCAPED) {
            Some(rest) => [OVERLAY, rest].concat(),
            None => k.clone(),
        };
        e.xattrs.push((key, v.clone()));
    }
    match mode & S_IFMT {
        S_IFCHR | S_IFBLK if !whiteout => e.rdev = ino.i_u,
        S_IFLNK => e.payload = Some(img.data(ino)?),
        S_IFREG if whiteout => e.size = 0,
        S_IFREG if ino.layout != 4 && ino.size > 0 => e.content = Some(img.data(ino)?),
        S_IFDIR => e.size = 0,
        _ => {}
    }
    Ok(e)
}

/// Read a composefs image into a dumpfile tree.
pub fn image_to_dump(bytes: &[u8]) -> Result<Dump, ReadError> {
    let img = Image::open(bytes)?;
    let root = img.inode(img.sb.root_nid)?;
    if u32::from(root.mode) & S_IFMT != S_IFDIR {
        return Err(corrupt("root is not a directory"));
    }
    let mut dump = Dump { nodes: Vec::new() };
    let mut first: HashMap<u64, usize> = HashMap::new();
    // (dump node, its directory inode), depth first in name order.
    let mut stack: Vec<(usize, InodeInfo)> = Vec::new();
    let root_has_wh = dir_has_whiteout(&img, &root)?;
    dump.nodes.push(Node {
        name: Vec::new(),
        parent: 0,
        children: BTreeMap::new(),
        kind: Kind::Inode(entry(&img, &root, root_has_wh)?),
    });
    first.insert(root.nid, 0);
    stack.push((0, root));
    while let Some((at, dir)) = stack.pop() {
        let mut subdirs = Vec::new();
        for (name, nid, _) in img.dir(&dir)? {
            if name == b"." || name == b".." {
                continue;
            }
            if name.is_empty() || name.contains(&b'/') {
                return Err(corrupt(format!("bad name in directory inode {}", dir.nid)));
            }
            let ino = img.inode(nid)?;
            if at == 0 && is_stub(&name, &ino) {
                continue;
            }
            let n = dump.nodes.len();
            if n > MAX_ENTRIES {
                return Err(corrupt("more than 10 million entries"));
            }
            let kind = match first.get(&nid) {
                Some(&target) => {
                    if u32::from(ino.mode) & S_IFMT == S_IFDIR {
                        return Err(corrupt(format!("directory inode {nid} has two names")));
                    }
                    Kind::Link {
                        target_path: dump.path(target),
                        target,
                    }
                }
                None => {
                    first.insert(nid, n);
                    let has_wh =
                        u32::from(ino.mode) & S_IFMT == S_IFDIR && dir_has_whiteout(&img, &ino)?;
                    Kind::Inode(entry(&img, &ino, has_wh)?)
                }
            };
            let is_new_dir = matches!(&kind, Kind::Inode(e) if e.mode & S_IFMT == S_IFDIR);
            dump.nodes.push(Node {
                name: name.clone(),
                parent: at,
                children: BTreeMap::new(),
                kind,
            });
            dump.nodes[at].children.insert(name, n);
            if is_new_dir {
                subdirs.push((n, ino));
            }
        }
        // Names sort after their parents: visit children in order.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(dump)
}

fn dir_has_whiteout(img: &Image, dir: &InodeInfo) -> Result<bool, ReadError> {
    if !dir
        .xattrs
        .iter()
        .any(|(k, _)| k == b"trusted.overlay.overlay.whiteouts")
    {
        return Ok(false);
    }
    for (name, nid, _) in img.dir(dir)? {
        if name != b"." && name != b".." && is_whiteout(&img.inode(nid)?) {
            return Ok(true);
        }
    }
    Ok(false)
}
