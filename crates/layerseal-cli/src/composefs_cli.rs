//! `layerseal composefs …`: images, a composefs-rs repository, OCI
//! import, signatures and mounting.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use layerseal::composefs::dumpfile::{parse, ParseOptions};
use layerseal::composefs::image::{build, ImageOptions};
use layerseal::composefs::import::{compute_id_for_image, compute_id_for_tag, pull, PullOptions};
use layerseal::composefs::maintenance::{fsck, gc};
use layerseal::composefs::mount::{mount_image, MountOptions};
use layerseal::composefs::oci::{IdOptions, XattrFilter};
use layerseal::composefs::read::image_to_dump;
use layerseal::composefs::repo::{LockWait, Repository};
use layerseal::composefs::seal::seal_tag;
use layerseal::composefs::sign::Signer;
use layerseal::composefs::signatures::{
    export_to_layout, push_to_registry, sign_tag, verify_tag, verify_tag_from_registry,
};
use layerseal::source::registry_push::RegistryRepo;
use layerseal::source::ImageRef;
use layerseal::verity::{fsverity, hex_lower, Algorithm};
use serde_json::json;

use crate::shared::{exit, layer_progress, open, RegistryArgs};

#[derive(Args)]
pub struct ComposefsArgs {
    /// Repository directory (as `cfsctl --repo`).
    #[arg(long, global = true, env = "LAYERSEAL_COMPOSEFS_REPO")]
    repo: Option<PathBuf>,
    /// fs-verity hash: for `init`, the repository's; elsewhere, digests
    /// printed (default: the repository's, else sha512 as cfsctl).
    #[arg(long, global = true, value_enum)]
    hash: Option<Hash>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Fail at once when another process holds the repository lock (a gc
    /// running, or for gc: the repository in use) instead of waiting.
    #[arg(long, global = true)]
    no_wait: bool,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Clone, Copy, ValueEnum)]
enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn algorithm(self) -> Algorithm {
        match self {
            Hash::Sha256 => Algorithm::Sha256,
            Hash::Sha512 => Algorithm::Sha512,
        }
    }
}

#[derive(Args)]
struct IdArgs {
    /// EROFS format version of the image (cfsctl's default is 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1))]
    erofs_version: u32,
    /// Keep `user.*` xattrs (cfsctl `--xattrs keep-user-xattrs`); by default
    /// only `security.capability` is kept.
    #[arg(long)]
    keep_user_xattrs: bool,
}

impl IdArgs {
    fn filter(&self) -> XattrFilter {
        if self.keep_user_xattrs {
            XattrFilter::KeepUserXattrs
        } else {
            XattrFilter::AllowlistOnly
        }
    }
}

/// How to read an image source.
#[derive(Args)]
struct SourceArgs {
    /// Platform to select from a multi-platform index (os/arch[/variant]).
    #[arg(long, default_value = "linux/amd64")]
    platform: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Subcommand)]
enum Verb {
    /// fs-verity digest of files (the names composefs gives objects).
    Digest(DigestVerb),
    /// Write a composefs image from a dumpfile, byte-identical to C
    /// `mkcomposefs --from-file`; prints its fs-verity digest (sha256, as
    /// `mkcomposefs --print-digest`, unless --hash says otherwise).
    Mkimage(MkimageVerb),
    /// Print a composefs image as a dumpfile.
    Dump(DumpVerb),
    /// Create a repository (`--repo`, `--hash`, default sha512).
    Init,
    /// Import an image (any source `layerseal create` reads) into the
    /// repository and tag it; prints the image id.
    Pull(PullVerb),
    /// The image id (fs-verity digest of the merged EROFS) of a tag in the
    /// repository, or of an image source with --image (nothing stored).
    ComputeId(ComputeIdVerb),
    /// Sign a tag's merged image (PKCS#7 over its fs-verity digest) and
    /// store the signature artifact in the repository.
    Sign(SignVerb),
    /// Check a tag's image against its signatures (stored in the
    /// repository, or referrers in a registry with --registry) and a
    /// trusted certificate (exit 3 when it does not verify).
    Verify(VerifyVerb),
    /// Seal a tag: a new config labelled with the merged image id and a
    /// new manifest annotated with the config, per-layer and merged
    /// digests (signed inline with --cert/--key); the tag then names the
    /// sealed image. --push uploads the sealed config and manifest to a
    /// registry repository that holds the layers (docker://HOST/REPO:TAG).
    Seal(SealVerb),
    /// Push a tag's signature artifacts to a registry repository (the one
    /// holding the image), as referrers of the image's manifest.
    PushSignatures(PushSignaturesVerb),
    /// Write a tag's signature artifacts into an OCI layout directory.
    ExportSignatures(ExportSignaturesVerb),
    /// Check every object against its name and every stream, image and
    /// tag for what it refers to (exit 3 on problems).
    Fsck,
    /// Delete objects nothing refers to.
    Gc(GcVerb),
    /// Mount an image (a tag of the repository, an image id, or an image
    /// file) read-only with overlayfs `verity=require`.
    Mount(MountVerb),
}

