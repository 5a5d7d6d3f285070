//! The native `layerseal` command line.

use std::fs::File;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use layerseal::check::{check_image, CheckError};
use layerseal::erofs::MkfsOptions;
use layerseal::ext4::LAYOUT_128G;
use layerseal::layer::{
    convert_layer_from, ErofsUuid, FsFormat, LayerError, LayerOptions, Outputs,
};
use layerseal::pipeline::{
    convert_image, convert_reference, ImageOptions, LayerResult, OutputPlan,
};
use layerseal::source::{open_image_with, Image, ImageRef, Platform, RegistryOptions};
use serde_json::json;
use std::sync::Arc;

use crate::erofs_args::{erofs_layer_json, ErofsArgs};

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
enum Format {
    /// ext4 as hcsshim's tar2ext4 writes it (dm-verity appended).
    Ext4,
    /// EROFS as mkfs.erofs 1.9.3 writes it for containerd (dm-verity appended,
    /// FILE.dmverity sidecar).
    Erofs,
}

#[derive(Clone, Copy, ValueEnum)]
enum UuidFrom {
    /// The layer blob's digest as given (what containerd's differ uses).
    Blob,
    /// The diff_id (what containerd's image converter uses).
    Diffid,
}

/// Parse a UUID written with or without dashes.
fn parse_uuid(s: &str) -> Result<[u8; 16], String> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let bytes = hex::decode(&hex).map_err(|_| format!("not a UUID: {s:?}"))?;
    bytes
        .try_into()
        .map_err(|_| format!("not a UUID (16 bytes): {s:?}"))
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Ext4 => "ext4",
            Format::Erofs => "erofs",
        }
    }

    fn fs(self) -> FsFormat {
        match self {
            Format::Ext4 => FsFormat::Ext4,
            Format::Erofs => FsFormat::Erofs,
        }
    }
}

fn check_tar_index(tar_index: bool, format: Format) -> Result<(), String> {
    if tar_index && !matches!(format, Format::Erofs) {
        return Err("--tar-index needs --format erofs".into());
    }
    Ok(())
}

