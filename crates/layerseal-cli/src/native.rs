//! The native `layerseal` command line.

use std::fs::File;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use layerseal::check::{check_image, CheckError};
use layerseal::ext4::LAYOUT_128G;
use layerseal::layer::{convert_layer, LayerError, LayerOptions, Outputs};
use serde_json::json;

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
        /// Print a JSON object instead of the bare root hash.
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
        Command::Layer {
            tar,
            output,
            format: Format::Ext4,
            vhd,
            hash_dev,
            max_disk_size,
            threads,
            json,
        } => {
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
            };
            let result = convert_layer(bar.wrap_read(file), &opts);
            bar.finish_and_clear();
            let r = result.map_err(|e| match e {
                LayerError::Convert(c) => format!("{}: {}", tar.display(), c.detailed()),
                LayerError::NotTar => {
                    format!("{}: not a tar archive (after decompression)", tar.display())
                }
                other => format!("{}: {other}", tar.display()),
            })?;
            if json {
                let v = json!({
                    "root_hash": r.root_hash,
                    "format": "ext4",
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
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            } else {
                println!("{}", r.root_hash);
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
