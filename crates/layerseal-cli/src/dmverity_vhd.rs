//! The `dmverity-vhd` drop-in: upstream's global flags, commands, flags,
//! stdout and file names, over the layerseal library.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use layerseal::ext4::{LAYOUT_128G, LAYOUT_16G};
use layerseal::image::convert_reference;
use layerseal::layer::{convert_layer, LayerError, LayerOptions, Outputs};
use layerseal::pipeline::{sanitise, ImageOptions, OutputPlan};
use layerseal::source::{ImageRef, Platform, RegistryOptions};

use crate::goflag::{self, flag, value, Spec};

const GLOBAL: &[Spec] = &[
    flag(&["verbose", "v"], "Optional: verbose output"),
    flag(&["trace", "vv"], "Optional: trace output"),
    flag(&["docker", "d"], "Optional: use local docker daemon"),
    value(
        &["tarball", "t"],
        "Optional: path to tarball containing image info",
    ),
    flag(
        &["buffered-reader", "b"],
        "Optional: use buffered opener for image (accepted, no effect)",
    ),
    value(
        &["profiler"],
        "Optional: write a CPU profile to this file (accepted, no effect)",
    ),
    flag(
        &["debug-skip-version-check"],
        "Optional: Windows only (accepted, no effect)",
    ),
];

const ROOTHASH: &[Spec] = &[
    value(
        &["input", "image", "i"],
        "Required: container image reference (optional with --tarball)",
    ),
    value(&["username", "u"], "Optional: custom registry username"),
    value(&["password", "p"], "Optional: custom registry password"),
    value(&["platform"], "Optional: platform, default linux/amd64"),
];

const CREATE: &[Spec] = &[
    value(
        &["input", "image", "i"],
        "Required: container image reference or path to a layer tar (with --dir)",
    ),
    value(&["out-dir", "o"], "Required: output directory path"),
    value(&["username", "u"], "Optional: custom registry username"),
    value(&["password", "p"], "Optional: custom registry password"),
    value(&["platform"], "Optional: platform, default linux/amd64"),
    flag(
        &["hash-dev-vhd", "hdv"],
        "Optional: save hash-device as a VHD",
    ),
    flag(
        &["data-vhd", "dir"],
        "Optional: save directory tarfile as a VHD",
    ),
];

const HASHLAYER: &[Spec] = &[
    value(
        &["input", "t"],
        "Required: path to a layer tar (plain, gzip or zstd)",
    ),
    value(&["platform"], "Optional: platform, default linux/amd64"),
];

const TAR2HASHED: &[Spec] = &[
    value(&["input", "i"], "Required: path to a layer tar"),
    value(&["output", "o"], "Required: output file"),
    value(&["type", "t"], "Required: ext4 or cim"),
];

const USAGE: &str = "NAME:
   dmverity-vhd - a command line tool for creating LCOW layer VHDs with dm-verity hashes.
   (layerseal's drop-in implementation)

USAGE:
   dmverity-vhd [global options] command [command options] [arguments...]

COMMANDS:
   create      creates LCOW layer VHDs inside the output directory with dm-verity super block and merkle tree appended at the end
   roothash    compute root hashes for each LCOW layer VHD
   hashlayer   compute the root hash of one layer tar
   tar2hashed  convert a layer tar to ext4 with its dm-verity tree appended (16 GiB layout)

GLOBAL OPTIONS:
";

/// A failure: message for stderr and the exit code.
pub struct Failure {
    message: String,
    code: i32,
}

fn fail(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: 1,
    }
}

struct Globals {
    verbose: bool,
}

/// Run with `args` (without the program name); returns the exit code.
pub fn run(args: Vec<String>) -> i32 {
    let mut stdout = std::io::stdout().lock();
    match dispatch(&args, &mut stdout) {
        Ok(()) => 0,
        Err(f) => {
            let _ = stdout.flush();
            if !f.message.is_empty() {
                eprintln!("{}", f.message);
            }
            f.code
        }
    }
}

fn dispatch(args: &[String], out: &mut dyn Write) -> Result<(), Failure> {
    let g = goflag::parse(GLOBAL, args).map_err(|e| fail(format!("Incorrect Usage. {e}")))?;
    if g.help || g.rest.is_empty() || g.rest[0] == "help" {
        let _ = write!(out, "{USAGE}{}", goflag::describe(GLOBAL));
        return Ok(());
    }
    let globals = Globals {
        verbose: g.bool("verbose") || g.bool("trace"),
    };
    let (cmd, rest) = (&g.rest[0], &g.rest[1..]);
    let specs = match cmd.as_str() {
        "roothash" => ROOTHASH,
        "create" => CREATE,
        "hashlayer" => HASHLAYER,
        "tar2hashed" => TAR2HASHED,
        other => return Err(fail(format!("No help topic for '{other}'"))),
    };
    let p = goflag::parse(specs, rest).map_err(|e| fail(format!("Incorrect Usage: {e}")))?;
    if p.help {
        let _ = write!(out, "OPTIONS:\n{}", goflag::describe(specs));
        return Ok(());
    }
    match cmd.as_str() {
        "hashlayer" => hashlayer(&p, &globals, out),
        "tar2hashed" => tar2hashed(&p, &globals),
        "create" => create(&g, &p, &globals, out),
        _ => roothash(&g, &p, out),
    }
}

