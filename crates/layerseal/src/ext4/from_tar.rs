//! tar2ext4 with ConvertWhiteout: entries in archive order, implicit
//! parents, OCI whiteouts as 0:0 character devices, opaque directories as
//! `trusted.overlay.opaque=y` (spec §4).

use std::collections::BTreeMap;
use std::io::Read;

use super::inode::*;
use super::writer::{File, Summary, Writer};
use super::{path, Ext4Error};
use crate::sink::BlockSink;
use crate::tar::{typeflag, Reader, TarError};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_WHITEOUT: &[u8] = b".wh..wh..opq";

/// A failed conversion: what went wrong, and where in the tar.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConvertError {
    /// The message dmverity-vhd would print.
    pub message: String,
    /// The entry being converted, if the failure belongs to one.
    pub entry: Option<Vec<u8>>,
    /// Byte offset in the (decompressed) tar stream.
    pub offset: u64,
    /// Whether the input itself is malformed (vs. refused or I/O).
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The tar stream is malformed or truncated.
    CorruptTar,
    /// The entries are well-formed but break a filesystem rule.
    Rejected,
    /// The image would exceed a size limit.
    TooBig,
    /// Reading input or writing output failed.
    Io,
}

impl ConvertError {
    /// Where it happened: the entry (if any) and the tar offset.
    pub fn location(&self) -> String {
        match &self.entry {
            Some(e) => format!(
                "entry \"{}\" at tar offset {}",
                crate::text::shown(e),
                self.offset
            ),
            None => format!("tar offset {}", self.offset),
        }
    }

    /// One line for people: the message and where it happened.
    pub fn detailed(&self) -> String {
        format!("{} ({})", self.message, self.location())
    }
}

fn tar_error(e: TarError, offset: u64, entry: Option<&[u8]>) -> ConvertError {
    let kind = if matches!(e, TarError::Io(_)) {
        ErrorKind::Io
    } else {
        ErrorKind::CorruptTar
    };
    ConvertError {
        message: e.to_string(),
        entry: entry.map(<[u8]>::to_vec),
        offset,
        kind,
    }
}

fn fs_error(e: Ext4Error, context: Option<String>, entry: &[u8], offset: u64) -> ConvertError {
    let (kind, text) = match &e {
        Ext4Error::Rejected(m) => (ErrorKind::Rejected, m.clone()),
        Ext4Error::TooBig(m) => (ErrorKind::TooBig, m.clone()),
        Ext4Error::Io(io) => match io.get_ref().and_then(|i| i.downcast_ref::<TarError>()) {
            Some(t) => (ErrorKind::CorruptTar, t.to_string()),
            None if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                (ErrorKind::CorruptTar, "unexpected EOF".into())
            }
            None => (ErrorKind::Io, io.to_string()),
        },
    };
    let message = match context {
        Some(c) => format!("{c}: {text}"),
        None => text,
    };
    ConvertError {
        message,
        entry: Some(entry.to_vec()),
        offset,
        kind,
    }
}

/// Convert a tar stream into an ext4 image in `sink`, reserving metadata
/// for `max_disk_size` bytes.
pub fn convert<R: Read, S: BlockSink>(
    input: R,
    sink: S,
    max_disk_size: u64,
) -> Result<(S, Summary), ConvertError> {
    let mut tr = Reader::new(input);
    let mut fs = Writer::new(sink, max_disk_size).map_err(|e| fs_error(e, None, b"", 0))?;
    loop {
        let h = match tr.next() {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => return Err(tar_error(e, tr.stream_offset(), None)),
        };
        let at = tr.entry_offset();
        let name = h.name.as_slice();
        let err = |e: Ext4Error, ctx: Option<String>| fs_error(e, ctx, name, at);
        let shown = crate::text::shown(name);
        fs.make_parents(name).map_err(|e| {
            err(
                e,
                Some(format!("failed to ensure parent directories for {shown}")),
            )
        })?;

        let (dir, file) = path::split(name);
        if file.starts_with(WHITEOUT_PREFIX) {
            let file_shown = crate::text::shown(file);
            if file == OPAQUE_WHITEOUT {
                let mut f = fs.stat(dir).map_err(|e| {
                    err(
                        e,
                        Some(format!(
                            "failed to stat parent directory of whiteout {file_shown}"
                        )),
                    )
                })?;
                f.xattrs
                    .insert(b"trusted.overlay.opaque".to_vec(), b"y".to_vec());
                fs.create(dir, &f).map_err(|e| {
                    err(e, Some(format!("failed to create opaque dir {file_shown}")))
                })?;
            } else {
                let f = File {
                    mode: S_IFCHR,
                    ..File::default()
                };
                let target = path::join(dir, &file[WHITEOUT_PREFIX.len()..]);
                fs.create(&target, &f).map_err(|e| {
                    err(
                        e,
                        Some(format!("failed to create whiteout file for {file_shown}")),
                    )
                })?;
            }
            continue;
        }

        if h.typeflag == typeflag::LINK {
            fs.link(&h.linkname, name).map_err(|e| err(e, None))?;
            continue;
        }
        let typ = match h.typeflag {
            typeflag::REG => S_IFREG,
            typeflag::SYMLINK => S_IFLNK,
            typeflag::CHAR => S_IFCHR,
            typeflag::BLOCK => S_IFBLK,
            typeflag::DIR => S_IFDIR,
            typeflag::FIFO => S_IFIFO,
            // Unknown types (g, S, 7, V, ...) become regular files.
            _ => 0,
        };
        let xattrs: BTreeMap<Vec<u8>, Vec<u8>> = h
            .schily_xattrs()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        let f = File {
            linkname: h.linkname.clone(),
            size: u64::try_from(h.size).unwrap_or(0),
            mode: (h.mode as u16 & !S_IFMT) | typ,
            uid: h.uid as u32,
            gid: h.gid as u32,
            atime: h.atime,
            ctime: h.ctime,
            mtime: h.mtime,
            crtime: h.mtime,
            devmajor: h.devmajor as u32,
            devminor: h.devminor as u32,
            xattrs,
        };
        fs.create(name, &f).map_err(|e| err(e, None))?;
        fs.write_data(&mut tr).map_err(|e| err(e, None))?;
    }
    fs.close()
        .map_err(|e| fs_error(e, None, b"", tr.stream_offset()))
}