#[derive(clap::Args)]
struct DigestVerb {
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct MkimageVerb {
    /// The dumpfile (composefs-dump(5)); `-` reads stdin.
    #[arg(long)]
    from_file: PathBuf,
    /// Where to write the image.
    #[arg(short, long)]
    output: PathBuf,
    /// Lowest format version (0 or 1).
    #[arg(long, default_value_t = 0)]
    min_version: u32,
    /// Highest format version: v1 is chosen over v0 only when the
    /// tree has whiteout devices (default 1; raised to --min-version).
    #[arg(long)]
    max_version: Option<u32>,
    /// Parse as `CFS_PARSE_STRICT=1` does.
    #[arg(long)]
    strict: bool,
}

#[derive(clap::Args)]
struct DumpVerb {
    image: PathBuf,
}

#[derive(clap::Args)]
struct PullVerb {
    /// docker://…, oci:DIR[:TAG], oci-archive:…, docker-archive:…,
    /// docker-daemon:…
    source: String,
    tag: String,
    #[command(flatten)]
    id: IdArgs,
    #[command(flatten)]
    from: SourceArgs,
}

#[derive(clap::Args)]
struct ComputeIdVerb {
    /// A tag in the repository.
    #[arg(required_unless_present = "image")]
    tag: Option<String>,
    /// Compute from this image source instead, without a repository.
    #[arg(long, conflicts_with = "tag")]
    image: Option<String>,
    #[command(flatten)]
    id: IdArgs,
    #[command(flatten)]
    from: SourceArgs,
    /// Also write the image here.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
struct SignVerb {
    tag: String,
    #[arg(long)]
    cert: PathBuf,
    #[arg(long)]
    key: PathBuf,
}

#[derive(clap::Args)]
struct VerifyVerb {
    tag: String,
    #[arg(long)]
    cert: PathBuf,
    /// Take the signatures from this registry repository
    /// (docker://HOST/REPO) instead of the repository.
    #[arg(long)]
    registry: Option<String>,
    #[command(flatten)]
    registry_args: RegistryArgs,
}

#[derive(clap::Args)]
struct SealVerb {
    tag: String,
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    #[arg(long)]
    push: Option<String>,
    #[command(flatten)]
    registry_args: RegistryArgs,
}

#[derive(clap::Args)]
struct PushSignaturesVerb {
    tag: String,
    /// docker://HOST/REPO
    destination: String,
    #[command(flatten)]
    registry_args: RegistryArgs,
}

#[derive(clap::Args)]
struct ExportSignaturesVerb {
    tag: String,
    #[arg(long)]
    layout: PathBuf,
}

#[derive(clap::Args)]
struct GcVerb {
    /// Only report what would be deleted.
    #[arg(short = 'n', long)]
    dry_run: bool,
}

#[derive(clap::Args)]
struct MountVerb {
    /// Tag, image id, or path of an image file.
    image: String,
    mountpoint: PathBuf,
    /// Object directory (default: the repository's objects/).
    #[arg(long)]
    objects: Option<PathBuf>,
    /// Do not require fs-verity on objects (filesystems without it).
    #[arg(long)]
    insecure: bool,
    /// Refuse the image unless its fs-verity digest is this (sha256 or
    /// sha512 hex; images named by id or tag are always checked).
    #[arg(long)]
    digest: Option<String>,
}

fn repo_path(args: &ComposefsArgs) -> Result<&Path, String> {
    args.repo
        .as_deref()
        .ok_or_else(|| "this command needs --repo DIR (or LAYERSEAL_COMPOSEFS_REPO)".into())
}

fn lock_wait(args: &ComposefsArgs) -> LockWait {
    if args.no_wait {
        LockWait::NoWait
    } else {
        LockWait::Wait
    }
}

impl ComposefsArgs {
    /// The `--hash` given, else `default`.
    fn algorithm_or(&self, default: Algorithm) -> Algorithm {
        self.hash.map_or(default, Hash::algorithm)
    }
}

fn open_repo(args: &ComposefsArgs) -> Result<Repository, String> {
    Repository::open_with(repo_path(args)?, lock_wait(args)).map_err(|e| e.to_string())
}

/// Open for a command that writes: first remove what killed writers left.
fn open_repo_to_write(args: &ComposefsArgs) -> Result<Repository, String> {
    let repo = open_repo(args)?;
    repo.remove_stale_temporaries();
    Ok(repo)
}

fn read_file(p: &Path) -> Result<Vec<u8>, String> {
    if p == Path::new("-") {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
            .map_err(|e| format!("stdin: {e}"))?;
        return Ok(v);
    }
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn write_output(p: &Path, bytes: &[u8]) -> Result<(), String> {
    layerseal::atomic::write_file(p, bytes).map_err(|e| format!("{}: {e}", p.display()))
}

fn print_json(json: bool, value: serde_json::Value, text: impl FnOnce()) {
    if json {
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
    } else {
        text();
    }
}

pub fn run(args: ComposefsArgs) -> Result<i32, String> {
    match &args.verb {
        Verb::Digest(v) => verb_digest(&args, v),
        Verb::Mkimage(v) => verb_mkimage(&args, v),
        Verb::Dump(v) => verb_dump(v),
        Verb::Init => verb_init(&args),
        Verb::Pull(v) => verb_pull(&args, v),
        Verb::ComputeId(v) => verb_compute_id(&args, v),
        Verb::Sign(v) => verb_sign(&args, v),
        Verb::Verify(v) => verb_verify(&args, v),
        Verb::Seal(v) => verb_seal(&args, v),
        Verb::PushSignatures(v) => verb_push_signatures(&args, v),
        Verb::ExportSignatures(v) => verb_export_signatures(&args, v),
        Verb::Fsck => verb_fsck(&args),
        Verb::Gc(v) => verb_gc(&args, v),
        Verb::Mount(v) => verb_mount(&args, v),
    }
}

fn verb_digest(args: &ComposefsArgs, v: &DigestVerb) -> Result<i32, String> {
    let json = args.json;
    let DigestVerb { files } = v;
    let alg = args.algorithm_or(open_repo(args).map_or(Algorithm::Sha512, |r| r.algorithm()));
    let mut out = Vec::new();
    for f in files {
        let d = fsverity::digest_file(f, alg, 0).map_err(|e| format!("{}: {e}", f.display()))?;
        out.push((f, hex_lower(&d)));
    }
    let list: Vec<_> = out
        .iter()
        .map(|(f, d)| json!({"file": f, "digest": d}))
        .collect();
    print_json(json, json!(list), || {
        for (f, d) in &out {
            println!("{d} {}", f.display());
        }
    });
    Ok(exit::OK)
}

fn verb_mkimage(args: &ComposefsArgs, v: &MkimageVerb) -> Result<i32, String> {
    let json = args.json;
    let MkimageVerb {
        from_file,
        output,
        min_version,
        max_version,
        strict,
    } = v;
    let text = read_file(from_file)?;
    let dump = parse(&text, ParseOptions { strict: *strict })
        .map_err(|e| format!("{}: {e}", from_file.display()))?;
    let opts = ImageOptions {
        min_version: *min_version,
        max_version: max_version.unwrap_or(1).max(*min_version),
        ..ImageOptions::default()
    };
    let image = build(&dump, &opts).map_err(|e| format!("{}: {e}", from_file.display()))?;
    write_output(output, &image)?;
    let alg = args.algorithm_or(Algorithm::Sha256);
    let id = hex_lower(&fsverity::digest(&image[..], alg, 1).map_err(|e| e.to_string())?);
    print_json(
        json,
        json!({"image": output, "digest": id, "size": image.len()}),
        || println!("{id}"),
    );
    Ok(exit::OK)
}

fn verb_dump(v: &DumpVerb) -> Result<i32, String> {
    let DumpVerb { image } = v;
    let bytes = read_file(image)?;
    let dump = image_to_dump(&bytes).map_err(|e| format!("{}: {e}", image.display()))?;
    std::io::stdout()
        .write_all(dump.print().as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(exit::OK)
}

fn verb_init(args: &ComposefsArgs) -> Result<i32, String> {
    let json = args.json;
    let path = repo_path(args)?;
    let repo = Repository::init_with(path, args.algorithm_or(Algorithm::Sha512), lock_wait(args))
        .map_err(|e| e.to_string())?;
    let alg = layerseal::composefs::repo::algorithm_name(repo.algorithm());
    print_json(json, json!({"repo": path, "algorithm": alg}), || {
        println!("initialized {} ({alg})", path.display())
    });
    Ok(exit::OK)
}

fn verb_pull(args: &ComposefsArgs, v: &PullVerb) -> Result<i32, String> {
    let json = args.json;
    let PullVerb {
        source,
        tag,
        id,
        from,
    } = v;
    let repo = open_repo_to_write(args)?;
    let (image, _spool) = open_source(source, from)?;
    let (progress, _bars) = layer_progress(&image);
    let opts = PullOptions {
        erofs_version: id.erofs_version,
        xattrs: id.filter(),
        progress,
    };
    let p = pull(&repo, &image, tag, &opts).map_err(|e| format!("{source}: {e}"))?;
    let image_id = hex_lower(&p.image_id);
    print_json(
        json,
        json!({
            "tag": tag,
            "manifest": p.manifest_digest.to_string(),
            "config": p.config_digest.to_string(),
            "image_id": image_id,
            "layers_imported": p.layers_imported,
            "layers_present": p.layers_present,
        }),
        || {
            eprintln!(
                "{tag}: manifest {}, {} layers imported, {} already present",
                p.manifest_digest, p.layers_imported, p.layers_present
            );
            println!("{image_id}");
        },
    );
    Ok(exit::OK)
}

fn verb_compute_id(args: &ComposefsArgs, v: &ComputeIdVerb) -> Result<i32, String> {
    let json = args.json;
    let ComputeIdVerb {
        tag,
        image,
        id,
        from,
        output,
    } = v;
    let (bytes, digest) = match (tag, image) {
        (Some(tag), _) => {
            let repo = open_repo(args)?;
            compute_id_for_tag(&repo, tag, id.erofs_version, id.filter())
                .map_err(|e| e.to_string())?
        }
        (None, Some(source)) => {
            compute_from_source(source, from, id, args.algorithm_or(Algorithm::Sha512))?
        }
        (None, None) => return Err("give a TAG or --image SOURCE".into()),
    };
    if let Some(o) = output {
        write_output(o, &bytes)?;
    }
    let d = hex_lower(&digest);
    print_json(json, json!({"image_id": d}), || println!("{d}"));
    Ok(exit::OK)
}

fn verb_sign(args: &ComposefsArgs, v: &SignVerb) -> Result<i32, String> {
    let json = args.json;
    let SignVerb { tag, cert, key } = v;
    let repo = open_repo_to_write(args)?;
    let signer =
        Signer::from_pem(&read_file(cert)?, &read_file(key)?).map_err(|e| e.to_string())?;
    let art = sign_tag(&repo, tag, &signer).map_err(|e| e.to_string())?;
    print_json(
        json,
        json!({"tag": tag, "artifact": art.digest.to_string()}),
        || println!("{}", art.digest),
    );
    Ok(exit::OK)
}

fn verb_verify(args: &ComposefsArgs, v: &VerifyVerb) -> Result<i32, String> {
    let json = args.json;
    let VerifyVerb {
        tag,
        cert,
        registry,
        registry_args,
    } = v;
    let repo = open_repo(args)?;
    let cert = read_file(cert)?;
    let result = match registry {
        Some(r) => {
            let remote = RegistryRepo::open(strip_docker(r), &registry_args.options())
                .map_err(|e| e.to_string())?;
            verify_tag_from_registry(&repo, tag, &remote, &cert)
        }
        None => verify_tag(&repo, tag, &cert),
    };
    match result {
        Ok(v) => {
            print_json(
                json,
                json!({"tag": tag, "verified": true, "image_id": hex_lower(&v.image_id), "artifact": v.artifact.to_string()}),
                || {
                    println!(
                        "{tag}: signature OK (image {}, artifact {})",
                        hex_lower(&v.image_id),
                        v.artifact
                    )
                },
            );
            Ok(exit::OK)
        }
        Err(e) => {
            print_json(
                json,
                json!({"tag": tag, "verified": false, "error": e.to_string()}),
                || eprintln!("layerseal: {tag}: verification FAILED: {e}"),
            );
            Ok(exit::MISMATCH)
        }
    }
}

fn verb_seal(args: &ComposefsArgs, v: &SealVerb) -> Result<i32, String> {
    let json = args.json;
    let SealVerb {
        tag,
        cert,
        key,
        push,
        registry_args,
    } = v;
    let repo = open_repo_to_write(args)?;
    let signer = match (cert, key) {
        (Some(c), Some(k)) => {
            Some(Signer::from_pem(&read_file(c)?, &read_file(k)?).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let sealed = seal_tag(&repo, tag, signer.as_ref()).map_err(|e| e.to_string())?;
    if let Some(dest) = push {
        let dest = strip_docker(dest);
        let (_, _, reference) =
            layerseal::source::registry::split_reference(dest).map_err(|e| e.to_string())?;
        let remote =
            RegistryRepo::open(dest, &registry_args.options()).map_err(|e| e.to_string())?;
        remote
            .push_blob(&sealed.config_digest, &sealed.config)
            .and_then(|()| {
                remote.push_manifest(
                    &reference,
                    layerseal::composefs::artifact::MANIFEST_MEDIA_TYPE,
                    &sealed.manifest,
                )
            })
            .map_err(|e| format!("{dest}: {e}"))?;
    }
    print_json(
        json,
        json!({
            "tag": tag,
            "manifest": sealed.manifest_digest.to_string(),
            "config": sealed.config_digest.to_string(),
            "merged_id": hex_lower(&sealed.merged_id),
            "layer_ids": sealed.layer_ids.iter().map(|d| hex_lower(d)).collect::<Vec<_>>(),
        }),
        || println!("{}", sealed.manifest_digest),
    );
    Ok(exit::OK)
}

fn verb_push_signatures(args: &ComposefsArgs, v: &PushSignaturesVerb) -> Result<i32, String> {
    let json = args.json;
    let PushSignaturesVerb {
        tag,
        destination,
        registry_args,
    } = v;
    let repo = open_repo(args)?;
    let remote = RegistryRepo::open(strip_docker(destination), &registry_args.options())
        .map_err(|e| e.to_string())?;
    let pushed =
        push_to_registry(&repo, tag, &remote).map_err(|e| format!("{destination}: {e}"))?;
    let list: Vec<String> = pushed.iter().map(ToString::to_string).collect();
    print_json(
        json,
        json!({"tag": tag, "destination": destination, "artifacts": list}),
        || {
            for d in &list {
                println!("{d}");
            }
        },
    );
    Ok(exit::OK)
}

fn verb_export_signatures(args: &ComposefsArgs, v: &ExportSignaturesVerb) -> Result<i32, String> {
    let json = args.json;
    let ExportSignaturesVerb { tag, layout } = v;
    let repo = open_repo(args)?;
    let n = export_to_layout(&repo, tag, layout).map_err(|e| e.to_string())?;
    print_json(json, json!({"tag": tag, "artifacts": n}), || {
        println!("{n} signature artifact(s) written to {}", layout.display())
    });
    Ok(exit::OK)
}

fn verb_fsck(args: &ComposefsArgs) -> Result<i32, String> {
    let json = args.json;
    let repo = open_repo(args)?;
    let report = fsck(&repo).map_err(|e| e.to_string())?;
    print_json(
        json,
        json!({"objects": report.objects, "problems": report.problems}),
        || {
            for p in &report.problems {
                println!("{p}");
            }
            eprintln!(
                "{} objects checked, {} problem(s)",
                report.objects,
                report.problems.len()
            );
        },
    );
    Ok(if report.problems.is_empty() {
        exit::OK
    } else {
        exit::MISMATCH
    })
}

fn verb_gc(args: &ComposefsArgs, v: &GcVerb) -> Result<i32, String> {
    let json = args.json;
    let GcVerb { dry_run } = v;
    let repo = open_repo_to_write(args)?;
    let report = gc(&repo, *dry_run).map_err(|e| e.to_string())?;
    print_json(
        json,
        json!({"kept": report.kept, "removed": report.removed, "dry_run": dry_run}),
        || {
            eprintln!(
                "{} objects kept, {} {}",
                report.kept,
                report.removed.len(),
                if *dry_run {
                    "would be removed"
                } else {
                    "removed"
                }
            )
        },
    );
    Ok(exit::OK)
}

fn verb_mount(args: &ComposefsArgs, v: &MountVerb) -> Result<i32, String> {
    let json = args.json;
    let MountVerb {
        image,
        mountpoint,
        objects,
        insecure,
        digest,
    } = v;
    let (image_path, objects, by_name) = resolve_mount(args, image, objects.as_deref())?;
    let expected = match digest {
        Some(d) => Some(
            hex::decode(d)
                .ok()
                .filter(|b| b.len() == 32 || b.len() == 64)
                .ok_or_else(|| format!("--digest {d:?}: not a sha256 or sha512 hex digest"))?,
        ),
        None => by_name,
    };
    if let Some(want) = expected {
        let alg = if want.len() == 64 {
            Algorithm::Sha512
        } else {
            Algorithm::Sha256
        };
        let got = fsverity::digest_file(&image_path, alg, 1)
            .map_err(|e| format!("{}: {e}", image_path.display()))?;
        if got != want {
            eprintln!(
                "layerseal: {}: fs-verity digest is {}, expected {}; not mounted",
                image_path.display(),
                hex_lower(&got),
                hex_lower(&want)
            );
            return Ok(exit::MISMATCH);
        }
    }
    let opts = MountOptions {
        require_verity: !insecure,
    };
    mount_image(&image_path, &objects, mountpoint, &opts).map_err(|e| e.to_string())?;
    print_json(
        json,
        json!({"mountpoint": mountpoint, "image": image_path}),
        || {
            eprintln!(
                "mounted {} at {}",
                image_path.display(),
                mountpoint.display()
            )
        },
    );
    Ok(exit::OK)
}

/// An image source for composefs, which merges layers in order: a Docker
/// daemon's export (a stream whose layers come in any order) is spooled
/// to a temporary docker-archive first; the returned file keeps it alive.
fn open_source(
    source: &str,
    from: &SourceArgs,
) -> Result<(layerseal::source::Image, Option<tempfile::NamedTempFile>), String> {
    let (platform, registry) = (&from.platform, &from.registry);
    let Some(name) = source.strip_prefix("docker-daemon:") else {
        return open(source, platform, registry).map(|i| (i, None));
    };
    let mut export = layerseal::source::daemon::export(name).map_err(|e| e.to_string())?;
    let mut spool =
        tempfile::NamedTempFile::new().map_err(|e| format!("spool for {source}: {e}"))?;
    std::io::copy(&mut export, spool.as_file_mut())
        .map_err(|e| format!("{source}: export: {e}"))?;
    let r = ImageRef::DockerArchive(spool.path().to_path_buf(), None);
    let p = layerseal::source::Platform::parse(platform)?;
    let mut image = layerseal::source::open_image_with(&r, &p, &registry.options())
        .map_err(|e| format!("{source}: {e}"))?;
    image.reference = source.to_string();
    Ok((image, Some(spool)))
}

fn strip_docker(r: &str) -> &str {
    r.strip_prefix("docker://").unwrap_or(r)
}

/// An image file and its objects directory from a mount argument, and
/// the digest the image must have when it was named by id or tag.
fn resolve_mount(
    args: &ComposefsArgs,
    image: &str,
    objects: Option<&Path>,
) -> Result<(PathBuf, PathBuf, Option<Vec<u8>>), String> {
    let as_path = Path::new(image);
    let repo = args.repo.as_ref().map(|_| open_repo(args)).transpose()?;
    let objects = match (objects, &repo) {
        (Some(o), _) => o.to_path_buf(),
        (None, Some(r)) => r.root().join("objects"),
        (None, None) => return Err("mount needs --objects DIR or --repo DIR".into()),
    };
    if as_path.is_file() {
        return Ok((as_path.to_path_buf(), objects, None));
    }
    let repo =
        repo.ok_or_else(|| format!("{image}: no such file (and no --repo to look it up)"))?;
    let by_id = repo.root().join("images").join(image);
    if by_id.is_file() {
        return Ok((by_id, objects, hex::decode(image).ok()));
    }
    // A tag: commit its image if needed (pull already did for V1).
    let (bytes, id) = compute_id_for_tag(&repo, image, 1, XattrFilter::AllowlistOnly)
        .map_err(|e| format!("{image}: not an image file, image id or tag: {e}"))?;
    let path = repo.root().join("images").join(hex_lower(&id));
    if !path.is_file() {
        repo.commit_image(&bytes).map_err(|e| e.to_string())?;
    }
    Ok((path, objects, Some(id)))
}

/// compute-id straight from an image source: layers streamed, nothing
/// stored.
fn compute_from_source(
    source: &str,
    from: &SourceArgs,
    id: &IdArgs,
    algorithm: Algorithm,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (image, _spool) = open_source(source, from)?;
    let opts = IdOptions {
        erofs_version: id.erofs_version,
        xattrs: id.filter(),
    };
    compute_id_for_image(&image, opts, algorithm, 0).map_err(|e| format!("{source}: {e}"))
}