fn layer_failure(e: LayerError, verbose: bool, context: &str) -> Failure {
    let detail = match &e {
        LayerError::Convert(c) if verbose => format!("\n  at {}", c.location()),
        _ => String::new(),
    };
    match e {
        LayerError::NotTar => fail("input file is not a tar archive"),
        LayerError::Convert(c) => fail(format!(
            "{context}failed to convert tar to ext4: {}{detail}",
            c.message
        )),
        other => fail(format!("{context}{other}")),
    }
}

fn open_input(path: &str) -> Result<File, Failure> {
    File::open(path).map_err(|e| fail(format!("open {path}: {}", io_text(&e))))
}

/// Go's wording for the common open errors.
fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// What `--platform` selects: Linux layers, or Windows (not here).
fn check_platform(platform: &str) -> Result<(), Failure> {
    if platform.starts_with("linux") {
        Ok(())
    } else if platform.starts_with("windows") {
        Err(fail("windows layer hashing is only supported on Windows"))
    } else {
        Err(fail(format!(
            "unsupported platform {platform:?}: expected linux/... or windows/..."
        )))
    }
}

fn hashlayer(p: &goflag::Parsed, g: &Globals, out: &mut dyn Write) -> Result<(), Failure> {
    // Upstream prints an empty line to stdout whenever hashlayer fails.
    let result = (|| {
        goflag::require(p, &["input"]).map_err(fail)?;
        check_platform(p.string("platform").unwrap_or("linux/amd64"))?;
        let input = open_input(p.string("input").expect("required"))?;
        convert_layer(input, &LayerOptions::default()).map_err(|e| layer_failure(e, g.verbose, ""))
    })();
    match result {
        Ok(report) => {
            let _ = writeln!(out, "{}", report.root_hash);
            Ok(())
        }
        Err(f) => {
            let _ = writeln!(out);
            Err(f)
        }
    }
}

fn tar2hashed(p: &goflag::Parsed, g: &Globals) -> Result<(), Failure> {
    goflag::require(p, &["input", "output", "type"]).map_err(fail)?;
    match p.string("type").expect("required") {
        "ext4" => {}
        "cim" => {
            return Err(fail(
                "type cim needs Windows (CimWriter.dll); only ext4 is available here",
            ))
        }
        _ => return Err(fail("type must be either cim or ext4")),
    }
    let input = open_input(p.string("input").expect("required"))?;
    let opts = LayerOptions {
        max_disk_size: LAYOUT_16G,
        outputs: Outputs {
            image: Some(PathBuf::from(p.string("output").expect("required"))),
            ..Outputs::default()
        },
        threads: 0,
        ..LayerOptions::default()
    };
    convert_layer(input, &opts).map_err(|e| layer_failure(e, g.verbose, ""))?;
    Ok(())
}

fn create(
    g: &goflag::Parsed,
    p: &goflag::Parsed,
    gl: &Globals,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    if !p.bool("data-vhd") {
        // Image mode: -i is optional with --tarball.
        goflag::require(p, &["out-dir"]).map_err(fail)?;
        let out_dir = Path::new(p.string("out-dir").expect("required"));
        std::fs::create_dir_all(out_dir).map_err(|e| {
            fail(format!(
                "failed to create output directory {}: {}",
                out_dir.display(),
                io_text(&e)
            ))
        })?;
        return create_image(g, p, out_dir, out);
    }
    goflag::require(p, &["input", "out-dir"]).map_err(fail)?;
    let input = p.string("input").expect("required");
    let out_dir = Path::new(p.string("out-dir").expect("required"));
    std::fs::create_dir_all(out_dir).map_err(|e| {
        fail(format!(
            "failed to create output directory {}: {}",
            out_dir.display(),
            io_text(&e)
        ))
    })?;
    let reader = File::open(input).map_err(|e| {
        fail(format!(
            "failed to get tar file reader from tarball {input}: open {input}: {}",
            io_text(&e)
        ))
    })?;
    let name = sanitise(input);
    let data = out_dir.join(format!("{name}.vhd"));
    let hash_dev = p
        .bool("hash-dev-vhd")
        .then(|| out_dir.join(format!("{name}.hash-dev.vhd")));
    let opts = LayerOptions {
        max_disk_size: LAYOUT_128G,
        outputs: Outputs {
            image: Some(data.clone()),
            hash_device: hash_dev.clone(),
            vhd: true,
        },
        threads: 0,
        ..LayerOptions::default()
    };
    convert_layer(reader, &opts).map_err(|e| {
        layer_failure(
            e,
            gl.verbose,
            &format!("failed to create VHD from directory {input}: "),
        )
    })?;
    if let Some(h) = hash_dev {
        let _ = writeln!(out, "hash device created at {}", h.display());
    }
    let _ = writeln!(out, "Directory VHD created at {}", data.display());
    Ok(())
}

