//! Verify an existing image against a root hash, in userspace: raw image
//! with the tree appended, a VHD, or image + separate hash device.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::verity::{self, Superblock, VerifyError};
use crate::vhd::{Footer, FOOTER_SIZE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub data_size: u64,
    pub hash_offset: u64,
    pub data_blocks: u64,
    pub vhd_footer: bool,
    pub hash_device_vhd_footer: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: {corruption}")]
    Corrupt {
        path: PathBuf,
        corruption: verity::Corruption,
    },
}

/// Bytes before a valid fixed-VHD footer, if the file ends with one.
fn strip_vhd(file: &File, len: u64) -> io::Result<Option<u64>> {
    if len < FOOTER_SIZE as u64 {
        return Ok(None);
    }
    let mut b = [0u8; FOOTER_SIZE];
    file.read_exact_at(&mut b, len - FOOTER_SIZE as u64)?;
    if &b[..8] != b"conectix" {
        return Ok(None);
    }
    Ok(Footer::decode(&b, len - FOOTER_SIZE as u64)
        .ok()
        .map(|_| len - FOOTER_SIZE as u64))
}

/// Size of the filesystem at the start of `file`, from its superblock
/// (ext4 or EROFS), which is where an appended hash tree begins.
fn filesystem_size(file: &File) -> io::Result<Option<u64>> {
    let mut sb = [0u8; 1024];
    if file.read_exact_at(&mut sb, 1024).is_err() {
        return Ok(None);
    }
    if u16::from_le_bytes([sb[0x38], sb[0x39]]) == 0xEF53 {
        let blocks = u64::from(u32::from_le_bytes(sb[4..8].try_into().expect("4 bytes")));
        let log = u32::from_le_bytes(sb[0x18..0x1C].try_into().expect("4 bytes"));
        if log <= 6 {
            return Ok(Some(blocks << (10 + log)));
        }
    }
    if u32::from_le_bytes(sb[0..4].try_into().expect("4 bytes")) == 0xE0F5_E1E2 {
        let blkszbits = u32::from(sb[0x0C]);
        let blocks = u64::from(u32::from_le_bytes(
            sb[0x24..0x28].try_into().expect("4 bytes"),
        ));
        if (9..=16).contains(&blkszbits) {
            let incompat = u32::from_le_bytes(sb[0x50..0x54].try_into().expect("4 bytes"));
            let extra_devices = u16::from_le_bytes([sb[0x56], sb[0x57]]);
            if incompat & 8 != 0 && extra_devices > 0 {
                return tar_index_tree_offset(file, &sb, blkszbits, extra_devices);
            }
            return Ok(Some(blocks << blkszbits));
        }
    }
    Ok(None)
}

/// A tar-index EROFS file: the index, then its devices (the tar) at their
/// `uniaddr`s, then the tar's end-of-archive padding, then the verity
/// superblock at the next 512-byte boundary. The devices only cover the
/// tar up to its end marker, so look for the superblock from there.
fn tar_index_tree_offset(
    file: &File,
    sb: &[u8],
    blkszbits: u32,
    extra_devices: u16,
) -> io::Result<Option<u64>> {
    const SEARCH: u64 = 16 << 20;
    let slot_off = u64::from(u16::from_le_bytes([sb[0x58], sb[0x59]])) * 128;
    let mut end = 0u64;
    for i in 0..u64::from(extra_devices.min(256)) {
        let mut slot = [0u8; 128];
        if file.read_exact_at(&mut slot, slot_off + i * 128).is_err() {
            return Ok(None);
        }
        let blocks = u64::from(u32::from_le_bytes(
            slot[64..68].try_into().expect("4 bytes"),
        ));
        let uniaddr = u64::from(u32::from_le_bytes(
            slot[68..72].try_into().expect("4 bytes"),
        ));
        end = end.max((uniaddr + blocks) << blkszbits);
    }
    let len = file.metadata()?.len();
    let mut at = end.div_ceil(512) * 512;
    let mut magic = [0u8; 8];
    while at + 512 <= len && at <= end + SEARCH {
        file.read_exact_at(&mut magic, at)?;
        if &magic == b"verity\0\0" {
            return Ok(Some(at));
        }
        at += 512;
    }
    Ok(Some(end))
}

/// Verify `image` (and `hash_device`, if the tree is separate) against
/// `root_hex`. `hash_offset` overrides where the appended tree starts.
pub fn check_image(
    image: &Path,
    hash_device: Option<&Path>,
    hash_offset: Option<u64>,
    root_hex: &str,
) -> Result<CheckReport, CheckError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckError::Io { path, source }
    };
    let data = File::open(image).map_err(io_err(image))?;
    let data_len = data.metadata().map_err(io_err(image))?.len();
    let data_end = strip_vhd(&data, data_len).map_err(io_err(image))?;
    let (hash_file, hash_path, base, hash_vhd) = match hash_device {
        Some(p) => {
            let f = File::open(p).map_err(io_err(p))?;
            let len = f.metadata().map_err(io_err(p))?.len();
            let vhd = strip_vhd(&f, len).map_err(io_err(p))?.is_some();
            (f, p.to_path_buf(), hash_offset.unwrap_or(0), vhd)
        }
        None => {
            let offset = match hash_offset {
                Some(o) => o,
                None => filesystem_size(&data).map_err(io_err(image))?.ok_or_else(|| CheckError::Format {
                    path: image.to_path_buf(),
                    message: "no ext4 or EROFS superblock to locate the hash tree; pass --hash-offset".into(),
                })?,
            };
            (
                data.try_clone().map_err(io_err(image))?,
                image.to_path_buf(),
                offset,
                false,
            )
        }
    };
    let sb = verity::verify(&data, 0, &hash_file, base, root_hex).map_err(|e| match e {
        VerifyError::Corrupt(c) => {
            let path = match c {
                verity::Corruption::DataBlock { .. } => image.to_path_buf(),
                _ => hash_path.clone(),
            };
            CheckError::Corrupt {
                path,
                corruption: c,
            }
        }
        VerifyError::Format(m) => CheckError::Format {
            path: hash_path.clone(),
            message: m,
        },
        VerifyError::Io(e) => CheckError::Io {
            path: hash_path.clone(),
            source: e,
        },
    })?;
    let data_size = sb.data_blocks * u64::from(sb.params.data_block_size);
    Ok(CheckReport {
        data_size,
        hash_offset: base,
        data_blocks: sb.data_blocks,
        vhd_footer: data_end.is_some(),
        hash_device_vhd_footer: hash_vhd,
    })
}

/// Read the verity superblock at `offset` (for tools that want to show it).
pub fn read_superblock(file: &File, offset: u64) -> Result<Superblock, String> {
    let mut b = [0u8; 512];
    file.read_exact_at(&mut b, offset)
        .map_err(|e| e.to_string())?;
    Superblock::decode(&b).map_err(|e| e.to_string())
}
