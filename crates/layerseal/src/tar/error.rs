use std::fmt;
use std::io;
use std::sync::Arc;

/// The errors Go's reader can end a stream with. `Display` gives Go's exact
/// text, because dmverity-vhd prints it and scripts match on it.
#[derive(Debug, Clone)]
pub enum TarError {
    /// `io.ErrUnexpectedEOF`: the stream ended inside a header or data.
    UnexpectedEof,
    /// `tar.ErrHeader`: a malformed header, number, PAX record or sparse map.
    Header,
    /// `tar.ErrFieldTooLong`: a PAX or GNU long-name section over 1 MiB.
    FieldTooLong,
    /// A sparse map references more data than the archive stores.
    MissData,
    /// A sparse entry stores more data than its map uses.
    UnrefData,
    /// The underlying reader failed (not a format problem).
    Io(Arc<io::Error>),
}

impl fmt::Display for TarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TarError::UnexpectedEof => f.write_str("unexpected EOF"),
            TarError::Header => f.write_str("archive/tar: invalid tar header"),
            TarError::FieldTooLong => f.write_str("archive/tar: header field too long"),
            TarError::MissData => {
                f.write_str("archive/tar: sparse file references non-existent data")
            }
            TarError::UnrefData => {
                f.write_str("archive/tar: sparse file contains unreferenced data")
            }
            TarError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TarError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TarError::Io(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            TarError::UnexpectedEof
        } else if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<TarError>()) {
            inner.clone()
        } else {
            TarError::Io(Arc::new(e))
        }
    }
}

impl From<TarError> for io::Error {
    fn from(e: TarError) -> Self {
        match e {
            TarError::Io(inner) => io::Error::new(inner.kind(), TarError::Io(inner)),
            TarError::UnexpectedEof => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

impl TarError {
    /// The name the Go vectors use for this error.
    pub fn go_name(&self) -> &'static str {
        match self {
            TarError::UnexpectedEof => "ErrUnexpectedEOF",
            TarError::Header => "ErrHeader",
            TarError::FieldTooLong => "ErrFieldTooLong",
            TarError::MissData => "errMissData",
            TarError::UnrefData => "errUnrefData",
            TarError::Io(_) => "io",
        }
    }
}
