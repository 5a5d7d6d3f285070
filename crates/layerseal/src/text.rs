//! Names in messages: a tar entry name can be megabytes long (PAX), and an
//! error that quotes it whole is unreadable. Names are shown lossily as
//! UTF-8 and cut to at most [`MAX_SHOWN`] bytes, keeping both ends.

/// The most bytes of a name a message quotes.
pub const MAX_SHOWN: usize = 200;

/// `name` for a message: whole when short, else its first and last bytes
/// around `…` and its length.
pub fn shown(name: &[u8]) -> String {
    if name.len() <= MAX_SHOWN {
        return String::from_utf8_lossy(name).into_owned();
    }
    let head = &name[..120];
    let tail = &name[name.len() - 60..];
    format!(
        "{}…{} ({} bytes)",
        String::from_utf8_lossy(head),
        String::from_utf8_lossy(tail),
        name.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_whole_long_names_cut() {
        assert_eq!(shown(b"etc/passwd"), "etc/passwd");
        let long = vec![b'x'; 5000];
        let s = shown(&long);
        assert!(s.len() < 220, "{}", s.len());
        assert!(s.ends_with("(5000 bytes)"));
        let exact = vec![b'y'; MAX_SHOWN];
        assert_eq!(shown(&exact).len(), MAX_SHOWN);
    }
}
