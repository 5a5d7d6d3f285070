//! A composefs repository in composefs-rs's layout (spec: composefs.md
//! §5.1):
//!
//! ```text
//! meta.json                          version, fs-verity algorithm
//! objects/XX/<rest of hex>           content named by fs-verity digest
//! images/<hex> -> ../objects/XX/…    EROFS images made here
//! images/refs/<name> -> ../../<hex>
//! streams/<content id> -> ../objects/XX/…    splitstreams
//! streams/refs/oci/<tag> -> ../../oci-manifest-sha256:<hex>
//! ```
//!
//! Every file is written under a temporary name in its final directory
//! and renamed into place when complete. This host's kernel cannot enable
//! fs-verity, so objects are stored without it (cfsctl calls such a
//! repository "insecure"); names are always the userspace-computed digest.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::oci::ObjectStore;
use super::splitstream::{SplitStream, Writer};
use crate::tee::Tee;
use crate::verity::{fsverity, hex_lower, Algorithm};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "{path}: the repository is locked by another process ({what}); not waiting (--no-wait)"
    )]
    Locked { path: PathBuf, what: &'static str },
}

/// Waiting for the repository lock: block (saying so on stderr), or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockWait {
    #[default]
    Wait,
    NoWait,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RepoError + '_ {
    move |source| RepoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The `algorithm` string of meta.json.
pub fn algorithm_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Sha256 => "fsverity-sha256-12",
        Algorithm::Sha512 => "fsverity-sha512-12",
    }
}

fn parse_algorithm(s: &str) -> Option<Algorithm> {
    match s {
        "fsverity-sha256-12" => Some(Algorithm::Sha256),
        "fsverity-sha512-12" => Some(Algorithm::Sha512),
        _ => None,
    }
}

/// An open repository. It holds composefs-rs's lock for as long as it is
/// open: `flock` on the repository directory itself, shared; `gc` takes it
/// exclusive while it runs ([`Repository::exclusive`]), so no collection
/// can remove an object a concurrent writer (layerseal or cfsctl) has
/// stored or is about to name.
pub struct Repository {
    root: PathBuf,
    algorithm: Algorithm,
    /// Hashing threads for large objects (0 = all cores).
    pub threads: usize,
    lock: fs::File,
    wait: LockWait,
    /// `objects/XX` directories known to exist (made once per process).
    fanout: [std::sync::atomic::AtomicBool; 256],
}

/// Objects up to this size are read into memory, hashed on the calling
/// thread and written only when absent.
const SMALL_OBJECT: u64 = 1 << 20;

static TEMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The exclusive repository lock; dropping it goes back to shared.
pub struct ExclusiveLock<'a> {
    repo: &'a Repository,
}

impl Drop for ExclusiveLock<'_> {
    fn drop(&mut self) {
        // flock converts the lock in place: back to shared, as composefs-rs.
        let _ = self.repo.lock.lock_shared();
    }
}

/// Take `file`'s flock (shared or exclusive), waiting with a notice or
/// failing fast.
fn take_lock(
    file: &fs::File,
    root: &Path,
    exclusive: bool,
    wait: LockWait,
) -> Result<(), RepoError> {
    let what = if exclusive { "exclusive" } else { "shared" };
    let tried = if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match tried {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::Error(e)) => Err(io_at(root)(e)),
        Err(fs::TryLockError::WouldBlock) => {
            if wait == LockWait::NoWait {
                return Err(RepoError::Locked {
                    path: root.to_path_buf(),
                    what: if exclusive {
                        "it is in use"
                    } else {
                        "a gc is running"
                    },
                });
            }
            eprintln!(
                "layerseal: waiting for the {what} lock on repository {}…",
                root.display()
            );
            let r = if exclusive {
                file.lock()
            } else {
                file.lock_shared()
            };
            r.map_err(io_at(root))
        }
    }
}

/// `oci` tag → file name under `streams/refs/oci/`.
fn escape_tag(tag: &str) -> String {
    tag.replace('%', "%25").replace('/', "%2F")
}

impl Repository {
    /// Create a repository (or open an existing one with the same
    /// algorithm).
    pub fn init(root: &Path, algorithm: Algorithm) -> Result<Self, RepoError> {
        Self::init_with(root, algorithm, LockWait::Wait)
    }

