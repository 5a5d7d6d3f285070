//! Whole images: `roothash`, `create`, `inspect`.

use std::path::PathBuf;

use layerseal::erofs::MkfsOptions;
use layerseal::image::convert_reference;
use layerseal::pipeline::{convert_image, ImageOptions, LayerResult, OutputPlan};
use layerseal::source::{ImageRef, Platform};
use serde_json::json;

use crate::erofs_args::erofs_layer_json;
use crate::image_args::{image_options, refuse_windows, ImageArgs};
use crate::shared::{
    check_tar_index, default_cache_dir, erofs_uuid, exit, open, usage, Format, RegistryArgs,
    UuidFrom,
};

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
    // The output directory appears only once the image is known to be
    // convertible (not, say, a Windows image refused below).
    let make_dir = |plan: &Option<OutputPlan>| -> Result<(), String> {
        match plan {
            Some(p) => {
                std::fs::create_dir_all(&p.dir).map_err(|e| format!("{}: {e}", p.dir.display()))
            }
            None => Ok(()),
        }
    };
    if let ImageRef::DockerDaemon(_) = r {
        make_dir(&outputs)?;
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
    refuse_windows(image, &img)?;
    make_dir(&outputs)?;
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

#[derive(clap::Args)]
pub(crate) struct RoothashCmd {
    image: String,
    #[command(flatten)]
    common: ImageArgs,
    /// Print JSON (layers with digest, diff_id and root hash).
    #[arg(long)]
    json: bool,
    /// Take root hashes from signed dm-verity referrers of the image (after
    /// checking their signatures against --ca, same format and options) and
    /// compute only the layers they do not cover.
    #[arg(long, requires = "ca")]
    from_referrers: bool,
    /// CA certificates (PEM) for --from-referrers.
    #[arg(long, value_name = "CA.pem", requires = "from_referrers")]
    ca: Option<PathBuf>,
    /// Windows images: the digests dmverity-vhd computed on Windows (its
    /// `{"layers": [...], "mounted_cim": [...]}` JSON), checked against the
    /// image's layer count and printed in the same shape. Windows layers are
    /// block CIMs that only Microsoft's cimwriter.dll can write.
    #[arg(long, value_name = "FILE", conflicts_with = "from_referrers")]
    precomputed: Option<PathBuf>,
}

pub(crate) fn run_roothash(c: RoothashCmd) -> Result<i32, String> {
    let RoothashCmd {
        image,
        common,
        json,
        from_referrers,
        ca,
        precomputed,
    } = c;
    if let Some(file) = precomputed {
        return run_roothash_precomputed(&image, &common, &file, json);
    }
    if from_referrers {
        let ca = ca.expect("clap requires --ca");
        return run_roothash_from_referrers(&image, &common, &ca, json);
    }
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

/// `roothash --precomputed FILE` for a Windows image.
fn run_roothash_precomputed(
    image: &str,
    common: &ImageArgs,
    file: &std::path::Path,
    json: bool,
) -> Result<i32, String> {
    let img = open(image, &common.platform, &common.registry)?;
    if !layerseal::windows::is_windows(&img) {
        return usage(&format!(
            "--precomputed is for Windows images; {image} is {}",
            img.platform
                .as_ref()
                .map_or_else(|| "not Windows".to_string(), ToString::to_string)
        ));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let hashes = layerseal::windows::precomputed::parse(&bytes, img.layers.len())
        .map_err(|e| format!("{}: {e}", file.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&hashes).expect("json"));
    } else {
        for l in &hashes.layers {
            println!("{l}");
        }
        println!("mounted_cim {}", hashes.mounted_cim[0]);
    }
    Ok(exit::OK)
}

fn run_roothash_from_referrers(
    image: &str,
    common: &ImageArgs,
    ca: &std::path::Path,
    json: bool,
) -> Result<i32, String> {
    let (found, p) = match crate::cmd_sign::roothash_from_referrers(image, common, ca)? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    for r in &found.refused {
        eprintln!("layerseal: warning: signature refused, layer computed instead: {r}");
    }
    if json {
        let mut layers = layers_json(&found.layers, common, &p.mkfs);
        for (l, v) in found
            .layers
            .iter()
            .zip(layers.as_array_mut().into_iter().flatten())
        {
            let signed = found.signed.get(&l.index);
            v["source"] = json!(if signed.is_some() {
                "referrer"
            } else {
                "computed"
            });
            v["artifact"] = json!(signed);
        }
        let v = json!({"image": image,
            "platform": p.image.platform.as_ref().map(ToString::to_string),
            "manifest_digest": p.image.manifest_digest.as_ref().map(ToString::to_string),
            "format": common.format.name(),
            "from_referrers": found.signed.len(), "computed": found.layers.len() - found.signed.len(),
            "fetch_seconds": found.fetch_seconds, "compute_seconds": found.compute_seconds,
            "refused": found.refused, "layers": layers});
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        for l in &found.layers {
            println!("{}", l.root_hash);
        }
        eprintln!(
            "{} layer(s) from signed referrers ({:.2} s), {} computed ({:.2} s)",
            found.signed.len(),
            found.fetch_seconds,
            found.layers.len() - found.signed.len(),
            found.compute_seconds
        );
    }
    Ok(exit::OK)
}

#[derive(clap::Args)]
pub(crate) struct CreateCmd {
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
}

pub(crate) fn run_create(c: CreateCmd) -> Result<i32, String> {
    let CreateCmd {
        image,
        out_dir,
        hash_dev,
        raw,
        containerd_cache,
        common,
        json,
    } = c;
    let erofs = matches!(common.format, Format::Erofs);
    let mkfs = match common.erofs.resolve(erofs) {
        Ok(m) => m,
        Err(e) => return usage(&e),
    };
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

#[derive(clap::Args)]
pub(crate) struct InspectCmd {
    image: String,
    /// Platform to select from a multi-platform index.
    #[arg(long, default_value = "linux/amd64")]
    platform: String,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_inspect(c: InspectCmd) -> Result<i32, String> {
    let InspectCmd {
        image,
        platform,
        registry,
        json,
    } = c;
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
