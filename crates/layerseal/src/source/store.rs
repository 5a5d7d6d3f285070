//! Where an image's files live: a directory or a tar archive, read by
//! path. Blobs of an OCI layout are `blobs/<alg>/<hex>`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::error::{malformed, SourceError};

/// Largest JSON document (index, manifest, config) we read into memory.
pub const MAX_JSON: u64 = 32 << 20;

pub trait Store: Send + Sync {
    /// Open the file at `path` (relative, `/`-separated).
    fn open(&self, path: &str) -> Result<(Box<dyn Read + Send>, u64), SourceError>;
    fn exists(&self, path: &str) -> bool;
    /// Where this store is, for messages.
    fn describe(&self) -> String;

    /// A manifest or index by digest (registries serve these apart from
    /// blobs; elsewhere they are blobs).
    fn open_manifest(&self, d: &super::Digest) -> Result<(Box<dyn Read + Send>, u64), SourceError> {
        self.open(&format!("blobs/{}/{}", d.algorithm, d.hex))
    }

    /// A small file read whole (JSON documents).
    fn read_json(&self, path: &str) -> Result<serde_json::Value, SourceError> {
        let (r, size) = self.open(path)?;
        if size > MAX_JSON {
            return Err(malformed(
                format!("{}: {path}", self.describe()),
                format!("{size} bytes is too large for JSON"),
            ));
        }
        let mut buf = Vec::new();
        r.take(MAX_JSON)
            .read_to_end(&mut buf)
            .map_err(|e| SourceError::Io {
                path: PathBuf::from(path),
                source: e,
            })?;
        serde_json::from_slice(&buf)
            .map_err(|e| malformed(format!("{}: {path}", self.describe()), e))
    }
}

/// Normalise an archive or layout path: no leading `./` or `/`.
pub fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// A directory on disk (OCI layout).
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    pub fn new(root: &Path) -> Self {
        DirStore {
            root: root.to_path_buf(),
        }
    }

    fn full(&self, path: &str) -> PathBuf {
        self.root.join(normalize(path))
    }
}

impl Store for DirStore {
    fn open(&self, path: &str) -> Result<(Box<dyn Read + Send>, u64), SourceError> {
        let full = self.full(path);
        let f = File::open(&full).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => SourceError::NotFound(full.display().to_string()),
            _ => SourceError::Io {
                path: full.clone(),
                source: e,
            },
        })?;
        let size = f
            .metadata()
            .map_err(|e| SourceError::Io {
                path: full.clone(),
                source: e,
            })?
            .len();
        Ok((Box::new(f), size))
    }
    fn exists(&self, path: &str) -> bool {
        self.full(path).is_file()
    }
    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

#[derive(Debug, Clone)]
enum Entry {
    File { offset: u64, size: u64 },
    Link(String),
}

/// A tar archive on disk, indexed once; files are then read by offset, so
/// several can be read at once.
pub struct TarStore {
    path: PathBuf,
    entries: HashMap<String, Entry>,
}

impl TarStore {
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let io_err = |e: io::Error| SourceError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => SourceError::NotFound(path.display().to_string()),
            _ => io_err(e),
        })?;
        let mut archive = tar::Archive::new(file);
        let mut entries = HashMap::new();
        let iter = archive.entries_with_seek().map_err(io_err)?;
        for entry in iter {
            let entry = entry.map_err(|e| {
                malformed(
                    path.display().to_string(),
                    format!("not a readable tar archive: {e}"),
                )
            })?;
            let name = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
            let kind = entry.header().entry_type();
            let e = match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => Entry::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let resolved = if kind == tar::EntryType::Symlink && !target.starts_with('/') {
                        let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                        normalize(&format!("{dir}/{target}"))
                    } else {
                        normalize(&target)
                    };
                    Entry::Link(resolved)
                }
                _ => continue,
            };
            entries.insert(name, e);
        }
        Ok(TarStore {
            path: path.to_path_buf(),
            entries,
        })
    }

    fn resolve(&self, path: &str) -> Option<(u64, u64)> {
        let mut p = normalize(path);
        for _ in 0..16 {
            match self.entries.get(&p)? {
                Entry::File { offset, size } => return Some((*offset, *size)),
                Entry::Link(t) => p = t.clone(),
            }
        }
        None
    }
}

impl Store for TarStore {
    fn open(&self, path: &str) -> Result<(Box<dyn Read + Send>, u64), SourceError> {
        let (offset, size) = self.resolve(path).ok_or_else(|| {
            SourceError::NotFound(format!("{}: {}", self.path.display(), normalize(path)))
        })?;
        let io_err = |e| SourceError::Io {
            path: self.path.clone(),
            source: e,
        };
        let mut f = File::open(&self.path).map_err(io_err)?;
        f.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        Ok((Box::new(f.take(size)), size))
    }
    fn exists(&self, path: &str) -> bool {
        self.resolve(path).is_some()
    }
    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Where a blob lives in an OCI layout: `blobs/<algorithm>/<hex>`.
pub fn blob_path(d: &super::Digest) -> String {
    format!("blobs/{}/{}", d.algorithm, d.hex)
}
