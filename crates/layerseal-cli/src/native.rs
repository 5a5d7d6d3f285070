//! The native `layerseal` command line.

use std::fs::File;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use layerseal::ext4::LAYOUT_128G;
use layerseal::layer::{ErofsUuid, FsFormat};
use layerseal::source::{open_image_with, Image, ImageRef, Platform, RegistryOptions};
use std::sync::Arc;

/// Exit codes scripts can rely on.
pub mod exit {
    pub const OK: i32 = 0;
    /// Bad input, I/O failure, refused layer.
    pub const FAILED: i32 = 1;
    /// Bad command line.
    pub const USAGE: i32 = 2;
    /// `verify` found the image does not match the root hash.
    pub const MISMATCH: i32 = 3;
}

#[derive(Parser)]
#[command(
    name = "layerseal",
    version,
    about = "Turn OCI layers into integrity-protected filesystem images",
    long_about = "Turn OCI layers into integrity-protected filesystem images.\n\n\
        ext4 images are byte-identical to what hcsshim's tar2ext4 (and so Microsoft's \
        dmverity-vhd and the Azure confidential-container host) produces, so the dm-verity \
        root hashes printed here are the ones a policy must pin.\n\n\
        Exit codes: 0 success, 1 failure (bad input, I/O), 2 usage error, 3 verification mismatch."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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

#[derive(Subcommand)]
enum Command {
    /// Convert one layer tar (plain, gzip or zstd) and print its dm-verity root hash.
    ///
    /// Without -o only the root hash is computed (nothing is written), like
    /// `dmverity-vhd hashlayer`. With -o the image is written with its hash tree
    /// appended (or in --hash-dev), optionally as a fixed VHD.
    Layer(crate::cmd_layer::LayerCmd),

    /// Root hashes of every layer of an image, in manifest order.
    ///
    /// IMAGE: docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// docker-archive:FILE[:REF], docker-daemon:REF (not yet), a path to a
    /// layout directory or archive, or a bare registry reference.
    Roothash(crate::cmd_image::RoothashCmd),

    /// Write one image file per layer: OUT/<diff_id hex>.vhd (as dmverity-vhd create).
    Create(crate::cmd_image::CreateCmd),

    /// Show an image's platform, config and layers (digests, sizes, diff_ids).
    Inspect(crate::cmd_image::InspectCmd),

    /// Check an image against a root hash, in userspace; names the first corrupt block.
    ///
    /// FILE may be a raw image with the tree appended, a VHD, or (with --hash-dev)
    /// the data part of an image whose tree is in a separate file. Exit code 3 when
    /// the data or tree does not match.
    Verify(crate::cmd_check::VerifyCmd),

    /// composefs: images byte-identical to mkcomposefs, a composefs-rs
    /// repository (OCI pull, image ids equal to `cfsctl oci compute-id`),
    /// PKCS#7 signatures, fsck/gc and mounting.
    Composefs(crate::composefs_cli::ComposefsArgs),
    /// mkfs.erofs for layer tars: the invocations containerd's EROFS differ, the
    /// Kata policy generator and Notation's signer make, answered with the bytes
    /// erofs-utils 1.9.3 writes. `layerseal mkfs-erofs --help` lists them; a
    /// symlink named mkfs.erofs to this binary behaves the same.
    #[command(name = "mkfs-erofs", disable_help_flag = true)]
    MkfsErofs {
        /// mkfs.erofs's own arguments, e.g. --tar=f --aufs --quiet -Enoinline_data
        /// -b4096 -T0 --mkfs-time -U UUID layer.erofs < layer.tar
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// fs-verity digests of files, as `fsverity digest` prints them
    /// (`ALG:HEX FILE`): the name composefs gives each object.
    FsverityDigest(crate::cmd_check::FsverityDigestCmd),
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

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("layerseal: {message}");
            exit::FAILED
        }
    }
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

fn run(cli: Cli) -> Result<i32, String> {
    match cli.command {
        Command::MkfsErofs { args } => Ok(crate::mkfs_erofs::run("layerseal mkfs-erofs", &args)),
        Command::Layer(c) => crate::cmd_layer::run_layer(c),
        Command::Roothash(c) => crate::cmd_image::run_roothash(c),
        Command::Create(c) => crate::cmd_image::run_create(c),
        Command::Inspect(c) => crate::cmd_image::run_inspect(c),
        Command::Verify(c) => crate::cmd_check::run_verify(c),
        Command::Composefs(args) => crate::composefs_cli::run(args),
        Command::FsverityDigest(c) => crate::cmd_check::run_fsveritydigest(c),
    }
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
