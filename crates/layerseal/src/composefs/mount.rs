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
use std::os::fd::AsRawFd;
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

fn mount(
    src: &Path,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    let src = CString::new(src.as_os_str().as_bytes())?;
    let target = CString::new(target.as_os_str().as_bytes())?;
    let fstype = CString::new(fstype)?;
    let data = CString::new(data)?;
    // SAFETY: all pointers are valid NUL-terminated strings for the call.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn umount_detach(target: &Path) -> io::Result<()> {
    let t = CString::new(target.as_os_str().as_bytes())?;
    // SAFETY: valid NUL-terminated path.
    if unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// `struct loop_config` with its embedded `loop_info64`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: [u8; 232],
    reserved: [u64; 8],
}

/// A read-only, auto-clearing loop device over `file` (for kernels whose
/// EROFS cannot mount a file directly). Returns the device path and an
/// open handle that keeps it alive until the mount holds it.
fn loop_device(file: &File) -> Result<(PathBuf, File), MountError> {
    let ctl = File::open("/dev/loop-control").map_err(sys("/dev/loop-control"))?;
    // SAFETY: ioctl without argument on the loop control device.
    let n = unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
    if n < 0 {
        return Err(sys("LOOP_CTL_GET_FREE")(io::Error::last_os_error()));
    }
    let path = PathBuf::from(format!("/dev/loop{n}"));
    let dev = File::options()
        .read(true)
        .open(&path)
        .map_err(sys(path.display().to_string()))?;
    let mut cfg = LoopConfig {
        fd: file.as_raw_fd() as u32,
        block_size: 0,
        info: [0; 232],
        reserved: [0; 8],
    };
    // loop_info64.lo_flags is at offset 52.
    cfg.info[52..56].copy_from_slice(&(LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR).to_ne_bytes());
    // SAFETY: cfg is a properly laid out loop_config living across the call.
    let rc = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_CONFIGURE as _,
            &cfg as *const LoopConfig,
        )
    };
    if rc < 0 {
        return Err(sys(format!("LOOP_CONFIGURE {}", path.display()))(
            io::Error::last_os_error(),
        ));
    }
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