fn erofs_uuid(from: UuidFrom, fixed: Option<[u8; 16]>) -> ErofsUuid {
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
    Layer {
        /// The layer tar; gzip and zstd are detected by their magic bytes.
        tar: PathBuf,
        /// Write the image here (written to a temporary name, renamed when complete).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Filesystem format.
        #[arg(long, value_enum, default_value = "ext4")]
        format: Format,
        /// Append a fixed VHD footer (to each file written).
        #[arg(long)]
        vhd: bool,
        /// Write the verity superblock and hash tree to this separate file.
        #[arg(long, requires = "output")]
        hash_dev: Option<PathBuf>,
        /// Metadata reservation: 128GiB is what hashlayer/roothash/create use,
        /// 16GiB what tar2hashed uses. The root hash depends on it.
        #[arg(long, default_value = "128GiB", value_parser = parse_size)]
        max_disk_size: u64,
        /// Hashing threads (0 = all cores).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// EROFS UUID source: uuid5(URL, "erofs:blobs/" + digest) of the blob or the diff_id.
        #[arg(long, value_enum, default_value = "blob")]
        uuid_from: UuidFrom,
        /// EROFS UUID to use instead.
        #[arg(long, value_parser = parse_uuid)]
        erofs_uuid: Option<[u8; 16]>,
        /// dm-verity superblock UUID (default: derived from the root hash).
        #[arg(long, value_parser = parse_uuid)]
        verity_uuid: Option<[u8; 16]>,
        /// EROFS only: write a tar-index image (`mkfs.erofs --tar=i`) followed by
        /// the tar itself, with 512-byte dm-verity blocks (containerd's
        /// `enable_tar_index`).
        #[arg(long)]
        tar_index: bool,
        #[command(flatten)]
        erofs: ErofsArgs,
        /// Print a JSON object instead of the bare root hash.
        #[arg(long)]
        json: bool,
    },
    /// Root hashes of every layer of an image, in manifest order.
    ///
    /// IMAGE: docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// docker-archive:FILE[:REF], docker-daemon:REF (not yet), a path to a
    /// layout directory or archive, or a bare registry reference.
    Roothash {
        image: String,
        #[command(flatten)]
        common: ImageArgs,
        /// Print JSON (layers with digest, diff_id and root hash).
        #[arg(long)]
        json: bool,
    },
    /// Write one image file per layer: OUT/<diff_id hex>.vhd (as dmverity-vhd create).
    Create {
        image: String,
        /// Output directory (created if missing).
        #[arg(short, long)]
        out_dir: PathBuf,
        /// Put each hash tree in its own OUT/<blob path>.hash-dev.vhd.
        #[arg(long)]
        hash_dev: bool,
        /// Write raw images (.img) instead of VHDs (ext4).
        #[arg(long)]
        raw: bool,
        /// With --format erofs: lay files out as containerd's layer content
        /// cache expects (OUT/sha256/<xx>/<diffID>.erofs + .erofs.dmverity).
        #[arg(long)]
        containerd_cache: bool,
        #[command(flatten)]
        common: ImageArgs,
        #[arg(long)]
        json: bool,
    },
    /// Show an image's platform, config and layers (digests, sizes, diff_ids).
    Inspect {
        image: String,
        /// Platform to select from a multi-platform index.
        #[arg(long, default_value = "linux/amd64")]
        platform: String,
        #[command(flatten)]
        registry: RegistryArgs,
        #[arg(long)]
        json: bool,
    },
    /// Check an image against a root hash, in userspace; names the first corrupt block.
    ///
    /// FILE may be a raw image with the tree appended, a VHD, or (with --hash-dev)
    /// the data part of an image whose tree is in a separate file. Exit code 3 when
    /// the data or tree does not match.
    Verify {
        file: PathBuf,
        /// The expected dm-verity root hash (hex).
        #[arg(long)]
        root_hash: String,
        /// Separate hash device (verity superblock + tree), raw or VHD.
        #[arg(long)]
        hash_dev: Option<PathBuf>,
        /// Where the verity superblock starts (default: after the filesystem,
        /// or 0 in --hash-dev).
        #[arg(long)]
        hash_offset: Option<u64>,
        #[arg(long)]
        json: bool,
    },
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
    FsverityDigest {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Hash algorithm.
        #[arg(long, value_enum, default_value = "sha256")]
        hash_alg: HashAlg,
        /// Hashing threads (0 = all cores).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// One JSON array of {file, digest} instead of lines.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum HashAlg {
    Sha256,
    Sha512,
}

#[derive(clap::Args)]
struct ImageArgs {
    /// Platform to select from a multi-platform index (os/arch[/variant]).
    #[arg(long, default_value = "linux/amd64")]
    platform: String,
    /// Metadata reservation (changes root hashes; see `layer --help`).
    #[arg(long, default_value = "128GiB", value_parser = parse_size)]
    max_disk_size: u64,
    /// Layers converted at once (0 = one per core).
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Do not read or write the root-hash cache (keyed by diff_id).
    #[arg(long)]
    no_cache: bool,
    /// Filesystem format.
    #[arg(long, value_enum, default_value = "ext4")]
    format: Format,
    /// EROFS UUID source (containerd's differ: blob; its converter: diffid).
    #[arg(long, value_enum, default_value = "blob")]
    uuid_from: UuidFrom,
    /// EROFS only: tar-index layers (index image + the tar, 512-byte verity blocks).
    #[arg(long)]
    tar_index: bool,
    #[command(flatten)]
    erofs: ErofsArgs,
    #[command(flatten)]
    registry: RegistryArgs,
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

fn image_options(
    image: &Image,
    c: &ImageArgs,
    mkfs: &MkfsOptions,
) -> (ImageOptions, Option<indicatif::MultiProgress>) {
    let (progress, multi) = layer_progress(image);
    let opts = ImageOptions {
        max_disk_size: c.max_disk_size,
        outputs: None,
        jobs: c.jobs,
        cache: if c.no_cache {
            None
        } else {
            default_cache_dir()
        },
        progress,
        format: c.format.fs(),
        erofs_uuid: erofs_uuid(c.uuid_from, None),
        tar_index: c.tar_index,
        mkfs: mkfs.clone(),
    };
    (opts, multi)
}

/// Layers of a converted image, its platform and manifest digest.
type Converted = (Vec<LayerResult>, Option<String>, Option<String>);

/// Convert an image reference.
fn run_image(
    image: &str,
    common: &ImageArgs,
    mkfs: &MkfsOptions,
    outputs: Option<OutputPlan>,
) -> Result<Converted, String> {
    check_tar_index(common.tar_index, common.format)?;
    let r = ImageRef::parse(image).map_err(|e| e.to_string())?;
    let platform = Platform::parse(&common.platform)?;
    let cache = if common.no_cache {
        None
    } else {
        default_cache_dir()
    };
    if let ImageRef::DockerDaemon(_) = r {
        let opts = ImageOptions {
            max_disk_size: common.max_disk_size,
            outputs,
            jobs: common.jobs,
            cache,
            progress: None,
            format: common.format.fs(),
            erofs_uuid: erofs_uuid(common.uuid_from, None),
            tar_index: common.tar_index,
            mkfs: mkfs.clone(),
        };
        let layers = convert_reference(&r, &platform, &common.registry.options(), &opts)?;
        return Ok((layers, None, None));
    }
    let img = open(image, &common.platform, &common.registry)?;
    let (mut opts, multi) = image_options(&img, common, mkfs);
    opts.outputs = outputs;
    let result = convert_image(&img, &opts);
    if let Some(m) = multi {
        let _ = m.clear();
    }
    let layers = result.map_err(|e| format!("{image}: {e}"))?;
    Ok((
        layers,
        img.platform.as_ref().map(ToString::to_string),
        img.manifest_digest.as_ref().map(ToString::to_string),
    ))
}

/// Per layer: digests, root hash, files; for EROFS also the UUID, mkfs
/// options, release and sizes a policy generator consumes.
fn layers_json(
    layers: &[LayerResult],
    common: &ImageArgs,
    mkfs: &MkfsOptions,
) -> serde_json::Value {
    json!(layers
        .iter()
        .map(|l| {
            let mut v = json!({
                "index": l.index,
                "digest": l.digest.as_ref().map(ToString::to_string),
                "diff_id": l.diff_id.to_string(),
                "root_hash": l.root_hash,
                "image": l.image,
                "hash_device": l.hash_device,
                "cached": l.cached,
            });
            if matches!(common.format, Format::Erofs) {
                let extra = erofs_layer_json(l, mkfs, matches!(common.uuid_from, UuidFrom::Diffid));
                if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
                    o.extend(e);
                    o.insert("tar_index".into(), json!(common.tar_index));
                }
            }
            v
        })
        .collect::<Vec<_>>())
}

/// Print a usage error and give its exit code.
fn usage(message: &str) -> Result<i32, String> {
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

fn progress_for(file: &File, what: &str) -> indicatif::ProgressBar {
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
        Command::Layer {
            tar,
            output,
            format,
            vhd,
            hash_dev,
            max_disk_size,
            threads,
            uuid_from,
            erofs_uuid: fixed_uuid,
            verity_uuid,
            tar_index,
            erofs,
            json,
        } => {
            check_tar_index(tar_index, format)?;
            let mkfs = match erofs.resolve(matches!(format, Format::Erofs)) {
                Ok(m) => m,
                Err(e) => return usage(&e),
            };
            let file = File::open(&tar).map_err(|e| format!("{}: {e}", tar.display()))?;
            let bar = progress_for(&file, &tar.display().to_string());
            let opts = LayerOptions {
                max_disk_size,
                outputs: Outputs {
                    image: output.clone(),
                    hash_device: hash_dev.clone(),
                    vhd,
                },
                threads,
                format: format.fs(),
                erofs_uuid: erofs_uuid(uuid_from, fixed_uuid),
                verity_uuid,
                tar_index,
                mkfs: mkfs.clone(),
            };
            let data_file = file.try_clone().ok();
            let result = convert_layer_from(bar.wrap_read(file), data_file, &opts);
            bar.finish_and_clear();
            let r = result.map_err(|e| match e {
                LayerError::Convert(c) => format!("{}: {}", tar.display(), c.detailed()),
                LayerError::NotTar => {
                    format!("{}: not a tar archive (after decompression)", tar.display())
                }
                other => format!("{}: {other}", tar.display()),
            })?;
            if json {
                let mut v = json!({
                    "root_hash": r.root_hash,
                    "format": match format { Format::Ext4 => "ext4", Format::Erofs => "erofs" },
                    "input": tar,
                    "compression": r.compression.name(),
                    "max_disk_size": max_disk_size,
                    "image": output,
                    "hash_device": hash_dev,
                    "vhd": vhd && output.is_some(),
                    "filesystem_size": r.image_size,
                    "hash_offset": if hash_dev.is_some() { 0 } else { r.image_size },
                    "hash_tree_size": r.tree_size,
                    "data_blocks": r.data_blocks,
                    "verity_uuid": hex::encode(r.verity_uuid),
                });
                if let (Format::Erofs, Some(o)) = (format, v.as_object_mut()) {
                    o.insert("mkfs_options".into(), json!(mkfs.words()));
                    o.insert("erofs_utils".into(), json!(mkfs.version.reproduces()));
                    o.insert("tar_index".into(), json!(tar_index));
                }
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            } else {
                println!("{}", r.root_hash);
            }
            Ok(exit::OK)
        }
        Command::Roothash {
            image,
            common,
            json,
        } => {
            let mkfs = match common.erofs.resolve(matches!(common.format, Format::Erofs)) {
                Ok(m) => m,
                Err(e) => return usage(&e),
            };
            let (layers, platform, manifest) = run_image(&image, &common, &mkfs, None)?;
            if json {
                let v = json!({"image": image, "platform": platform, "manifest_digest": manifest,
                    "format": common.format.name(), "layers": layers_json(&layers, &common, &mkfs)});
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            } else {
                for l in &layers {
                    println!("{}", l.root_hash);
                }
            }
            Ok(exit::OK)
        }
        Command::Create {
            image,
            out_dir,
            hash_dev,
            raw,
            containerd_cache,
            common,
            json,
        } => {
            let erofs = matches!(common.format, Format::Erofs);
            let mkfs = match common.erofs.resolve(erofs) {
                Ok(m) => m,
                Err(e) => return usage(&e),
            };
            std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
            let plan = OutputPlan {
                dir: out_dir.clone(),
                hash_device: hash_dev,
                vhd: !raw && !erofs,
                erofs,
                containerd_cache,
            };
            let (layers, _, _) = run_image(&image, &common, &mkfs, Some(plan))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"image": image,
                        "format": common.format.name(), "layers": layers_json(&layers, &common, &mkfs)}))
                    .expect("json")
                );
            } else {
                for l in &layers {
                    if let Some(p) = &l.image {
                        println!("{}  {}", l.root_hash, p.display());
                    }
                }
            }
            Ok(exit::OK)
        }
        Command::Inspect {
            image,
            platform,
            registry,
            json,
        } => {
            let img = open(&image, &platform, &registry)?;
            let layers: Vec<serde_json::Value> = img
                .layers
                .iter()
                .map(|l| json!({"index": l.index, "path": l.path, "digest": l.digest.as_ref().map(ToString::to_string),
                    "size": l.size, "media_type": l.media_type, "diff_id": l.diff_id.to_string()}))
                .collect();
            if json {
                let v = json!({
                    "image": image,
                    "platform": img.platform.as_ref().map(ToString::to_string),
                    "manifest_digest": img.manifest_digest.as_ref().map(ToString::to_string),
                    "config_digest": img.config_digest.as_ref().map(ToString::to_string),
                    "config": img.config,
                    "layers": layers,
                });
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            } else {
                println!("image     {image}");
                if let Some(p) = &img.platform {
                    println!("platform  {p}");
                }
                if let Some(d) = &img.manifest_digest {
                    println!("manifest  {d}");
                }
                if let Some(d) = &img.config_digest {
                    println!("config    {d}");
                }
                for l in &img.layers {
                    let size = l.size.map_or_else(|| "?".to_string(), |s| s.to_string());
                    let digest = l
                        .digest
                        .as_ref()
                        .map_or_else(|| l.path.clone(), ToString::to_string);
                    println!(
                        "layer {:>2}  {digest}  {size} bytes  diff_id {}",
                        l.index, l.diff_id
                    );
                }
            }
            Ok(exit::OK)
        }
        Command::Verify {
            file,
            root_hash,
            hash_dev,
            hash_offset,
            json,
        } => {
            if root_hash.len() % 2 != 0 || hex::decode(&root_hash).is_err() {
                return Err(format!("--root-hash {root_hash:?} is not hex"));
            }
            match check_image(&file, hash_dev.as_deref(), hash_offset, &root_hash) {
                Ok(r) => {
                    if json {
                        let v = json!({"ok": true, "root_hash": root_hash.to_lowercase(), "data_size": r.data_size,
                            "hash_offset": r.hash_offset, "data_blocks": r.data_blocks, "vhd": r.vhd_footer});
                        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
                    } else {
                        println!(
                            "{}: OK, {} data blocks match root hash {}",
                            file.display(),
                            r.data_blocks,
                            root_hash.to_lowercase()
                        );
                    }
                    Ok(exit::OK)
                }
                Err(CheckError::Corrupt { path, corruption }) => {
                    if json {
                        let v = json!({"ok": false, "file": path, "error": corruption.to_string()});
                        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
                    }
                    eprintln!("layerseal: {}: {corruption}", path.display());
                    Ok(exit::MISMATCH)
                }
                Err(e) => Err(e.to_string()),
            }
        }
        Command::Composefs(args) => crate::composefs_cli::run(args),
        Command::FsverityDigest {
            files,
            hash_alg,
            threads,
            json,
        } => {
            use layerseal::verity::{fsverity, Algorithm};
            let (alg, name) = match hash_alg {
                HashAlg::Sha256 => (Algorithm::Sha256, "sha256"),
                HashAlg::Sha512 => (Algorithm::Sha512, "sha512"),
            };
            let mut out = Vec::new();
            for f in &files {
                let d = fsverity::digest_file(f, alg, threads)
                    .map_err(|e| format!("{}: {e}", f.display()))?;
                let digest = format!("{name}:{}", hex::encode(d));
                if json {
                    out.push(json!({"file": f, "digest": digest}));
                } else {
                    println!("{digest} {}", f.display());
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&out).expect("json"));
            }
            Ok(exit::OK)
        }
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
