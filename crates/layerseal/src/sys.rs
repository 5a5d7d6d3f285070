//! The system calls the library makes that Rust's standard library does
//! not wrap: mount(2), umount2(2), the loop-device ioctls and syncfs(2).
//! The only module allowed `unsafe` (the crate denies it elsewhere); each
//! call site states why its arguments are valid.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn last_error(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// mount(2).
pub fn mount(
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
    last_error(rc).map(|_| ())
}

/// umount2(2) with MNT_DETACH.
pub fn umount_detach(target: &Path) -> io::Result<()> {
    let t = CString::new(target.as_os_str().as_bytes())?;
    // SAFETY: valid NUL-terminated path.
    let rc = unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
    last_error(rc).map(|_| ())
}

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;

/// `struct loop_config` with its embedded `loop_info64`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: [u8; 232],
    reserved: [u64; 8],
}

/// LOOP_CTL_GET_FREE on /dev/loop-control: a free loop device number.
pub fn loop_get_free(ctl: &File) -> io::Result<u32> {
    // SAFETY: ioctl without argument on the loop control device.
    let n = unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
    last_error(n).map(|n| n as u32)
}

/// LOOP_CONFIGURE `dev` over `backing` with `lo_flags`.
pub fn loop_configure(dev: &File, backing: &File, lo_flags: u32) -> io::Result<()> {
    let mut cfg = LoopConfig {
        fd: backing.as_raw_fd() as u32,
        block_size: 0,
        info: [0; 232],
        reserved: [0; 8],
    };
    // loop_info64.lo_flags is at offset 52.
    cfg.info[52..56].copy_from_slice(&lo_flags.to_ne_bytes());
    // SAFETY: cfg is a properly laid out loop_config living across the call.
    let rc = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_CONFIGURE as _,
            &cfg as *const LoopConfig,
        )
    };
    last_error(rc).map(|_| ())
}

/// syncfs(2): flush the whole filesystem holding `file` — one call where
/// an fsync per object would cost one disk flush each.
pub fn syncfs(file: &File) -> io::Result<()> {
    // SAFETY: a valid open file descriptor for the duration of the call.
    let rc = unsafe { libc::syncfs(file.as_raw_fd()) };
    last_error(rc).map(|_| ())
}
