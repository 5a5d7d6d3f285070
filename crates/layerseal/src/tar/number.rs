//! Numeric and string field decoding (spec §3).

/// A string field: its bytes up to the first NUL.
pub fn parse_string(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// A numeric header field: base-256 when the high bit of the first byte is
/// set, otherwise octal. `None` is Go's `ErrHeader`.
pub fn parse_numeric(b: &[u8]) -> Option<i64> {
    if let Some(&first) = b.first() {
        if first & 0x80 != 0 {
            return parse_base256(b);
        }
    }
    parse_octal(b)
}

fn parse_base256(b: &[u8]) -> Option<i64> {
    let inv: u8 = if b[0] & 0x40 != 0 { 0xff } else { 0 };
    let mut x: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        let mut c = c ^ inv;
        if i == 0 {
            c &= 0x7f;
        }
        x = (x << 8) | u128::from(c);
        if x >= 1 << 63 {
            return None;
        }
    }
    let x = i64::try_from(x).ok()?;
    Some(if inv == 0xff { !x } else { x })
}

/// Octal, after trimming spaces and NULs at both ends and cutting at a NUL.
pub fn parse_octal(b: &[u8]) -> Option<i64> {
    let trimmed = trim_space_nul(b);
    if trimmed.is_empty() {
        return Some(0);
    }
    let digits = parse_string(trimmed);
    if digits.is_empty() {
        return None;
    }
    let mut x: u64 = 0;
    for &c in digits {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        x = x.checked_mul(8)?.checked_add(u64::from(c - b'0'))?;
    }
    // Go converts with int64(x): fields are at most 12 bytes (36 bits), so
    // this never wraps in practice; keep Go's two's-complement view anyway.
    Some(x as i64)
}

fn trim_space_nul(b: &[u8]) -> &[u8] {
    let is_pad = |c: &u8| *c == b' ' || *c == 0;
    let start = b.iter().position(|c| !is_pad(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_pad(c)).map_or(start, |e| e + 1);
    &b[start..end]
}

/// Go's `strconv.ParseInt(s, 10, 64)`: optional sign, one or more ASCII digits.
pub fn parse_decimal(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut x: i128 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        x = x * 10 + i128::from(c - b'0');
        if x > 1 << 63 {
            return None;
        }
    }
    let x = if neg { -x } else { x };
    i64::try_from(x).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_forms() {
        assert_eq!(parse_octal(b"  644  "), Some(0o644));
        assert_eq!(parse_octal(b"12\0zz"), Some(0o12));
        assert_eq!(parse_octal(b"00000644"), Some(0o644));
        assert_eq!(parse_octal(b"0000689"), None);
        assert_eq!(parse_octal(b"\0\0\0"), Some(0));
        assert_eq!(parse_octal(b"        "), Some(0));
        assert_eq!(parse_octal(b"+12"), None);
        assert_eq!(parse_octal(b"1 2"), None);
    }

    #[test]
    fn base256_forms() {
        let mut neg2 = [0xffu8; 12];
        neg2[11] = 0xfe;
        assert_eq!(parse_numeric(&neg2), Some(-2));
        assert_eq!(parse_numeric(&[0xff; 8]), Some(-1));
        let overflow = [0x80, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_numeric(&overflow), None);
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[11] = 5;
        assert_eq!(parse_numeric(&big), Some(5));
    }

    #[test]
    fn decimal_forms() {
        assert_eq!(parse_decimal(b"+17"), Some(17));
        assert_eq!(parse_decimal(b"0019"), Some(19));
        assert_eq!(parse_decimal(b"-5"), Some(-5));
        assert_eq!(parse_decimal(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_decimal(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_decimal(b"9223372036854775808"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"-"), None);
        assert_eq!(parse_decimal(b"1_0"), None);
        assert_eq!(parse_decimal(b" 1"), None);
    }
}