/// The image the global and command flags name.
fn image_source(g: &goflag::Parsed, p: &goflag::Parsed) -> Result<(ImageRef, Platform), Failure> {
    if g.bool("docker") && g.string("tarball").is_some() {
        return Err(fail("cannot use both docker and tarball for image source"));
    }
    let input = p.string("input");
    if g.string("tarball").is_none() && input.is_none() {
        return Err(fail(
            "must provide -i/--image flag (not required only when using --tarball)",
        ));
    }
    let platform_text = p.string("platform").unwrap_or("linux/amd64");
    check_platform(platform_text)?;
    let platform = Platform::parse(platform_text).map_err(fail)?;
    let r = if let Some(t) = g.string("tarball") {
        let name = match input {
            Some(i) => Some(i.to_string()),
            None => first_image_when_several(Path::new(t), &platform),
        };
        ImageRef::Archive(PathBuf::from(t), name)
    } else if g.bool("docker") {
        ImageRef::DockerDaemon(input.expect("checked").to_string())
    } else {
        ImageRef::Registry(input.expect("checked").to_string())
    };
    Ok((r, platform))
}

/// Upstream's rule for a tarball without `-i`: a docker-archive whose
/// manifest.json lists several images is read as its first element
/// (`@0`). Said on stderr, since the other images are ignored.
fn first_image_when_several(path: &Path, platform: &Platform) -> Option<String> {
    match layerseal::source::open_archive(path, None, platform) {
        Err(layerseal::source::SourceError::Ambiguous(why))
            if layerseal::source::open_archive(path, Some("@0"), platform).is_ok() =>
        {
            eprintln!("note: {why}; using the first image, as dmverity-vhd does");
            Some("@0".into())
        }
        _ => None,
    }
}

/// `-u/-p` as upstream (both or neither), else the docker config.
fn registry_options(p: &goflag::Parsed) -> RegistryOptions {
    let (username, password) = match (p.string("username"), p.string("password")) {
        (Some(u), Some(pw)) => (Some(u.to_string()), Some(pw.to_string())),
        _ => (None, None),
    };
    RegistryOptions {
        username,
        password,
        docker_config: true,
        ..RegistryOptions::default()
    }
}

fn cache_dir() -> Option<PathBuf> {
    if std::env::var_os("LAYERSEAL_NO_CACHE").is_some() {
        return None;
    }
    crate::shared::default_cache_dir()
}

fn roothash(g: &goflag::Parsed, p: &goflag::Parsed, out: &mut dyn Write) -> Result<(), Failure> {
    let (r, platform) = image_source(g, p)?;
    let opts = ImageOptions {
        cache: cache_dir(),
        ..ImageOptions::default()
    };
    let layers = convert_reference(&r, &platform, &registry_options(p), &opts).map_err(fail)?;
    // Go's json.MarshalIndent with two spaces; no layers is `null`.
    let hashes: Vec<String> = layers.into_iter().map(|l| l.root_hash).collect();
    let doc = if hashes.is_empty() {
        serde_json::json!({ "layers": null })
    } else {
        serde_json::json!({ "layers": hashes })
    };
    let _ = writeln!(out, "{}", serde_json::to_string_pretty(&doc).expect("json"));
    Ok(())
}

fn create_image(
    g: &goflag::Parsed,
    p: &goflag::Parsed,
    out_dir: &Path,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let (r, platform) = image_source(g, p)?;
    let plan = OutputPlan {
        dir: out_dir.to_path_buf(),
        hash_device: p.bool("hash-dev-vhd"),
        vhd: true,
        erofs: false,
        containerd_cache: false,
    };
    let opts = ImageOptions {
        outputs: Some(plan),
        ..ImageOptions::default()
    };
    let layers = convert_reference(&r, &platform, &registry_options(p), &opts).map_err(fail)?;
    for l in layers {
        if let Some(h) = &l.hash_device {
            let _ = writeln!(out, "hash device created at {}", h.display());
        }
        if let Some(d) = &l.image {
            let _ = writeln!(out, "Layer VHD created at {}", d.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use layerseal::pipeline::sanitise;

    #[test]
    fn sanitising_names() {
        assert_eq!(sanitise("basic.tar"), "basic");
        assert_eq!(sanitise("dir/layer.tar"), "dir_layer");
        assert_eq!(sanitise("basic.tar.gz"), "basic.tar.gz");
        assert_eq!(sanitise("x.tar.tar"), "x.tar");
    }
}
