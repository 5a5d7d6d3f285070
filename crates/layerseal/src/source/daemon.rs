//! The Docker daemon: the Engine API's image export (`GET
//! /images/{name}/get`, a docker-archive) over the unix socket, read as
//! one stream. No temporary copy of the export is made.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use super::error::SourceError;

/// The socket `DOCKER_HOST` names (default `/var/run/docker.sock`).
pub fn socket_path() -> Result<PathBuf, SourceError> {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => match h.strip_prefix("unix://") {
            Some(p) => Ok(PathBuf::from(p)),
            None => Err(SourceError::Unsupported(format!(
                "DOCKER_HOST={h}: only unix:// sockets are supported (use docker save to an archive for remote daemons)"
            ))),
        },
        _ => Ok(PathBuf::from("/var/run/docker.sock")),
    }
}

fn url_path_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'/'
            | b':'
            | b'@' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A response body: chunked, sized, or until the connection closes.
enum Body<R> {
    Chunked { inner: R, left: u64, done: bool },
    Sized { inner: R, left: u64 },
    Close(R),
}

/// Read at most `left` bytes; running dry first is an error.
fn read_limited<R: Read>(
    inner: &mut R,
    buf: &mut [u8],
    left: &mut u64,
    what: &str,
) -> io::Result<usize> {
    let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
    let n = inner.read(&mut buf[..want])?;
    if n == 0 && want > 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("daemon closed the connection {what}"),
        ));
    }
    *left -= n as u64;
    Ok(n)
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Sized { inner, left } => {
                if *left == 0 {
                    return Ok(0);
                }
                read_limited(inner, buf, left, "early")
            }
            Body::Close(inner) => inner.read(buf),
            Body::Chunked { inner, left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let mut line = String::new();
                    inner.read_line(&mut line)?;
                    if line.trim().is_empty() {
                        line.clear();
                        inner.read_line(&mut line)?;
                    }
                    let size = line.trim().split(';').next().unwrap_or("");
                    *left = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("bad chunk size {size:?}"),
                        )
                    })?;
                    if *left == 0 {
                        *done = true;
                        return Ok(0);
                    }
                }
                read_limited(inner, buf, left, "mid-chunk")
            }
        }
    }
}

/// GET `path` on the daemon: (status, body reader).
fn get(path: &str) -> Result<(u16, Box<dyn Read + Send>), SourceError> {
    let sock = socket_path()?;
    let stream = UnixStream::connect(&sock).map_err(|e| {
        SourceError::Remote(format!(
            "cannot connect to the Docker daemon at unix://{}: {e} (is the daemon running?)",
            sock.display()
        ))
    })?;
    let mut w = stream.try_clone().map_err(|e| SourceError::Io {
        path: sock.clone(),
        source: e,
    })?;
    write!(
        w,
        "GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: layerseal\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| SourceError::Io {
        path: sock.clone(),
        source: e,
    })?;
    let mut r = BufReader::with_capacity(1 << 20, stream);
    let mut status_line = String::new();
    r.read_line(&mut status_line).map_err(|e| SourceError::Io {
        path: sock.clone(),
        source: e,
    })?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            SourceError::Remote(format!(
                "Docker daemon at {}: not an HTTP answer: {status_line:?}",
                sock.display()
            ))
        })?;
    let (mut chunked, mut length) = (false, None);
    loop {
        let mut line = String::new();
        r.read_line(&mut line).map_err(|e| SourceError::Io {
            path: sock.clone(),
            source: e,
        })?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
                "content-length" => length = v.trim().parse::<u64>().ok(),
                _ => {}
            }
        }
    }
    let body: Box<dyn Read + Send> = if chunked {
        Box::new(Body::Chunked {
            inner: r,
            left: 0,
            done: false,
        })
    } else if let Some(n) = length {
        Box::new(Body::Sized { inner: r, left: n })
    } else {
        Box::new(Body::Close(r))
    };
    Ok((status, body))
}

fn daemon_message(mut body: Box<dyn Read + Send>) -> String {
    let mut s = String::new();
    let _ = body.by_ref().take(64 << 10).read_to_string(&mut s);
    serde_json::from_str::<serde_json::Value>(&s)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| s.trim().to_string())
}

/// Stream the export of `reference` (a docker-archive).
pub fn export(reference: &str) -> Result<Box<dyn Read + Send>, SourceError> {
    let name = url_path_escape(reference);
    let (status, body) = get(&format!("/images/{name}/json"))?;
    match status {
        200 => {}
        404 => {
            return Err(SourceError::Remote(format!(
                "docker-daemon:{reference}: {}",
                daemon_message(body)
            )))
        }
        s => {
            return Err(SourceError::Remote(format!(
                "docker-daemon:{reference}: HTTP {s}: {}",
                daemon_message(body)
            )))
        }
    }
    let (status, body) = get(&format!("/images/{name}/get"))?;
    if status != 200 {
        return Err(SourceError::Remote(format!(
            "docker-daemon:{reference}: export: HTTP {status}: {}",
            daemon_message(body)
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies() {
        let raw = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let mut b = Body::Chunked {
            inner: &raw[..],
            left: 0,
            done: false,
        };
        let mut s = String::new();
        b.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello world");
        let mut cut = Body::Chunked {
            inner: &b"5\r\nhel"[..],
            left: 0,
            done: false,
        };
        assert!(cut.read_to_string(&mut String::new()).is_err());
    }

    #[test]
    fn escaping() {
        assert_eq!(
            url_path_escape("real/bookworm:latest"),
            "real/bookworm:latest"
        );
        assert_eq!(url_path_escape("a b?"), "a%20b%3F");
    }
}
