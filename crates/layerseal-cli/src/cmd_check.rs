//! Checking: `verify` (an image against a root hash) and `fsverity-digest`.

use std::path::PathBuf;

use clap::ValueEnum;
use layerseal::check::{check_image, CheckError};
use serde_json::json;

use crate::shared::exit;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum HashAlg {
    Sha256,
    Sha512,
}

#[derive(clap::Args)]
pub(crate) struct VerifyCmd {
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
}

pub(crate) fn run_verify(c: VerifyCmd) -> Result<i32, String> {
    let VerifyCmd {
        file,
        root_hash,
        hash_dev,
        hash_offset,
        json,
    } = c;
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

#[derive(clap::Args)]
pub(crate) struct FsverityDigestCmd {
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
}

pub(crate) fn run_fsveritydigest(c: FsverityDigestCmd) -> Result<i32, String> {
    let FsverityDigestCmd {
        files,
        hash_alg,
        threads,
        json,
    } = c;
    use layerseal::verity::{fsverity, Algorithm};
    let (alg, name) = match hash_alg {
        HashAlg::Sha256 => (Algorithm::Sha256, "sha256"),
        HashAlg::Sha512 => (Algorithm::Sha512, "sha512"),
    };
    let mut out = Vec::new();
    for f in &files {
        let d =
            fsverity::digest_file(f, alg, threads).map_err(|e| format!("{}: {e}", f.display()))?;
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