    /// [`Repository::init`] with a lock-waiting policy.
    pub fn init_with(root: &Path, algorithm: Algorithm, wait: LockWait) -> Result<Self, RepoError> {
        if root.join("meta.json").exists() {
            let repo = Self::open_with(root, wait)?;
            if repo.algorithm != algorithm {
                return Err(RepoError::Invalid {
                    path: root.join("meta.json"),
                    message: format!(
                        "already a repository with algorithm {}",
                        algorithm_name(repo.algorithm)
                    ),
                });
            }
            return Ok(repo);
        }
        for d in ["objects", "images/refs", "streams/refs/oci"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_at(&p))?;
        }
        let meta = serde_json::json!({
            "version": 1,
            "algorithm": algorithm_name(algorithm),
            "features": {
                "compatible": [],
                "read-only-compatible": ["v1_erofs"],
                "incompatible": []
            },
            "erofs_formats": {"default": 1}
        });
        let text = serde_json::to_vec_pretty(&meta).expect("json");
        let repo = Self::locked(root, algorithm, wait)?;
        let meta_path = root.join("meta.json");
        crate::atomic::write_file(&meta_path, &text).map_err(io_at(&meta_path))?;
        Ok(repo)
    }

    /// The repository at `root`, its shared lock taken (the directory
    /// itself, read-only, as composefs-rs locks it).
    fn locked(root: &Path, algorithm: Algorithm, wait: LockWait) -> Result<Self, RepoError> {
        let lock = fs::File::open(root).map_err(io_at(root))?;
        take_lock(&lock, root, false, wait)?;
        Ok(Repository {
            root: root.to_path_buf(),
            algorithm,
            threads: 0,
            lock,
            wait,
            fanout: std::array::from_fn(|_| std::sync::atomic::AtomicBool::new(false)),
        })
    }

    /// Open a repository, waiting for its shared lock if a gc holds it.
    pub fn open(root: &Path) -> Result<Self, RepoError> {
        Self::open_with(root, LockWait::Wait)
    }

    /// [`Repository::open`] with a lock-waiting policy.
    pub fn open_with(root: &Path, wait: LockWait) -> Result<Self, RepoError> {
        let path = root.join("meta.json");
        let text = fs::read(&path).map_err(io_at(&path))?;
        let invalid = |message: String| RepoError::Invalid {
            path: path.clone(),
            message,
        };
        let meta: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))?;
        if meta["version"].as_u64() != Some(1) {
            return Err(invalid(format!("unsupported version {}", meta["version"])));
        }
        if let Some(f) = meta["features"]["incompatible"].as_array() {
            if !f.is_empty() {
                return Err(invalid(format!("unsupported incompatible features {f:?}")));
            }
        }
        let algorithm = meta["algorithm"]
            .as_str()
            .and_then(parse_algorithm)
            .ok_or_else(|| invalid(format!("unknown algorithm {}", meta["algorithm"])))?;
        Self::locked(root, algorithm, wait)
    }

    /// Temporary files of writers that died (`.tmp-PID-…` in `objects/`,
    /// `.tmp-link-PID` beside links): (path, writer alive).
    pub fn temporaries(&self) -> Vec<(PathBuf, bool)> {
        let mut out = Vec::new();
        let mut dirs = vec![self.root.join("objects")];
        for d in ["streams", "images"] {
            dirs.push(self.root.join(d));
            dirs.push(self.root.join(d).join("refs"));
        }
        dirs.push(self.root.join("streams/refs/oci"));
        for dir in dirs {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if !n.starts_with(".tmp-") {
                    continue;
                }
                let pid = crate::atomic::temporary_pid(&n, ".tmp-link-")
                    .or_else(|| crate::atomic::temporary_pid(&n, ".tmp-"));
                out.push((e.path(), pid.is_some_and(crate::atomic::pid_alive)));
            }
        }
        out.sort();
        out
    }

    /// Remove the temporaries of writers that died; returns how many.
    pub fn remove_stale_temporaries(&self) -> usize {
        let mut n = 0;
        for (p, alive) in self.temporaries() {
            if !alive && fs::remove_file(&p).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// Hold the lock exclusively (for `gc`): waits until no other process
    /// has the repository open. Back to shared when the guard drops.
    pub fn exclusive(&self) -> Result<ExclusiveLock<'_>, RepoError> {
        take_lock(&self.lock, &self.root, true, self.wait)?;
        Ok(ExclusiveLock { repo: self })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// `objects/XX/<rest>` relative to the repository.
    pub fn object_rel(digest: &[u8]) -> String {
        let hex = hex_lower(digest);
        format!("objects/{}/{}", &hex[..2], &hex[2..])
    }

    pub fn object_path(&self, digest: &[u8]) -> PathBuf {
        self.root.join(Self::object_rel(digest))
    }

    pub fn open_object(&self, digest: &[u8]) -> Result<fs::File, RepoError> {
        let p = self.object_path(digest);
        fs::File::open(&p).map_err(io_at(&p))
    }

    /// Make `objects/XX` for `digest` unless this process already did.
    fn ensure_fanout(&self, digest: &[u8]) -> Result<(), RepoError> {
        use std::sync::atomic::Ordering;
        let slot = &self.fanout[usize::from(digest[0])];
        if slot.load(Ordering::Relaxed) {
            return Ok(());
        }
        let dir = self.object_path(digest);
        let dir = dir.parent().expect("objects/XX");
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_at(dir)(e)),
        }
        slot.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// A small object from memory: written only when absent, as
    /// `objects/.tmp-PID-N` (mode 0644 at creation) renamed into place.
    /// Durability comes from one [`Repository::sync`] before anything
    /// names it, not an fsync per object.
    fn put_small(&self, data: &[u8]) -> Result<Vec<u8>, RepoError> {
        let digest = crate::verity::fsverity::digest_bytes(data, self.algorithm)
            .map_err(io_at(&self.root))?;
        let dest = self.object_path(&digest);
        if dest.exists() {
            return Ok(digest);
        }
        self.ensure_fanout(&digest)?;
        static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        let tmp = self.root.join("objects").join(format!(
            ".tmp-{}-s{}",
            PID.get_or_init(std::process::id),
            TEMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let written = (|| {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&tmp)?;
            f.write_all(data)?;
            drop(f);
            fs::rename(&tmp, &dest)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_at(&dest)(e));
        }
        Ok(digest)
    }

    /// Store `size` bytes of `data` as an object; returns its digest.
    pub fn put_reader(&self, data: &mut dyn Read, size: u64) -> Result<Vec<u8>, RepoError> {
        if size <= SMALL_OBJECT {
            let mut buf = Vec::with_capacity(size as usize);
            data.take(size)
                .read_to_end(&mut buf)
                .map_err(io_at(&self.root))?;
            if buf.len() as u64 != size {
                return Err(io_at(&self.root)(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("file data ends after {} of {size} bytes", buf.len()),
                )));
            }
            return self.put_small(&buf);
        }
        let dir = self.root.join("objects");
        let prefix = format!(".tmp-{}-", std::process::id());
        let mut tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .tempfile_in(&dir)
            .map_err(io_at(&dir))?;
        let digest = {
            let mut tee = Tee {
                inner: data,
                copy: tmp.as_file_mut(),
            };
            super::oci::digest_exact(&mut tee, size, self.algorithm, self.threads)
                .map_err(io_at(tmp.path()))?
        };
        self.persist_object(tmp, &digest)?;
        Ok(digest)
    }

    pub fn put_bytes(&self, data: &[u8]) -> Result<Vec<u8>, RepoError> {
        if data.len() as u64 <= SMALL_OBJECT {
            return self.put_small(data);
        }
        self.put_reader(&mut &data[..], data.len() as u64)
    }

    fn persist_object(&self, tmp: tempfile::NamedTempFile, digest: &[u8]) -> Result<(), RepoError> {
        let dest = self.object_path(digest);
        if dest.exists() {
            return Ok(()); // same content: the temporary file goes away
        }
        self.ensure_fanout(digest)?;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io_at(tmp.path()))?;
        tmp.persist(&dest).map_err(|e| RepoError::Io {
            path: dest.clone(),
            source: e.error,
        })?;
        Ok(())
    }

    /// Point `link` (relative to the repository) at `target` (relative
    /// to the link's directory), replacing what was there.
    fn symlink(&self, link: &str, target: &str) -> Result<(), RepoError> {
        let path = self.root.join(link);
        let dir = path.parent().expect("in a directory");
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        let tmp = dir.join(format!(".tmp-link-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).map_err(io_at(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_at(&path))?;
        crate::atomic::sync_parent(&path).map_err(io_at(dir))
    }

    /// Store a splitstream and name it `streams/<content_id>`.
    pub fn write_stream(&self, content_id: &str, file: &[u8]) -> Result<Vec<u8>, RepoError> {
        let digest = self.put_bytes(file)?;
        self.symlink(
            &format!("streams/{content_id}"),
            &format!("../{}", Self::object_rel(&digest)),
        )?;
        Ok(digest)
    }

    pub fn has_stream(&self, content_id: &str) -> bool {
        self.root.join("streams").join(content_id).exists()
    }

    /// A splitstream by content id or `refs/…` name, and its digest.
    pub fn read_stream(&self, name: &str) -> Result<(SplitStream, Vec<u8>), RepoError> {
        let path = self.root.join("streams").join(name);
        let bytes = fs::read(&path).map_err(io_at(&path))?;
        let stream = SplitStream::parse(&bytes).map_err(io_at(&path))?;
        let digest = fsverity::digest(&bytes[..], self.algorithm, 1).map_err(io_at(&path))?;
        Ok((stream, digest))
    }

    /// The splitstream stored as object `digest` (stream refs name them so).
    pub fn stream_object(&self, digest: &[u8]) -> Result<SplitStream, RepoError> {
        let path = self.object_path(digest);
        let bytes = fs::read(&path).map_err(io_at(&path))?;
        SplitStream::parse(&bytes).map_err(io_at(&path))
    }

    /// Store `data` as an object and wrap it in a one-chunk splitstream
    /// of `kind` with named `refs` (how JSON documents and signature
    /// blobs are kept). Returns the splitstream file and the object's
    /// digest.
    pub fn one_chunk_stream(
        &self,
        data: &[u8],
        kind: [u8; 8],
        refs: &[(String, Vec<u8>)],
    ) -> Result<(Vec<u8>, Vec<u8>), RepoError> {
        let object = self.put_bytes(data)?;
        let mut w = Writer::new(self.algorithm, kind).map_err(io_at(&self.root))?;
        w.external(&object, data.len() as u64)
            .map_err(io_at(&self.root))?;
        for (name, d) in refs {
            w.add_named_ref(name, d);
        }
        Ok((w.finish().map_err(io_at(&self.root))?, object))
    }

    /// What a small splitstream (a JSON document, a signature) holds.
    pub fn small_stream_content(&self, stream: &SplitStream) -> Result<Vec<u8>, RepoError> {
        let mut out = Vec::new();
        self.stream_reader(stream)
            .take(crate::source::store::MAX_JSON)
            .read_to_end(&mut out)
            .map_err(io_at(&self.root))?;
        Ok(out)
    }

    /// Reassemble a splitstream's content from its objects.
    pub fn stream_reader<'a>(&'a self, stream: &'a SplitStream) -> impl Read + 'a {
        stream.reader(move |digest| {
            let f = self
                .open_object(digest)
                .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))?;
            Ok(Box::new(io::BufReader::new(f)) as Box<dyn Read>)
        })
    }

    /// Store an EROFS image and list it under `images/`.
    pub fn commit_image(&self, image: &[u8]) -> Result<Vec<u8>, RepoError> {
        let digest = self.put_bytes(image)?;
        self.sync()?;
        self.symlink(
            &format!("images/{}", hex_lower(&digest)),
            &format!("../{}", Self::object_rel(&digest)),
        )?;
        Ok(digest)
    }

    /// Flush everything written so far to disk (one syncfs(2) for the
    /// whole repository instead of an fsync per object): called before an
    /// image or tag names what was stored, so a power loss cannot leave a
    /// name pointing at objects that never reached the disk.
    pub fn sync(&self) -> Result<(), RepoError> {
        crate::sys::syncfs(&self.lock).map_err(io_at(&self.root))
    }

    /// Tag a manifest splitstream (after flushing what it names).
    pub fn set_oci_tag(&self, tag: &str, manifest_content_id: &str) -> Result<(), RepoError> {
        self.sync()?;
        self.symlink(
            &format!("streams/refs/oci/{}", escape_tag(tag)),
            &format!("../../{manifest_content_id}"),
        )
    }

    /// Record `artifact` (a manifest splitstream) as a referrer of the
    /// manifest `subject` (both `sha256:…`).
    pub fn add_referrer(
        &self,
        subject: &str,
        artifact: &str,
        content_id: &str,
    ) -> Result<(), RepoError> {
        self.symlink(
            &format!("streams/refs/oci-referrers/{subject}/{artifact}"),
            &format!("../../../{content_id}"),
        )
    }

    /// The `streams/` names of the referrers of `subject`.
    pub fn referrers(&self, subject: &str) -> Result<Vec<String>, RepoError> {
        let dir = self.root.join("streams/refs/oci-referrers").join(subject);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(io_at(&dir))?;
            if let Some(name) = e.file_name().to_str() {
                if !name.starts_with('.') {
                    out.push(format!("refs/oci-referrers/{subject}/{name}"));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The `streams/` name of a tag.
    pub fn oci_tag_ref(tag: &str) -> String {
        format!("refs/oci/{}", escape_tag(tag))
    }
}

impl ObjectStore for Repository {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn put(&mut self, data: &mut dyn Read, size: u64, _contiguous: bool) -> io::Result<Vec<u8>> {
        self.put_reader(data, size)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}
