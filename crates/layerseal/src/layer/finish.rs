//! After the data: the hash area (verity superblock + tree) placed after
//! the image or in its own file, the VHD footers, containerd's
//! `.dmverity` sidecar, and committing every output at once.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::{out_err, FsFormat, LayerError};
use crate::atomic::AtomicFile;
use crate::verity::{self, Params, Superblock};
use crate::vhd::Footer;

/// The files being written for one layer.
pub(super) struct OpenOutputs {
    pub image: Option<AtomicFile>,
    pub hash_dev: Option<AtomicFile>,
}

/// Where the hash area went: the image's end (where a VHD footer goes)
/// and the hash device's length when it has its own file.
pub(super) struct Placed {
    pub image_end: u64,
    pub hash_written: Option<u64>,
}

/// Write the superblock block and the tree after the image's data (or
/// into the hash device).
pub(super) fn place_hash_area(
    outs: &OpenOutputs,
    params: &Params,
    tree: &verity::SpooledTree,
    sb: &Superblock,
    image_size: u64,
) -> Result<Placed, LayerError> {
    let mut sb_block = vec![0u8; params.hash_block_size as usize];
    sb_block[..512].copy_from_slice(&sb.encode());
    let hash_area_len = sb_block.len() as u64 + tree.len();
    let write_hash_area = |file: &std::fs::File, at: u64| -> std::io::Result<()> {
        file.write_all_at(&sb_block, at)?;
        tree.write_to(file, at + sb_block.len() as u64)
    };
    Ok(match (&outs.image, &outs.hash_dev) {
        (_, Some(h)) => {
            write_hash_area(h.file(), 0).map_err(out_err(h.target()))?;
            Placed {
                image_end: image_size,
                hash_written: Some(hash_area_len),
            }
        }
        (Some(f), None) => {
            write_hash_area(f.file(), image_size).map_err(out_err(f.target()))?;
            Placed {
                image_end: image_size + hash_area_len,
                hash_written: None,
            }
        }
        (None, None) => Placed {
            image_end: image_size,
            hash_written: None,
        },
    })
}

/// Fixed VHD footers after the image and the hash device, with UUIDs
/// derived from the root hash (as dmverity-vhd's are deterministic).
pub(super) fn write_vhd_footers(
    outs: &OpenOutputs,
    placed: &Placed,
    root: &[u8],
) -> Result<(), LayerError> {
    if let Some(f) = &outs.image {
        let footer =
            Footer::fixed(placed.image_end, verity::derive_uuid("vhd data disk", root)).encode();
        f.file()
            .write_all_at(&footer, placed.image_end)
            .map_err(out_err(f.target()))?;
    }
    if let (Some(h), Some(len)) = (&outs.hash_dev, placed.hash_written) {
        let footer = Footer::fixed(len, verity::derive_uuid("vhd hash device", root)).encode();
        h.file()
            .write_all_at(&footer, len)
            .map_err(out_err(h.target()))?;
    }
    Ok(())
}

/// containerd's sidecar for EROFS images: FILE.dmverity =
/// {"roothash", "hashoffset"}. Not yet committed.
pub(super) fn sidecar(
    outs: &OpenOutputs,
    format: FsFormat,
    root_hex: &str,
    image_size: u64,
) -> Result<Option<AtomicFile>, LayerError> {
    let (Some(f), FsFormat::Erofs) = (&outs.image, format) else {
        return Ok(None);
    };
    let mut name = f.target().as_os_str().to_os_string();
    name.push(".dmverity");
    let path = PathBuf::from(name);
    let side = AtomicFile::create(&path).map_err(out_err(&path))?;
    let hash_offset = if outs.hash_dev.is_some() {
        0
    } else {
        image_size
    };
    let text = format!("{{\n  \"roothash\": \"{root_hex}\",\n  \"hashoffset\": {hash_offset}\n}}");
    side.file()
        .write_all_at(text.as_bytes(), 0)
        .map_err(out_err(&path))?;
    Ok(Some(side))
}

/// Rename every finished output into place: image, sidecar, hash device.
pub(super) fn commit(outs: OpenOutputs, sidecar: Option<AtomicFile>) -> Result<(), LayerError> {
    for f in [outs.image, sidecar, outs.hash_dev].into_iter().flatten() {
        let target = f.target().to_path_buf();
        f.commit().map_err(out_err(&target))?;
    }
    Ok(())
}
