//! Repository upkeep: `fsck` (every object matches its name; streams,
//! images and refs resolve to what they name) and `gc` (objects that no
//! ref reaches are deleted; dangling links pruned).
//!
//! Reachability, as composefs-rs defines it: the roots are the links
//! under `streams/refs/` and `images/refs/`; a splitstream reaches its
//! object refs and stream refs; an image reaches the objects its files'
//! metacopy digests name.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::dumpfile::Kind;
use super::read::image_to_dump;
use super::repo::{RepoError, Repository};
use super::splitstream::SplitStream;
use crate::verity::{fsverity, hex_lower};

#[derive(Debug, Default, Clone)]
pub struct FsckReport {
    pub objects: usize,
    pub problems: Vec<String>,
}

#[derive(Debug, Default, Clone)]
pub struct GcReport {
    pub kept: usize,
    /// Object paths (relative to the repository) removed (or, dry run,
    /// that would be).
    pub removed: Vec<String>,
}

fn io_err(path: &Path, e: std::io::Error) -> RepoError {
    RepoError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// An object file and the digest its name says (None: not a valid name).
type ObjectFile = (PathBuf, Option<Vec<u8>>);

/// Every object file.
fn objects(repo: &Repository) -> Result<Vec<ObjectFile>, RepoError> {
    let root = repo.root().join("objects");
    let mut out = Vec::new();
    let Ok(dirs) = fs::read_dir(&root) else {
        return Ok(out);
    };
    for d in dirs {
        let d = d.map_err(|e| io_err(&root, e))?;
        let prefix = d.file_name().to_string_lossy().into_owned();
        if !d.file_type().map_err(|e| io_err(&d.path(), e))?.is_dir() {
            continue; // temporary files of an interrupted write
        }
        for f in fs::read_dir(d.path()).map_err(|e| io_err(&d.path(), e))? {
            let f = f.map_err(|e| io_err(&d.path(), e))?;
            let name = format!("{prefix}{}", f.file_name().to_string_lossy());
            let digest = (name.len() == 2 * repo.algorithm().digest_len())
                .then(|| decode_hex(&name))
                .flatten();
            out.push((f.path(), digest));
        }
    }
    out.sort();
    Ok(out)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Every link under `dir` (recursively), as paths.
fn links(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_symlink() => out.push(p),
                Ok(t) if t.is_dir() => stack.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// The objects an image's files point at.
fn image_objects(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let dump = image_to_dump(bytes).ok()?;
    Some(
        dump.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::Inode(e) => e.digest.clone(),
                Kind::Link { .. } => None,
            })
            .collect(),
    )
}

/// What an object refers to, if it is a splitstream or an image.
fn references(bytes: &[u8]) -> Vec<Vec<u8>> {
    if let Ok(s) = SplitStream::parse(bytes) {
        return s.object_refs.into_iter().chain(s.stream_refs).collect();
    }
    image_objects(bytes).unwrap_or_default()
}

/// [`references`] of an object file; file contents (neither a
/// splitstream nor a composefs image, by their magic) are not read.
fn references_of(path: &Path) -> Vec<Vec<u8>> {
    use std::io::Read;
    let mut head = [0u8; 11];
    let Ok(mut f) = fs::File::open(path) else {
        return Vec::new();
    };
    if f.read_exact(&mut head).is_err() {
        return Vec::new();
    }
    let splitstream = &head == b"SplitStream";
    let composefs = head[..4] == super::image::COMPOSEFS_MAGIC.to_le_bytes();
    if !splitstream && !composefs {
        return Vec::new();
    }
    fs::read(path).map(|b| references(&b)).unwrap_or_default()
}

fn rel(repo: &Repository, p: &Path) -> String {
    p.strip_prefix(repo.root())
        .unwrap_or(p)
        .display()
        .to_string()
}

pub fn fsck(repo: &Repository) -> Result<FsckReport, RepoError> {
    let mut report = FsckReport::default();
    for (path, alive) in repo.temporaries() {
        if !alive {
            report.problems.push(format!(
                "{}: temporary file of an interrupted write (gc or the next pull removes it)",
                rel(repo, &path)
            ));
        }
    }
    let mut present = HashSet::new();
    for (path, named) in objects(repo)? {
        report.objects += 1;
        let Some(named) = named else {
            report
                .problems
                .push(format!("{}: not an object name", rel(repo, &path)));
            continue;
        };
        let got =
            fsverity::digest_file(&path, repo.algorithm(), 0).map_err(|e| io_err(&path, e))?;
        if got != named {
            report.problems.push(format!(
                "{}: content digest is {}",
                rel(repo, &path),
                hex_lower(&got)
            ));
        }
        present.insert(named);
    }
    for dir in ["streams", "images"] {
        for link in links(&repo.root().join(dir)) {
            let Ok(bytes) = fs::read(&link) else {
                report
                    .problems
                    .push(format!("{}: dangling link", rel(repo, &link)));
                continue;
            };
            if dir == "streams" && SplitStream::parse(&bytes).is_err() {
                report
                    .problems
                    .push(format!("{}: not a splitstream", rel(repo, &link)));
                continue;
            }
            if dir == "images" && image_objects(&bytes).is_none() {
                report
                    .problems
                    .push(format!("{}: not a composefs image", rel(repo, &link)));
                continue;
            }
            for r in references(&bytes) {
                if !present.contains(&r) {
                    report.problems.push(format!(
                        "{}: refers to missing object {}",
                        rel(repo, &link),
                        hex_lower(&r)
                    ));
                }
            }
        }
    }
    Ok(report)
}

pub fn gc(repo: &Repository, dry_run: bool) -> Result<GcReport, RepoError> {
    // No writer may run while objects are judged unreferenced.
    let _exclusive = repo.exclusive()?;
    if !dry_run {
        repo.remove_stale_temporaries();
    }
    let mut marked: HashSet<Vec<u8>> = HashSet::new();
    let mut queue: Vec<Vec<u8>> = Vec::new();
    for dir in ["streams/refs", "images/refs"] {
        for link in links(&repo.root().join(dir)) {
            let Ok(target) = fs::canonicalize(&link) else {
                continue;
            };
            let name: String = target
                .iter()
                .rev()
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            if let Some(d) = decode_hex(&name) {
                queue.push(d);
            }
        }
    }
    while let Some(d) = queue.pop() {
        if !marked.insert(d.clone()) {
            continue;
        }
        queue.extend(references_of(&repo.object_path(&d)));
    }
    let mut report = GcReport::default();
    for (path, named) in objects(repo)? {
        if named.as_ref().is_some_and(|n| marked.contains(n)) {
            report.kept += 1;
            continue;
        }
        report.removed.push(rel(repo, &path));
        if !dry_run {
            fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
        }
    }
    if !dry_run {
        for dir in ["streams", "images"] {
            for link in links(&repo.root().join(dir)) {
                if fs::metadata(&link).is_err() {
                    fs::remove_file(&link).map_err(|e| io_err(&link, e))?;
                }
            }
        }
    }
    Ok(report)
}
