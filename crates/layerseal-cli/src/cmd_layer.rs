//! `layerseal layer`: one layer tar to an image and its root hash.

use std::fs::File;

use layerseal::layer::{convert_layer_from, LayerError, LayerOptions, Outputs};
use serde_json::json;

use crate::erofs_args::ErofsArgs;
use crate::shared::{
    check_tar_index, erofs_uuid, exit, parse_size, parse_uuid, progress_for, usage, Format,
    UuidFrom,
};
use std::path::PathBuf;

#[derive(clap::Args)]
pub(crate) struct LayerCmd {
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
}

pub(crate) fn run_layer(c: LayerCmd) -> Result<i32, String> {
    let LayerCmd {
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
    } = c;
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
