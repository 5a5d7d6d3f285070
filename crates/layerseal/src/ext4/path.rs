//! POSIX path handling as Go's `path` package does it, on raw bytes.

/// Go's `path.Clean("/" + p)` without the leading slash: no empty, `.` or
/// `..` components, and `..` cannot climb above the root. `""` is the root.
pub fn clean(p: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join(&b'/')
}

/// Go's `path.Split`: everything up to and including the last `/`, and the rest.
pub fn split(p: &[u8]) -> (&[u8], &[u8]) {
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => (&p[..=i], &p[i + 1..]),
        None => (&[], p),
    }
}

/// Go's `path.Join(dir, name)` (which cleans; all-empty gives `""`).
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() && name.is_empty() {
        return Vec::new();
    }
    let mut joined = dir.to_vec();
    if !dir.is_empty() {
        joined.push(b'/');
    }
    joined.extend_from_slice(name);
    let rooted = joined.first() == Some(&b'/');
    let cleaned = clean(&joined);
    match (rooted, cleaned.is_empty()) {
        (true, _) => [&b"/"[..], &cleaned].concat(),
        (false, true) => {
            // Go's Clean of a relative path that cancels out is ".".
            if joined.split(|&b| b == b'/').any(|c| c == b"..") {
                relative_clean(&joined)
            } else {
                b".".to_vec()
            }
        }
        (false, false) => relative_clean(&joined),
    }
}

/// Go's `path.Clean` for a relative path (leading `..` are kept).
fn relative_clean(p: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if parts.last().is_some_and(|l| *l != b"..") {
                    parts.pop();
                } else {
                    parts.push(c);
                }
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return b".".to_vec();
    }
    parts.join(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        assert_eq!(clean(b"./a"), b"a");
        assert_eq!(clean(b"/a//b/"), b"a/b");
        assert_eq!(clean(b"a/../b"), b"b");
        assert_eq!(clean(b"../../etc/passwd"), b"etc/passwd");
        assert_eq!(clean(b"."), b"");
        assert_eq!(clean(b""), b"");
    }

    #[test]
    fn joining() {
        assert_eq!(join(b"./etc/", b"removed"), b"etc/removed");
        assert_eq!(join(b"", b"x"), b"x");
        assert_eq!(join(b"", b""), b"");
        assert_eq!(join(b"a/", b""), b"a");
        assert_eq!(join(b"/a/", b"b"), b"/a/b");
        assert_eq!(join(b"../", b"x"), b"../x");
        assert_eq!(join(b"a/", b".."), b".");
    }

    #[test]
    fn splitting() {
        assert_eq!(split(b"a/b/c"), (&b"a/b/"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
        assert_eq!(split(b"a/"), (&b"a/"[..], &b""[..]));
    }
}
