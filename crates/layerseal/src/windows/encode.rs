//! The Windows structures hcsshim hands `CimCreateFile` for a tar entry,
//! encoded as go-winio encodes them: FILETIMEs, the default security
//! descriptor, extended-attribute chains, symlink / mount-point reparse
//! buffers. Spec: ../shared/specs/windows-cim.md §4.1 (our notes:
//! docs/windows-layers.md).

use crate::tar::Timestamp;

/// 100 ns intervals from 1601-01-01 to the Unix epoch.
const EPOCH_AS_FILETIME: i64 = 116_444_736_000_000_000;

/// FILETIME of a tar time as Go computes it: `UnixNano() / 100` (integer
/// division, truncating) plus the 1601 offset, with Go's overflowing
/// `UnixNano` for times outside ±292 years. `None` is Go's zero time
/// (year 1), whose `UnixNano()` wraps to -6795364578871345152.
pub fn filetime(t: Option<Timestamp>) -> i64 {
    const GO_ZERO_TIME_SECS: i64 = -62_135_596_800;
    let (secs, nanos) = t.map_or((GO_ZERO_TIME_SECS, 0), |t| (t.secs, t.nanos));
    let unix_nano = secs
        .wrapping_mul(1_000_000_000)
        .wrapping_add(i64::from(nanos));
    unix_nano / 100 + EPOCH_AS_FILETIME
}

/// The security descriptor used when a tar entry has none: self-relative,
/// control SE_DACL_PRESENT | SE_SELF_RELATIVE, no owner, group or DACL
/// ("D:NO_ACCESS_CONTROL"), 20 bytes.
pub fn null_dacl_descriptor() -> Vec<u8> {
    let mut sd = vec![0x01, 0x00, 0x04, 0x80];
    sd.extend_from_slice(&[0u8; 16]);
    sd
}

/// A FILE_FULL_EA_INFORMATION chain: per attribute an 8-byte header
/// (next-entry offset, flags 0, name length, value length), the name, a
/// NUL and the value, padded to 4 bytes; the last entry's next offset is 0.
pub fn ea_chain(eas: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for (i, (name, value)) in eas.iter().enumerate() {
        let name_len =
            u8::try_from(name.len()).map_err(|_| "an EA name is longer than 255 bytes")?;
        let value_len =
            u16::try_from(value.len()).map_err(|_| "an EA value is longer than 65535 bytes")?;
        let size = 8 + name.len() + 1 + value.len();
        let padded = size.div_ceil(4) * 4;
        let next = if i + 1 == eas.len() { 0 } else { padded as u32 };
        out.extend_from_slice(&next.to_le_bytes());
        out.push(0);
        out.push(name_len);
        out.extend_from_slice(&value_len.to_le_bytes());
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(value);
        out.resize(out.len() + padded - size, 0);
    }
    Ok(out)
}

const TAG_SYMLINK: u32 = 0xA000_000C;
const TAG_MOUNT_POINT: u32 = 0xA000_0003;

