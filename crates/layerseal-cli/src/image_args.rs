//! The image argument group `roothash`, `create`, `sign` and
//! `verify-signatures` share (`ImageArgs`), and opening an image with it.

use layerseal::erofs::MkfsOptions;
use layerseal::pipeline::ImageOptions;
use layerseal::source::{Image, ImageRef};

use crate::erofs_args::ErofsArgs;
use crate::shared::{
    check_tar_index, default_cache_dir, erofs_uuid, layer_progress, open, parse_size, usage,
    Format, RegistryArgs, UuidFrom,
};

#[derive(clap::Args)]
pub(crate) struct ImageArgs {
    /// Platform to select from a multi-platform index (os/arch[/variant]).
    #[arg(long, default_value = "linux/amd64")]
    pub(crate) platform: String,
    /// Metadata reservation (changes root hashes; see `layer --help`).
    #[arg(long, default_value = "128GiB", value_parser = parse_size)]
    pub(crate) max_disk_size: u64,
    /// Layers converted at once (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub(crate) jobs: usize,
    /// Do not read or write the root-hash cache (keyed by diff_id).
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Filesystem format.
    #[arg(long, value_enum, default_value = "ext4")]
    pub(crate) format: Format,
    /// EROFS UUID source (containerd's differ: blob; its converter: diffid).
    #[arg(long, value_enum, default_value = "blob")]
    pub(crate) uuid_from: UuidFrom,
    /// EROFS only: tar-index layers (index image + the tar, 512-byte verity blocks).
    #[arg(long)]
    pub(crate) tar_index: bool,
    #[command(flatten)]
    pub(crate) erofs: ErofsArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

/// Windows layers are block CIMs, not ext4 or EROFS: computing Linux root
/// hashes for them would give values no Windows host presents.
pub(crate) fn refuse_windows(image: &str, img: &Image) -> Result<(), String> {
    if layerseal::windows::is_windows(img) {
        return Err(format!(
            "{image}: a Windows image. {} (then `layerseal roothash --precomputed FILE` checks and prints it)",
            layerseal::windows::NEEDS_WINDOWS
        ));
    }
    Ok(())
}

/// An opened image (not the daemon's stream: these commands need its
/// manifest) with the options its layers convert with.
pub(crate) struct Prepared {
    pub reference: ImageRef,
    pub image: Image,
    pub opts: ImageOptions,
    pub mkfs: MkfsOptions,
    pub multi: Option<indicatif::MultiProgress>,
}

/// Open `image` for `sign`, `verify-signatures` and `roothash
/// --from-referrers`. `Err(Ok(code))`: a usage error, already printed.
pub(crate) fn prepare(image: &str, common: &ImageArgs) -> Result<Prepared, Result<i32, String>> {
    let mkfs = common
        .erofs
        .resolve(matches!(common.format, Format::Erofs))
        .map_err(|e| usage(&e))?;
    check_tar_index(common.tar_index, common.format).map_err(|e| usage(&e))?;
    let reference = ImageRef::parse(image).map_err(|e| Err(e.to_string()))?;
    if let ImageRef::DockerDaemon(_) = reference {
        return Err(Err(format!(
            "{image}: the Docker daemon's export has no manifest to attach signatures to; \
             push the image to a registry or save it as an OCI layout"
        )));
    }
    let img = open(image, &common.platform, &common.registry).map_err(Err)?;
    refuse_windows(image, &img).map_err(Err)?;
    let (opts, multi) = image_options(&img, common, &mkfs);
    Ok(Prepared {
        reference,
        image: img,
        opts,
        mkfs,
        multi,
    })
}

pub(crate) fn image_options(
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
