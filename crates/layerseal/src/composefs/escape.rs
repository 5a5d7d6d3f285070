//! Field escaping of composefs dumpfiles (composefs-dump(5)): `\\`, `\n`,
//! `\r`, `\t` and `\xHH`; writers hex-escape every byte outside 0x21..0x7E.

/// Unescape one field. Any other `\c`, a trailing `\` or bad hex is an error.
pub fn unescape(field: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let c = field[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = field.get(i + 1) else {
            return Err("trailing backslash".into());
        };
        i += 2;
        match e {
            b'\\' => out.push(b'\\'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'x' => {
                let hex = field
                    .get(i..i + 2)
                    .ok_or_else(|| "short \\x escape".to_string())?;
                let s = std::str::from_utf8(hex).map_err(|_| "invalid \\x escape".to_string())?;
                let b =
                    u8::from_str_radix(s, 16).map_err(|_| format!("invalid \\x escape {s:?}"))?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(format!("invalid \\x escape {s:?}"));
                }
                out.push(b);
                i += 2;
            }
            other => return Err(format!("unknown escape \\{}", other as char)),
        }
    }
    Ok(out)
}

/// Escape one field: every byte outside 0x21..0x7E as `\xHH` (the four
/// named escapes as such), `=` too when `escape_eq` (xattr keys and
/// values), and a lone `-` as `\x2d` (it would read as "none").
pub fn escape(data: &[u8], escape_eq: bool) -> String {
    if data == b"-" {
        return "\\x2d".into();
    }
    let mut s = String::with_capacity(data.len());
    for &b in data {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b'=' if escape_eq => s.push_str("\\x3d"),
            0x21..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// The part of `s` before its first NUL (C string semantics).
pub fn c_string(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |n| &s[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unescape(escape(&all, true).as_bytes()).unwrap(), all);
        assert_eq!(escape(b"-", false), "\\x2d");
        assert_eq!(escape(b"a b", false), "a\\x20b");
    }

    #[test]
    fn rejects_bad_escapes() {
        for bad in [&b"\\"[..], b"\\q", b"\\x4", b"\\xg0", b"\\x+1"] {
            assert!(unescape(bad).is_err(), "{bad:?}");
        }
        assert_eq!(unescape(b"\\x4A\\x4a").unwrap(), b"JJ");
    }
}
