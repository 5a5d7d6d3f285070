//! A Windows layer tar read as hcsshim's block-CIM layer writer reads it
//! (go-winio's backuptar conventions): `Files\`, `Hives\` and
//! `UtilityVM\` paths with backslashes, attributes and security
//! descriptors from `MSWINDOWS.*` PAX records, FILETIMEs, EA chains,
//! symlinks as reparse points, `file:stream:$DATA` alternate data
//! streams, whiteouts and hard links. Pure: runs on every OS.

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::encode::{ea_chain, filetime, null_dacl_descriptor, reparse_point};
use crate::tar::{typeflag, Header, Reader};

const ATTR_DIRECTORY: u32 = 0x10;
const ATTR_REPARSE_POINT: u32 = 0x400;

/// `CIMFS_FILE_METADATA` as hcsshim fills it for one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    pub attributes: u32,
    pub file_size: u64,
    pub creation_time: i64,
    pub last_write_time: i64,
    pub change_time: i64,
    pub last_access_time: i64,
    #[serde(serialize_with = "b64")]
    pub security_descriptor: Vec<u8>,
    #[serde(serialize_with = "b64")]
    pub reparse_data: Vec<u8>,
    #[serde(serialize_with = "b64")]
    pub ea_buffer: Vec<u8>,
}

fn b64<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
}

/// One tar member, as the writer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A file, directory or symlink; regular files carry the SHA-256 of
    /// their data.
    Create {
        path: String,
        meta: Metadata,
        payload_sha256: Option<String>,
    },
    /// `file:stream` (from a `file:stream:$DATA` member).
    AltStream {
        path: String,
        size: u64,
        payload_sha256: String,
    },
    /// A whiteout: `dir\.wh.name` removes `dir\name`.
    Tombstone { path: String },
    /// A hard link to `target`.
    Link { path: String, target: String },
}

/// What reading found: the entries in tar order and the inputs that make
/// upstream's output depend on chance.
#[derive(Debug, Default)]
pub struct WindowsLayer {
    pub entries: Vec<Entry>,
    pub lints: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WindowsError {
    #[error(transparent)]
    Tar(#[from] crate::tar::TarError),
    #[error("{path}: {message}")]
    Entry { path: String, message: String },
    #[error("reading the layer: {0}")]
    Io(#[from] std::io::Error),
}

fn entry_err(path: &str, message: impl Into<String>) -> WindowsError {
    WindowsError::Entry {
        path: crate::text::shown(path.as_bytes()),
        message: message.into(),
    }
}

/// Tar name → the path hcsshim gives the writer: `/` → `\`, no trailing
/// separator. Absolute names and `..` components are refused.
fn windows_path(name: &[u8]) -> Result<String, WindowsError> {
    let text = std::str::from_utf8(name)
        .map_err(|_| entry_err(&String::from_utf8_lossy(name), "name is not UTF-8"))?;
    let p = text.replace('/', "\\");
    let p = p
        .trim_end_matches('\\')
        .trim_start_matches(".\\")
        .to_string();
    if p.is_empty()
        || p.starts_with('\\')
        || p.as_bytes().get(1) == Some(&b':') && !p.contains('\\')
        || p.split('\\').any(|c| c == "..")
    {
        return Err(entry_err(text, "not a relative path inside the layer"));
    }
    Ok(p)
}

fn pax<'a>(h: &'a Header, key: &str) -> Option<&'a [u8]> {
    h.pax.as_ref()?.get(key.as_bytes()).map(Vec::as_slice)
}

fn decode_b64(path: &str, what: &str, v: &[u8]) -> Result<Vec<u8>, WindowsError> {
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .map_err(|e| entry_err(path, format!("{what} is not base64: {e}")))
}

fn metadata(h: &Header, path: &str, lints: &mut Vec<String>) -> Result<Metadata, WindowsError> {
    let is_dir = h.typeflag == typeflag::DIR;
    let mut attributes = match pax(h, "MSWINDOWS.fileattr") {
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(|| entry_err(path, "MSWINDOWS.fileattr is not a decimal number"))?,
        None if is_dir => ATTR_DIRECTORY,
        None => 0,
    };
    attributes &= !ATTR_REPARSE_POINT;
    let reparse_data = if h.typeflag == typeflag::SYMLINK && !h.linkname.is_empty() {
        let target = String::from_utf8_lossy(&h.linkname).replace('/', "\\");
        reparse_point(&target, pax(h, "MSWINDOWS.mountpoint").is_some())
    } else {
        Vec::new()
    };
    if !reparse_data.is_empty() {
        attributes |= ATTR_REPARSE_POINT;
    }
    if pax(h, "MSWINDOWS.sd").is_some() && pax(h, "MSWINDOWS.rawsd").is_none() {
        return Err(entry_err(
            path,
            "legacy SDDL security descriptor (MSWINDOWS.sd): converting it needs the Windows \
             API; refused off Windows",
        ));
    }
    let security_descriptor = match pax(h, "MSWINDOWS.rawsd") {
        Some(v) => decode_b64(path, "MSWINDOWS.rawsd", v)?,
        None => null_dacl_descriptor(),
    };
    let mut eas = BTreeMap::new();
    for (k, v) in h.pax.iter().flatten() {
        if let Some(name) = k.strip_prefix(b"MSWINDOWS.xattr.") {
            eas.insert(
                name.to_vec(),
                decode_b64(path, "an MSWINDOWS.xattr value", v)?,
            );
        }
    }
    if eas.len() > 1 {
        lints.push(format!(
            "{path}: {} extended attributes; hcsshim passes them in Go map order, which is \
             random, so the CIM digest may differ between runs (here: sorted by name)",
            eas.len()
        ));
    }
    let eas: Vec<(Vec<u8>, Vec<u8>)> = eas.into_iter().collect();
    let ea_buffer = ea_chain(&eas).map_err(|e| entry_err(path, e))?;
    let last_write_time = filetime(h.mtime);
    let creation_time = match pax(h, "LIBARCHIVE.creationtime") {
        Some(v) => {
            filetime(Some(crate::tar::parse_pax_time(v).ok_or_else(|| {
                entry_err(path, "LIBARCHIVE.creationtime is not a time")
            })?))
        }
        None => last_write_time,
    };
    Ok(Metadata {
        attributes,
        file_size: if h.typeflag == typeflag::REG || h.typeflag == typeflag::REG_A {
            u64::try_from(h.size).map_err(|_| entry_err(path, "negative size"))?
        } else {
            0
        },
        creation_time,
        last_write_time,
        change_time: filetime(h.ctime),
        last_access_time: filetime(h.atime),
        security_descriptor,
        reparse_data,
        ea_buffer,
    })
}

fn sha256_of(r: &mut dyn Read, path: &str, len: u64) -> Result<String, WindowsError> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(entry_err(path, format!("data ends {left} bytes early")));
        }
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(crate::verity::hex_lower(&h.finalize()))
}

