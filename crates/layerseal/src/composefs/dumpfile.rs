//! composefs dumpfiles (composefs-dump(5)): one line per inode,
//! `PATH SIZE MODE NLINK UID GID RDEV MTIME PAYLOAD CONTENT DIGEST [XATTR…]`.
//!
//! The parser is as strict as C mkcomposefs (spec: composefs-image-layout.md
//! §2): numbers as C `strtoull` reads them, parents before children, no
//! implicit directories, hardlinks (`@MODE`) resolved after the last line,
//! the same size limits and xattr accounting. The printer writes the
//! canonical form composefs-rs prints (depth first, names and xattr keys
//! sorted, directories with size 0, hardlinks as `0 @120000 - - - - 0.0
//! TARGET - -`).

use std::collections::BTreeMap;

use super::escape::{c_string, escape, unescape};

pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFBLK: u32 = 0o060000;
const S_IFIFO: u32 = 0o010000;
const S_IFSOCK: u32 = 0o140000;

const MAX_INLINE: usize = 5000;
const MAX_PATH: usize = 4096;
const MAX_NAME: usize = 255;
const MAX_XATTR_VALUE: usize = 65535;
const MAX_XATTR_TEXT: usize = 65535;
const MAX_XATTR_BYTES: u64 = 32767;
/// Most chunks an external file may have.
pub(crate) const MAX_CHUNKS: u64 = 1024;

#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// `CFS_PARSE_STRICT`: also reject a missing final newline, RDEV on a
    /// non-device, a symlink SIZE other than the target length and
    /// symlink CONTENT.
    pub strict: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("dumpfile line {line}: {message}")]
pub struct DumpError {
    pub line: usize,
    pub message: String,
}

/// One inode's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub size: u64,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u32,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    /// Symlink target, or a regular file's backing object path.
    pub payload: Option<Vec<u8>>,
    /// Inline file data.
    pub content: Option<Vec<u8>>,
    /// fs-verity digest of an external file's data (32 bytes from a
    /// dumpfile; 64 for trees built from a sha512 repository).
    pub digest: Option<Vec<u8>>,
    /// In input order, later duplicates replacing earlier ones.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Inode(Entry),
    /// A hardlink: a directory entry for another node's inode.
    Link {
        target_path: Vec<u8>,
        /// The inode node it resolves to (chains followed).
        target: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: Vec<u8>,
    pub parent: usize,
    pub children: BTreeMap<Vec<u8>, usize>,
    pub kind: Kind,
}

/// A parsed dumpfile; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub nodes: Vec<Node>,
}

