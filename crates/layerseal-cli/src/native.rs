//! The native `layerseal` command line.

use clap::{Parser, Subcommand};

pub use crate::shared::{default_cache_dir, exit, parse_size, DEFAULT_MAX_DISK_SIZE};

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

    /// Sign every layer's dm-verity root hash (PKCS#7, as the kernel verifies
    /// it) and publish the signatures as an OCI referrer in Notation's
    /// dm-verity format: into the image's OCI layout, to its registry
    /// (--push) or as files (-o DIR).
    Sign(crate::cmd_sign::SignCmd),

    /// Check an image's signed root hashes: the referrer artifact's signatures
    /// against a CA, their root hashes against the layers, every layer covered.
    /// Exit code 3 on any failure, naming the layer and the reason.
    VerifySignatures(crate::cmd_sign::VerifySignaturesCmd),

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
    /// Windows layers: the block-CIM writer's call plan (`windows plan`).
    Windows(crate::cmd_windows::WindowsArgs),
    /// fs-verity digests of files, as `fsverity digest` prints them
    /// (`ALG:HEX FILE`): the name composefs gives each object.
    FsverityDigest(crate::cmd_check::FsverityDigestCmd),
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

fn run(cli: Cli) -> Result<i32, String> {
    match cli.command {
        Command::MkfsErofs { args } => Ok(crate::mkfs_erofs::run("layerseal mkfs-erofs", &args)),
        Command::Layer(c) => crate::cmd_layer::run_layer(c),
        Command::Roothash(c) => crate::cmd_image::run_roothash(c),
        Command::Create(c) => crate::cmd_image::run_create(c),
        Command::Sign(c) => crate::cmd_sign::run_sign(c),
        Command::VerifySignatures(c) => crate::cmd_sign::run_verify_signatures(c),
        Command::Inspect(c) => crate::cmd_image::run_inspect(c),
        Command::Verify(c) => crate::cmd_check::run_verify(c),
        Command::Composefs(args) => crate::composefs_cli::run(args),
        Command::Windows(c) => crate::cmd_windows::run(c),
        Command::FsverityDigest(c) => crate::cmd_check::run_fsveritydigest(c),
    }
}