/// Read a Windows layer tar.
pub fn read_layer<R: Read>(input: R) -> Result<WindowsLayer, WindowsError> {
    let mut tr = Reader::new(input);
    let mut out = WindowsLayer::default();
    while let Some(h) = tr.next()? {
        let path = windows_path(&h.name)?;
        let base = path.rsplit('\\').next().unwrap_or(&path);
        if let Some(rest) = base.strip_prefix(".wh.") {
            let dir = &path[..path.len() - base.len()];
            out.entries.push(Entry::Tombstone {
                path: format!("{dir}{rest}"),
            });
            continue;
        }
        if let Some((file_and_stream, kind)) = base.rsplit_once(':') {
            if base.matches(':').count() != 2 || kind != "$DATA" {
                return Err(entry_err(
                    &path,
                    format!("alternate stream of type {kind:?}: only $DATA streams are supported"),
                ));
            }
            if h.typeflag != typeflag::REG && h.typeflag != typeflag::REG_A {
                return Err(entry_err(
                    &path,
                    "an alternate data stream must be a regular member",
                ));
            }
            let dir = &path[..path.len() - base.len()];
            let size = u64::try_from(h.size).map_err(|_| entry_err(&path, "negative size"))?;
            let payload_sha256 = sha256_of(&mut tr, &path, size)?;
            out.entries.push(Entry::AltStream {
                path: format!("{dir}{file_and_stream}"),
                size,
                payload_sha256,
            });
            continue;
        }
        match h.typeflag {
            typeflag::LINK => out.entries.push(Entry::Link {
                path,
                target: windows_path(&h.linkname)?,
            }),
            typeflag::REG | typeflag::REG_A | typeflag::DIR | typeflag::SYMLINK => {
                let meta = metadata(&h, &path, &mut out.lints)?;
                let payload_sha256 = if meta.file_size > 0 {
                    Some(sha256_of(&mut tr, &path, meta.file_size)?)
                } else {
                    None
                };
                out.entries.push(Entry::Create {
                    path,
                    meta,
                    payload_sha256,
                });
            }
            other => {
                return Err(entry_err(
                    &path,
                    format!("tar type {:?} has no Windows equivalent", other as char),
                ))
            }
        }
    }
    Ok(out)
}
