//! The CLI's shared pieces: exit codes, the format and UUID choices, the
//! registry argument group, progress bars, sizes and messages.

use clap::ValueEnum;
use layerseal::ext4::LAYOUT_128G;
use layerseal::layer::{ErofsUuid, FsFormat};
use layerseal::source::{open_image_with, Image, ImageRef, Platform, RegistryOptions};
use std::fs::File;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

pub mod exit {
    pub const OK: i32 = 0;
    /// Bad input, I/O failure, refused layer.
    pub const FAILED: i32 = 1;
    /// Bad command line.
    pub const USAGE: i32 = 2;
    /// `verify` found the image does not match the root hash.
    pub const MISMATCH: i32 = 3;
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// ext4 as hcsshim's tar2ext4 writes it (dm-verity appended).
    Ext4,
    /// EROFS as mkfs.erofs 1.9.3 writes it for containerd (dm-verity appended,
    /// FILE.dmverity sidecar).
    Erofs,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum UuidFrom {
    /// The layer blob's digest as given (what containerd's differ uses).
    Blob,
    /// The diff_id (what containerd's image converter uses).
    Diffid,
}

/// Parse a UUID written with or without dashes.
pub(crate) fn parse_uuid(s: &str) -> Result<[u8; 16], String> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let bytes = hex::decode(&hex).map_err(|_| format!("not a UUID: {s:?}"))?;
    bytes
        .try_into()
        .map_err(|_| format!("not a UUID (16 bytes): {s:?}"))
}

impl Format {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Ext4 => "ext4",
            Format::Erofs => "erofs",
        }
    }

    pub(crate) fn fs(self) -> FsFormat {
        match self {
            Format::Ext4 => FsFormat::Ext4,
            Format::Erofs => FsFormat::Erofs,
        }
    }
}

pub(crate) fn check_tar_index(tar_index: bool, format: Format) -> Result<(), String> {
    if tar_index && !matches!(format, Format::Erofs) {
        return Err("--tar-index needs --format erofs".into());
    }
    Ok(())
}

pub(crate) fn erofs_uuid(from: UuidFrom, fixed: Option<[u8; 16]>) -> ErofsUuid {
    match (fixed, from) {
        (Some(u), _) => ErofsUuid::Fixed(u),
        (None, UuidFrom::Blob) => ErofsUuid::BlobDigest,
        (None, UuidFrom::Diffid) => ErofsUuid::DiffId,
    }
}

/// How to reach a registry (docker:// images).
#[derive(clap::Args)]
pub(crate) struct RegistryArgs {
    /// Registry user name (else the docker config's credentials, else anonymous).
    #[arg(short, long)]
    username: Option<String>,
    /// Registry password or token (also read from LAYERSEAL_PASSWORD).
    #[arg(short, long, env = "LAYERSEAL_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// PEM file of the CA certificate(s) the registry's TLS certificate chains to.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Use plain HTTP (loopback registries are tried over HTTP after HTTPS anyway).
    #[arg(long)]
    plain_http: bool,
    /// Seconds a registry connection may send nothing before it is dropped
    /// and retried (blobs resume where they stopped).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    read_timeout: u64,
    /// Directory of certificates for the registry (skopeo's --cert-dir): *.crt CAs,
    /// *.cert + *.key client certificate. /etc/docker/certs.d/HOST:PORT and
    /// /etc/containers/certs.d/HOST:PORT are read as well.
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Verify the registry's TLS certificate (--tls-verify=false accepts any: only
    /// for registries you reach over a network you trust).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    tls_verify: bool,
}

impl RegistryArgs {
    pub(crate) fn options(&self) -> RegistryOptions {
        RegistryOptions {
            username: self.username.clone(),
            password: self.password.clone(),
            ca_file: self.ca_file.clone(),
            plain_http: self.plain_http,
            docker_config: true,
            read_timeout: Some(std::time::Duration::from_secs(self.read_timeout.max(1))),
            cert_dir: self.cert_dir.clone(),
            insecure_skip_tls_verify: !self.tls_verify,
        }
    }
}

/// `$XDG_CACHE_HOME/layerseal` or `~/.cache/layerseal`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("layerseal"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache/layerseal"))
}

pub(crate) fn open(image: &str, platform: &str, registry: &RegistryArgs) -> Result<Image, String> {
    let platform = Platform::parse(platform)?;
    let r = ImageRef::parse(image).map_err(|e| e.to_string())?;
    open_image_with(&r, &platform, &registry.options()).map_err(|e| e.to_string())
}

/// Called with (layer index, compressed bytes read).
use layerseal::layer_stream::ProgressFn;

/// Per-layer progress bars on stderr when it is a terminal.
pub(crate) fn layer_progress(
    image: &Image,
) -> (Option<ProgressFn>, Option<indicatif::MultiProgress>) {
    if !std::io::stderr().is_terminal() {
        return (None, None);
    }
    let multi = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template(
        "layer {prefix:>2} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bars: Vec<indicatif::ProgressBar> = image
        .layers
        .iter()
        .map(|l| {
            let b = multi.add(indicatif::ProgressBar::new(l.size.unwrap_or(0)));
            b.set_style(style.clone());
            b.set_prefix(l.index.to_string());
            b
        })
        .collect();
    let f: ProgressFn = Arc::new(move |i, n| {
        if let Some(b) = bars.get(i) {
            if b.length() == Some(0) {
                b.set_length(n);
            }
            b.set_position(n);
        }
    });
    (Some(f), Some(multi))
}

/// Print a usage error and give its exit code.
pub(crate) fn usage(message: &str) -> Result<i32, String> {
    eprintln!("layerseal: {message}");
    Ok(exit::USAGE)
}

/// Sizes like `16GiB`, `128G`, `4096`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        "t" | "tib" | "tb" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use KiB, MiB, GiB, TiB)"
            ))
        }
    };
    let v = n
        .checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))?;
    if v == 0 || v > 16 << 40 {
        return Err("size must be between 1 byte and 16TiB".into());
    }
    Ok(v)
}

pub(crate) fn progress_for(file: &File, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Default layout (for docs and tests).
pub const DEFAULT_MAX_DISK_SIZE: u64 = LAYOUT_128G;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16GiB"), Ok(16 << 30));
        assert_eq!(parse_size("128G"), Ok(128 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999").is_err());
    }
}