fn utf16z(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The reparse buffer of a symlink (or, with `mount_point`, a junction)
/// to `target` (backslashes): the substitute name is the NT path
/// (`\??\` for drive and `\\?\` paths, `\??\UNC\` for UNC shares, else the
/// target itself, flagged relative), the print name the target.
pub fn reparse_point(target: &str, mount_point: bool) -> Vec<u8> {
    let drive = target.len() >= 2
        && target.as_bytes()[0].is_ascii_alphabetic()
        && target.as_bytes()[1] == b':';
    let (nt, relative) = if let Some(rest) = target.strip_prefix(r"\\?\") {
        (format!(r"\??\{rest}"), false)
    } else if let Some(rest) = target.strip_prefix(r"\\") {
        (format!(r"\??\UNC\{rest}"), false)
    } else if drive {
        (format!(r"\??\{target}"), false)
    } else {
        (target.to_string(), true)
    };
    let nt16 = utf16z(&nt);
    let print16 = utf16z(target);
    let mut data_len = 8 + 2 * (nt16.len() + print16.len());
    if !mount_point {
        data_len += 4;
    }
    let mut out = Vec::with_capacity(8 + data_len);
    let tag = if mount_point {
        TAG_MOUNT_POINT
    } else {
        TAG_SYMLINK
    };
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&(data_len as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // substitute name offset
    out.extend_from_slice(&(((nt16.len() - 1) * 2) as u16).to_le_bytes());
    out.extend_from_slice(&((nt16.len() * 2) as u16).to_le_bytes()); // print name offset
    out.extend_from_slice(&(((print16.len() - 1) * 2) as u16).to_le_bytes());
    if !mount_point {
        out.extend_from_slice(&u32::from(relative).to_le_bytes());
    }
    for u in nt16.iter().chain(&print16) {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetimes_as_go_computes_them() {
        assert_eq!(
            filetime(Some(Timestamp::from_secs(0))),
            116_444_736_000_000_000
        );
        // Go's zero time (a missing atime/ctime) wraps: 0x00AC4663_BED0AE15.
        assert_eq!(filetime(None), 48_491_090_211_286_549);
        assert_eq!(filetime(None), 0x00AC_4663_BED0_AE15);
        let t = Timestamp {
            secs: 1_700_000_000,
            nanos: 123_456_789,
        };
        assert_eq!(
            filetime(Some(t)),
            1_700_000_000 * 10_000_000 + 1_234_567 + 116_444_736_000_000_000
        );
    }

    #[test]
    fn ea_chain_layout() {
        let chain = ea_chain(&[(b"A".to_vec(), b"xy".to_vec()), (b"BC".to_vec(), vec![])]).unwrap();
        // First: 8 + 1 + 1 + 2 = 12 (already aligned), next offset 12.
        assert_eq!(&chain[..8], &[12, 0, 0, 0, 0, 1, 2, 0]);
        assert_eq!(&chain[8..12], b"A\0xy");
        // Last: 8 + 2 + 1 = 11, padded to 12, next offset 0.
        assert_eq!(&chain[12..20], &[0, 0, 0, 0, 0, 2, 0, 0]);
        assert_eq!(&chain[20..], b"BC\0\0");
        assert!(ea_chain(&[(vec![b'n'; 256], vec![])]).is_err());
    }

    #[test]
    fn reparse_buffers() {
        let rel = reparse_point(r"..\target", false);
        assert_eq!(&rel[..4], &TAG_SYMLINK.to_le_bytes());
        // flags = 1 (relative) after the 16-byte header
        assert_eq!(&rel[16..20], &1u32.to_le_bytes());
        let abs = reparse_point(r"C:\dir", false);
        assert_eq!(&abs[16..20], &0u32.to_le_bytes());
        let sub: Vec<u16> = abs[20..20 + 2 * 10]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16(&sub).unwrap(), r"\??\C:\dir");
        let mp = reparse_point(r"C:\dir", true);
        assert_eq!(&mp[..4], &TAG_MOUNT_POINT.to_le_bytes());
        // data length excludes the 8-byte header; no flags for junctions
        assert_eq!(u16::from_le_bytes([mp[4], mp[5]]) as usize, mp.len() - 8);
        assert_eq!(u16::from_le_bytes([rel[4], rel[5]]) as usize, rel.len() - 8);
        let unc = reparse_point(r"\\server\share", false);
        let n = u16::from_le_bytes([unc[10], unc[11]]) as usize;
        let sub: Vec<u16> = unc[20..20 + n]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16(&sub).unwrap(), r"\??\UNC\server\share");
    }

    #[test]
    fn null_dacl() {
        let sd = null_dacl_descriptor();
        assert_eq!(sd.len(), 20);
        assert_eq!(&sd[..4], &[1, 0, 4, 0x80]);
    }
}
