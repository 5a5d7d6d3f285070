use std::path::PathBuf;

/// Why an image could not be read. Messages name the file, the blob and
/// what was expected.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not found")]
    NotFound(String),
    #[error("{what}: malformed: {detail}")]
    Malformed { what: String, detail: String },
    #[error("no image for platform {requested}; available: {}", available.join(", "))]
    NoPlatform {
        requested: String,
        available: Vec<String>,
    },
    #[error("{0}")]
    Ambiguous(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Remote(String),
}

pub fn malformed(what: impl Into<String>, detail: impl std::fmt::Display) -> SourceError {
    SourceError::Malformed {
        what: what.into(),
        detail: detail.to_string(),
    }
}