/// C `strtoull` over the whole field: leading whitespace, a sign (`-N`
/// wraps), overflow clamps; no digits or trailing garbage is an error.
fn strtoull(field: &[u8], radix: u32) -> Option<u64> {
    let mut i = 0;
    while i < field.len() && matches!(field[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let negative = match field.get(i) {
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
    let start = i;
    let mut value = 0u64;
    let mut overflow = false;
    while let Some(d) = field.get(i).and_then(|&c| (c as char).to_digit(radix)) {
        match value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start || i != field.len() {
        return None;
    }
    Some(match (overflow, negative) {
        (true, _) => u64::MAX,
        (false, true) => value.wrapping_neg(),
        (false, false) => value,
    })
}

fn valid_type(mode: u32) -> bool {
    matches!(
        mode & S_IFMT,
        S_IFSOCK | S_IFLNK | S_IFREG | S_IFBLK | S_IFDIR | S_IFCHR | S_IFIFO
    )
}

/// `-` = absent, else the unescaped field.
fn optional(field: &[u8]) -> Result<Option<Vec<u8>>, String> {
    if field == b"-" {
        Ok(None)
    } else {
        unescape(field).map(Some)
    }
}

/// Path components; leading and repeated slashes are dropped, a trailing
/// slash leaves an empty last name (an error where a name is needed).
fn components(path: &[u8]) -> Vec<&[u8]> {
    let trimmed = {
        let mut p = path;
        while let [b'/', rest @ ..] = p {
            p = rest;
        }
        p
    };
    let mut parts: Vec<&[u8]> = trimmed.split(|&b| b == b'/').collect();
    let last = parts.pop().unwrap_or_default();
    parts.retain(|c| !c.is_empty());
    parts.push(last);
    parts
}

struct Parser {
    opts: ParseOptions,
    nodes: Vec<Node>,
    /// (node, line) of each hardlink, for errors found when resolving.
    links: Vec<(usize, usize)>,
    line_no: usize,
}

impl Parser {
    fn is_dir(&self, n: usize) -> bool {
        matches!(&self.nodes[n].kind, Kind::Inode(e) if e.mode & S_IFMT == S_IFDIR)
    }

    /// The directory that will hold `path`, and the new name.
    fn place<'p>(&self, path: &'p [u8]) -> Result<(usize, &'p [u8]), String> {
        let parts = components(path);
        let (name, dirs) = parts.split_last().expect("at least one component");
        let mut at = 0;
        for d in dirs {
            at = *self.nodes[at]
                .children
                .get(*d)
                .ok_or_else(|| format!("parent {:?} does not exist", String::from_utf8_lossy(d)))?;
            if !self.is_dir(at) {
                return Err(format!(
                    "{:?} is not a directory",
                    String::from_utf8_lossy(d)
                ));
            }
        }
        if name.is_empty() {
            return Err("empty name".into());
        }
        if *name == b"." || *name == b".." {
            return Err("name may not be . or ..".into());
        }
        if name.len() > MAX_NAME {
            return Err(format!("name longer than {MAX_NAME} bytes"));
        }
        if self.nodes[at].children.contains_key(*name) {
            return Err(format!(
                "{:?} already exists",
                String::from_utf8_lossy(path)
            ));
        }
        Ok((at, name))
    }

    fn lookup(&self, path: &[u8]) -> Option<usize> {
        let mut at = 0;
        for c in components(path).into_iter().filter(|c| !c.is_empty()) {
            at = *self.nodes[at].children.get(c)?;
        }
        Some(at)
    }

    fn line(&mut self, line: &[u8]) -> Result<(), String> {
        if line.contains(&0) {
            return Err("NUL byte in line".into());
        }
        // 11 fixed fields (missing ones are empty), then the xattrs.
        let mut fields: Vec<&[u8]> = Vec::with_capacity(11);
        let mut rest: &[u8] = line;
        let mut xattr_text: Option<&[u8]> = None;
        for i in 0..11 {
            match rest.iter().position(|&b| b == b' ') {
                Some(n) => {
                    fields.push(&rest[..n]);
                    rest = &rest[n + 1..];
                    if i == 10 {
                        xattr_text = Some(rest);
                    }
                }
                None => {
                    fields.push(rest);
                    rest = &[];
                }
            }
        }
        let path = unescape(fields[0])?;
        let path = c_string(&path).to_vec();
        if self.nodes.is_empty() {
            if path != b"/" {
                return Err("the first line must be the root directory /".into());
            }
        } else if path == b"/" {
            return Err("duplicate root".into());
        }
        if let Some(mode) = fields[2].strip_prefix(b"@") {
            return self.link(&path, mode, fields[8]);
        }
        let entry = self.entry(&fields, xattr_text)?;
        let kind = Kind::Inode(entry);
        if self.nodes.is_empty() {
            let Kind::Inode(e) = &kind else {
                unreachable!()
            };
            if e.mode & S_IFMT != S_IFDIR {
                return Err("the root must be a directory".into());
            }
            self.nodes.push(Node {
                name: Vec::new(),
                parent: 0,
                children: BTreeMap::new(),
                kind,
            });
            return Ok(());
        }
        let (parent, name) = self.place(&path)?;
        self.add(parent, name.to_vec(), kind);
        Ok(())
    }

    fn add(&mut self, parent: usize, name: Vec<u8>, kind: Kind) {
        let n = self.nodes.len();
        self.nodes[parent].children.insert(name.clone(), n);
        self.nodes.push(Node {
            name,
            parent,
            children: BTreeMap::new(),
            kind,
        });
    }

    fn link(&mut self, path: &[u8], mode: &[u8], payload: &[u8]) -> Result<(), String> {
        let mode = strtoull(mode, 8).ok_or("invalid mode")? as u32;
        if !valid_type(mode) {
            return Err("no valid file type in mode".into());
        }
        if mode & S_IFMT == S_IFDIR {
            return Err("directories can't be hardlinked".into());
        }
        let target = optional(payload)?.ok_or("hardlink without a target")?;
        let target = c_string(&target).to_vec();
        if self.nodes.is_empty() {
            return Err("the root cannot be a hardlink".into());
        }
        let (parent, name) = self.place(path)?;
        self.links.push((self.nodes.len(), self.line_no));
        self.add(
            parent,
            name.to_vec(),
            Kind::Link {
                target_path: target,
                target: usize::MAX,
            },
        );
        Ok(())
    }

    fn entry(&self, f: &[&[u8]], xattr_text: Option<&[u8]>) -> Result<Entry, String> {
        let num = |i: usize, what: &str| strtoull(f[i], 10).ok_or(format!("invalid {what}"));
        let size = num(1, "size")?;
        let mode = strtoull(f[2], 8).ok_or("invalid mode")? as u32;
        if !valid_type(mode) {
            return Err("no valid file type in mode".into());
        }
        let nlink = num(3, "nlink")? as u32;
        let uid = num(4, "uid")? as u32;
        // C reports GID and RDEV errors only when UID parsed as 0.
        let lenient = |i: usize, what: &str| match strtoull(f[i], 10) {
            Some(v) => Ok(v as u32),
            None if uid != 0 => Ok(0),
            None => Err(format!("invalid {what}")),
        };
        let gid = lenient(5, "gid")?;
        let rdev = lenient(6, "rdev")?;
        let dot = f[7]
            .iter()
            .position(|&b| b == b'.')
            .ok_or("invalid mtime")?;
        let (sec, nsec) = (&f[7][..dot], &f[7][dot + 1..]);
        let mtime_sec = strtoull(sec, 10).ok_or("invalid mtime")? as i64;
        let mtime_nsec = strtoull(nsec, 10).ok_or("invalid mtime")? as u32;
        let payload = optional(f[8])?;
        let content = optional(f[9])?;
        let digest_field = optional(f[10])?;
        let kind = mode & S_IFMT;
        let is_device = matches!(kind, S_IFCHR | S_IFBLK);
        if self.opts.strict && !is_device && rdev != 0 {
            return Err("rdev on a non-device".into());
        }
        let mut e = Entry {
            size,
            mode,
            nlink,
            uid,
            gid,
            rdev: if is_device { rdev } else { 0 },
            mtime_sec,
            mtime_nsec,
            payload: None,
            content: None,
            digest: None,
            xattrs: Vec::new(),
        };
        match kind {
            S_IFLNK => {
                let target = payload.ok_or("symlink without a target")?;
                let target = c_string(&target).to_vec();
                if target.is_empty() {
                    return Err("empty symlink target".into());
                }
                if target.len() >= MAX_PATH {
                    return Err("symlink target too long".into());
                }
                if self.opts.strict && size != target.len() as u64 {
                    return Err("symlink size differs from its target's length".into());
                }
                if self.opts.strict && content.as_ref().is_some_and(|c| !c.is_empty()) {
                    return Err("symlink with content".into());
                }
                e.size = target.len() as u64;
                e.payload = Some(target);
            }
            _ => {
                if let Some(c) = &content {
                    if c.len() as u64 != size {
                        return Err(format!("content is {} bytes, size says {size}", c.len()));
                    }
                    if c.len() > MAX_INLINE {
                        return Err(format!("inline content over {MAX_INLINE} bytes"));
                    }
                }
                if let Some(p) = payload {
                    let p = c_string(&p).to_vec();
                    if p.len() >= MAX_PATH {
                        return Err("payload too long".into());
                    }
                    e.payload = (!p.is_empty()).then_some(p);
                }
                e.content = content.filter(|c| !c.is_empty());
                let external = kind == S_IFREG && size > 0 && e.content.is_none();
                if let Some(d) = digest_field {
                    let d = c_string(&d);
                    let parsed = d
                        .get(..64)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(hex_32);
                    if external && parsed.is_none() {
                        return Err("invalid fs-verity digest".into());
                    }
                    e.digest = parsed.map(|d| d.to_vec());
                }
                if external && size.div_ceil(chunk_size(size)) > MAX_CHUNKS {
                    return Err("file too large".into());
                }
            }
        }
        if let Some(text) = xattr_text.filter(|t| !t.is_empty()) {
            if text.len() > MAX_XATTR_TEXT {
                return Err("too many xattrs".into());
            }
            let mut accounted = 0u64;
            for x in text.split(|&b| b == b' ') {
                let eq = x
                    .iter()
                    .position(|&b| b == b'=')
                    .ok_or("missing = in xattr")?;
                let key = unescape(&x[..eq])?;
                let key = c_string(&key).to_vec();
                let value = unescape(&x[eq + 1..])?;
                if key.is_empty() || key.len() > MAX_NAME {
                    return Err("xattr key empty or longer than 255 bytes".into());
                }
                if value.len() > MAX_XATTR_VALUE {
                    return Err("xattr value too long".into());
                }
                if !set_xattr_accounted(&mut e.xattrs, &mut accounted, &key, &value) {
                    return Err("xattrs too large".into());
                }
            }
        }
        Ok(e)
    }

    /// Point every hardlink at its inode node, following chains.
    fn resolve_links(&mut self) -> Result<(), DumpError> {
        for (n, line) in self.links.clone() {
            self.resolve_link(n)
                .map_err(|message| DumpError { line, message })?;
        }
        Ok(())
    }

    fn resolve_link(&mut self, n: usize) -> Result<(), String> {
        {
            let Kind::Link { target_path, .. } = &self.nodes[n].kind else {
                return Ok(());
            };
            let mut at = n;
            let mut path = target_path.clone();
            for _ in 0..=self.nodes.len() {
                let t = self.lookup(&path).ok_or_else(|| {
                    format!(
                        "hardlink target {:?} does not exist",
                        String::from_utf8_lossy(&path)
                    )
                })?;
                if t == at || t == n {
                    return Err("hardlink to itself or a cycle of hardlinks".into());
                }
                match &self.nodes[t].kind {
                    Kind::Link { target_path, .. } => {
                        at = t;
                        path = target_path.clone();
                    }
                    Kind::Inode(e) => {
                        if e.mode & S_IFMT == S_IFDIR {
                            return Err("hardlink to a directory".into());
                        }
                        if let Kind::Link { target, .. } = &mut self.nodes[n].kind {
                            *target = t;
                        }
                        break;
                    }
                }
            }
            if matches!(
                self.nodes[n].kind,
                Kind::Link {
                    target: usize::MAX,
                    ..
                }
            ) {
                return Err("cycle of hardlinks".into());
            }
        }
        Ok(())
    }
}

/// Set an xattr as C composefs does, keeping its running size total
/// (composefs-image-layout.md §2.7, §4.5): a replaced key is removed
/// first; the add is refused (false) when the total would pass 32767.
/// The counter is unsigned and wraps, as C's does.
pub(crate) fn set_xattr_accounted(
    xattrs: &mut Vec<(Vec<u8>, Vec<u8>)>,
    accounted: &mut u64,
    key: &[u8],
    value: &[u8],
) -> bool {
    if let Some(i) = xattrs.iter().position(|(k, _)| k == key) {
        let (k, old) = xattrs.remove(i);
        *accounted = if xattrs.is_empty() {
            0
        } else {
            accounted.wrapping_sub(7 + (k.len() + old.len()) as u64)
        };
    }
    let cost = 7 + (key.len() + value.len()) as u64 + if xattrs.is_empty() { 12 } else { 0 };
    let total = accounted.wrapping_add(cost);
    if total > MAX_XATTR_BYTES {
        return false;
    }
    *accounted = total;
    xattrs.push((key.to_vec(), value.to_vec()));
    true
}

fn hex_32(h: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    h.bytes().all(|b| b.is_ascii_hexdigit()).then_some(out)
}

/// Chunk size of an external file: the smallest power of two ≥ size, at
/// least 4 KiB, at most 2^43.
pub fn chunk_size(size: u64) -> u64 {
    let bits = if size <= 1 {
        1
    } else {
        64 - (size - 1).leading_zeros()
    };
    1u64 << bits.clamp(12, 43)
}

/// Parse a dumpfile.
pub fn parse(input: &[u8], opts: ParseOptions) -> Result<Dump, DumpError> {
    let mut p = Parser {
        opts,
        nodes: Vec::new(),
        links: Vec::new(),
        line_no: 0,
    };
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let last = lines.pop().unwrap_or_default();
    let unterminated = !last.is_empty();
    if unterminated {
        if opts.strict {
            return Err(DumpError {
                line: lines.len() + 1,
                message: "missing trailing newline".into(),
            });
        }
        lines.push(last);
    }
    for (i, line) in lines.iter().enumerate() {
        p.line_no = i + 1;
        p.line(line).map_err(|message| DumpError {
            line: i + 1,
            message,
        })?;
    }
    if p.nodes.is_empty() {
        return Err(DumpError {
            line: 1,
            message: "no root directory".into(),
        });
    }
    p.resolve_links()?;
    Ok(Dump { nodes: p.nodes })
}

impl Dump {
    /// Absolute path of a node.
    pub fn path(&self, mut n: usize) -> Vec<u8> {
        let mut parts = Vec::new();
        while n != 0 {
            parts.push(self.nodes[n].name.as_slice());
            n = self.nodes[n].parent;
        }
        let mut p = Vec::new();
        for part in parts.iter().rev() {
            p.push(b'/');
            p.extend_from_slice(part);
        }
        if p.is_empty() {
            p.push(b'/');
        }
        p
    }

    /// The canonical text (composefs-rs's form).
    pub fn print(&self) -> String {
        let mut out = String::new();
        let mut stack = vec![0usize];
        while let Some(n) = stack.pop() {
            self.print_node(n, &mut out);
            stack.extend(self.nodes[n].children.values().rev());
        }
        out
    }

    fn print_node(&self, n: usize, out: &mut String) {
        use std::fmt::Write;
        let path = escape(&self.path(n), false);
        let opt = |v: &Option<Vec<u8>>| v.as_ref().map_or("-".to_string(), |b| escape(b, false));
        match &self.nodes[n].kind {
            Kind::Link { target, .. } => {
                let t = escape(&self.path(*target), false);
                let _ = writeln!(out, "{path} 0 @120000 - - - - 0.0 {t} - -");
            }
            Kind::Inode(e) => {
                // A directory's size, content, payload and digest never
                // reach the image: print the canonical "0 ... - - -".
                let dir = e.mode & S_IFMT == S_IFDIR;
                let size = if dir { 0 } else { e.size };
                let unused = |v: &Option<Vec<u8>>| if dir { None } else { v.clone() };
                let digest = e
                    .digest
                    .as_ref()
                    .filter(|_| !dir)
                    .map_or("-".to_string(), |d| {
                        d.iter().map(|b| format!("{b:02x}")).collect()
                    });
                let _ = write!(
                    out,
                    "{path} {size} {:o} {} {} {} {} {}.{} {} {} {digest}",
                    e.mode,
                    e.nlink,
                    e.uid,
                    e.gid,
                    e.rdev,
                    e.mtime_sec,
                    e.mtime_nsec,
                    opt(&unused(&e.payload)),
                    opt(&unused(&e.content)),
                );
                let mut x = e.xattrs.clone();
                x.sort();
                for (k, v) in x {
                    let _ = write!(out, " {}={}", escape(&k, true), escape(&v, true));
                }
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoull_like_c() {
        assert_eq!(strtoull(b"42", 10), Some(42));
        assert_eq!(strtoull(b"\t+7", 10), Some(7));
        assert_eq!(strtoull(b"-1", 10), Some(u64::MAX));
        assert_eq!(strtoull(b"99999999999999999999999", 10), Some(u64::MAX));
        assert_eq!(strtoull(b"100644", 8), Some(0o100644));
        for bad in [&b""[..], b"-", b"12x", b"8", b" "] {
            assert_eq!(strtoull(bad, 8), None, "{bad:?}");
        }
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(1), 4096);
        assert_eq!(chunk_size(4097), 8192);
        assert_eq!(chunk_size(1 << 50), 1 << 43);
    }

    #[test]
    fn parents_first_and_links_resolve_later() {
        let d = b"/ 0 40755 2 0 0 0 0.0 - - -\n/l 0 @100644 - - - - 0.0 /f - -\n/f 3 100644 2 0 0 0 5.1 - abc - user.b=2 user.a=1\n";
        let dump = parse(d, ParseOptions { strict: true }).unwrap();
        assert_eq!(
            dump.print(),
            "/ 0 40755 2 0 0 0 0.0 - - -\n/f 3 100644 2 0 0 0 5.1 - abc - user.a=1 user.b=2\n/l 0 @120000 - - - - 0.0 /f - -\n"
        );
        let orphan = b"/ 0 40755 2 0 0 0 0.0 - - -\n/a/b 0 100644 1 0 0 0 0.0 - - -\n";
        let e = parse(orphan, ParseOptions::default()).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn directory_content_is_not_printed() {
        // Found by the fuzzer: a directory with unused content printed
        // with size 0 must still parse back.
        let d = parse(b"/ 6 40555 2 0 0 0 0.0 -U- -size5", ParseOptions::default()).unwrap();
        assert_eq!(d.print(), "/ 0 40555 2 0 0 0 0.0 - - -\n");
        parse(d.print().as_bytes(), ParseOptions { strict: true }).unwrap();
    }

    #[test]
    fn strict_mode_adds_its_four_checks() {
        let cases: [&[u8]; 4] = [
            b"/ 0 40755 2 0 0 0 0.0 - - -",
            b"/ 0 40755 2 0 0 5 0.0 - - -\n",
            b"/ 0 40755 2 0 0 0 0.0 - - -\n/s 3 120777 1 0 0 0 0.0 /target - -\n",
            b"/ 0 40755 2 0 0 0 0.0 - - -\n/s 7 120777 1 0 0 0 0.0 /target x -\n",
        ];
        for c in cases {
            assert!(parse(c, ParseOptions::default()).is_ok());
            assert!(parse(c, ParseOptions { strict: true }).is_err());
        }
    }
}
