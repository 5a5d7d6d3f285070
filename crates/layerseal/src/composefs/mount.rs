//! Mounting a composefs image: the EROFS metadata image read-only on a
//! private directory, then overlayfs with it as the upper lower layer and
//! the object directory as a data-only lower layer (`lowerdir=IMG::OBJS`),
//! `metacopy=on,redirect_dir=on`, and `verity=require` so the kernel
//! checks every file's fs-verity digest against the image on open.
//! The EROFS mount is then detached: only the overlay stays visible.
//!
//! Needs Linux ≥ 6.6 (data-only lower layers, overlay verity) and root.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("{what}: {source}")]
    Sys { what: String, source: io::Error },
    #[error("{0}")]
    Invalid(String),
}

fn sys(what: impl Into<String>) -> impl FnOnce(io::Error) -> MountError {
    let what = what.into();
    move |source| MountError::Sys { what, source }
}

fn cstr(p: &Path) -> Result<CString, MountError> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| MountError::Invalid(format!("{}: NUL in path", p.display())))
}

use crate::sys::{mount, umount_detach};

const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// A read-only, auto-clearing loop device over `file` (for kernels whose
/// EROFS cannot mount a file directly). Returns the device path and an
/// open handle that keeps it alive until the mount holds it.
fn loop_device(file: &File) -> Result<(PathBuf, File), MountError> {
    let ctl = File::open("/dev/loop-control").map_err(sys("/dev/loop-control"))?;
    let n = crate::sys::loop_get_free(&ctl).map_err(sys("LOOP_CTL_GET_FREE"))?;
    let path = PathBuf::from(format!("/dev/loop{n}"));
    let dev = File::options()
        .read(true)
        .open(&path)
        .map_err(sys(path.display().to_string()))?;
    crate::sys::loop_configure(&dev, file, LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR)
        .map_err(sys(format!("LOOP_CONFIGURE {}", path.display())))?;
    Ok((path, dev))
}

/// Options of [`mount_image`].
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// overlayfs `verity=require` (the default); off only for
    /// filesystems without fs-verity, where nothing is checked.
    pub require_verity: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            require_verity: true,
        }
    }
}

/// Mount `image` with its objects at `target` (read-only).
pub fn mount_image(
    image: &Path,
    objects: &Path,
    target: &Path,
    opts: &MountOptions,
) -> Result<(), MountError> {
    for p in [image, objects, target] {
        let _ = cstr(p)?;
        if p == objects
            && p.as_os_str()
                .as_bytes()
                .iter()
                .any(|&b| b == b',' || b == b':')
        {
            return Err(MountError::Invalid(format!(
                "{}: overlayfs cannot take paths with ',' or ':'",
                p.display()
            )));
        }
    }
    let file = File::open(image).map_err(sys(image.display().to_string()))?;
    let staging = tempfile::Builder::new()
        .prefix(".layerseal-cfs-")
        .tempdir_in(std::env::temp_dir())
        .map_err(sys("staging directory"))?;
    let lower = staging.path();
    let ro = libc::MS_RDONLY;
    if let Err(direct) = mount(image, lower, "erofs", ro, "") {
        let (dev, _keep) = loop_device(&file).map_err(|e| {
            MountError::Invalid(format!(
                "mounting {} as EROFS failed ({direct}), and so did a loop device: {e}",
                image.display()
            ))
        })?;
        mount(&dev, lower, "erofs", ro, "")
            .map_err(sys(format!("mount -t erofs {}", dev.display())))?;
    }
    let data = format!(
        "metacopy=on,redirect_dir=on,verity={},lowerdir={}::{}",
        if opts.require_verity {
            "require"
        } else {
            "off"
        },
        lower.display(),
        objects.display()
    );
    let result = mount(Path::new("composefs"), target, "overlay", ro, &data).map_err(sys(format!(
        "mount -t overlay -o {data} {}",
        target.display()
    )));
    // The overlay holds its own reference; the staging mount goes away.
    let _ = umount_detach(lower);
    result
}
