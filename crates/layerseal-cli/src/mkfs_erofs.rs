//! `mkfs.erofs` as containerd's EROFS differ, the Kata policy generator and
//! Notation's dm-verity signer run it on a layer tar, answered by layerseal:
//! the same arguments, the same bytes as erofs-utils 1.9.3. Reached as
//! `layerseal mkfs-erofs ARGS…` or through a symlink named `mkfs.erofs`.
//!
//! Only the tar-input invocations are accepted (`--tar=f|i`, `--aufs`,
//! `--quiet`, `-Enoinline_data`, `-b4096`, `-T`, `--mkfs-time`,
//! `--all-time`, `--sort`, `-U`); anything else is refused with mkfs's
//! failure status and a message naming the option.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use layerseal::atomic::AtomicFile;
use layerseal::erofs::options::WallClock;
use layerseal::erofs::tar_index::IndexedTar;
use layerseal::erofs::tree::{Tree, TreeError};
use layerseal::erofs::{build, MkfsOptions, MkfsVersion};
use layerseal::sink::{BlockSink, FileSink};

/// mkfs.erofs exits 1 on any failure, usage errors included.
const FAILED: i32 = 1;

/// One parsed invocation.
#[derive(Debug, Default)]
struct Invocation {
    /// `--tar=i`: index image only (containerd appends the tar itself).
    index: bool,
    tar: bool,
    aufs: bool,
    noinline_data: bool,
    /// The option words that shape the image, for [`MkfsOptions::parse`].
    time_words: Vec<String>,
    uuid: Option<[u8; 16]>,
    positional: Vec<String>,
    version: bool,
    help: bool,
}

fn refuse(option: &str) -> String {
    format!(
        "option {option:?} is not supported: layerseal reproduces mkfs.erofs for tar input \
         (--tar=f|i, --aufs, --quiet, -Enoinline_data, -b4096, -T, --mkfs-time, --all-time, \
         --sort=path|none, -U)"
    )
}

fn parse_uuid(s: &str) -> Result<[u8; 16], String> {
    if s == "clear" {
        return Ok([0; 16]);
    }
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex::decode(&hex)
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .ok_or_else(|| format!("invalid UUID {s}"))
}

fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut inv = Invocation::default();
    let mut i = 0;
    // The value of a short option: attached (`-T0`) or the next word.
    let value = |i: &mut usize, attached: &str, opt: &str| -> Result<String, String> {
        if !attached.is_empty() {
            return Ok(attached.to_string());
        }
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("option -{opt} requires an argument"))
    };
    let mut only_positional = false;
    while i < args.len() {
        let a = args[i].as_str();
        if only_positional || a == "-" || !a.starts_with('-') {
            inv.positional.push(a.to_string());
        } else if a == "--" {
            only_positional = true;
        } else if let Some(long) = a.strip_prefix("--") {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            match (name, val) {
                ("tar", None | Some("f")) => inv.tar = true,
                ("tar", Some("i")) => {
                    inv.tar = true;
                    inv.index = true;
                }
                ("aufs", None) => inv.aufs = true,
                ("quiet", None) => {}
                ("mkfs-time" | "all-time", None) => inv.time_words.push(a.to_string()),
                ("sort", v) => {
                    let v = match v {
                        Some(v) => v.to_string(),
                        None => value(&mut i, "", "-sort")?,
                    };
                    if v != "none" && v != "path" {
                        return Err(format!("invalid --sort={v}: expected path or none"));
                    }
                    inv.time_words.push(format!("--sort={v}"));
                }
                ("version", None) => inv.version = true,
                ("help", None) => inv.help = true,
                _ => return Err(refuse(a)),
            }
        } else {
            let opt = &a[1..2];
            let attached = &a[2..];
            match opt {
                "T" => {
                    let v = value(&mut i, attached, opt)?;
                    inv.time_words.push(format!("-T{v}"));
                }
                "U" => inv.uuid = Some(parse_uuid(&value(&mut i, attached, opt)?)?),
                "b" => {
                    let v = value(&mut i, attached, opt)?;
                    if v != "4096" {
                        return Err(format!(
                            "-b{v}: only 4096-byte blocks are reproduced (tar-index images \
                             use 512 on their own)"
                        ));
                    }
                }
                "E" => {
                    for e in value(&mut i, attached, opt)?.split(',') {
                        match e {
                            "noinline_data" => inv.noinline_data = true,
                            other => return Err(refuse(&format!("-E{other}"))),
                        }
                    }
                }
                "V" if attached.is_empty() => inv.version = true,
                "h" if attached.is_empty() => inv.help = true,
                _ => return Err(refuse(a)),
            }
        }
        i += 1;
    }
    Ok(inv)
}

const HELP: &str = "\
Usage: mkfs.erofs [OPTIONS] FILE [SOURCE]
Generate an EROFS image (FILE) from a tar stream (SOURCE, or standard input).
This is layerseal's mkfs.erofs: it writes the bytes erofs-utils 1.9.3 writes for
the invocations container runtimes make, and refuses any other option.

 -b4096                 block size (tar-index images use 512-byte blocks)
 -E noinline_data       never inline file tails (required with --tar=f)
 -T#                    set a fixed UNIX timestamp # as the build time
 -U <uuid>              set the filesystem UUID (or 'clear')
 --all-time             the timestamp is also applied to all files (default)
 --mkfs-time            the timestamp is applied as build time only
 --aufs                 replace aufs special files with overlayfs metadata
 --quiet                quiet execution
 --sort=<path,none>     data sorting order for tarballs as input (default: path)
 --tar=[fi]             generate a full (f) or index-only (i) image from a tarball
 -V, --version          print the version and exit
 -h, --help             display this help and exit
";

fn version_text() -> String {
    format!(
        "mkfs.erofs (erofs-utils) {}\n(layerseal {}: a reimplementation of mkfs.erofs \
         --tar for container layers, byte-identical to erofs-utils {})\n",
        MkfsVersion::V1_9.reproduces(),
        env!("CARGO_PKG_VERSION"),
        MkfsVersion::V1_9.reproduces()
    )
}

fn random_uuid() -> [u8; 16] {
    let mut u = [0u8; 16];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut u))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        u = (t ^ u128::from(std::process::id()) << 64).to_le_bytes();
    }
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Run as mkfs.erofs; `prog` is the name to print in messages.
pub fn run(prog: &str, args: &[String]) -> i32 {
    let fail = |msg: &str| {
        eprintln!("{prog}: {msg}");
        eprintln!("Try '{prog} --help' for more information.");
        FAILED
    };
    let inv = match parse(args) {
        Ok(inv) => inv,
        Err(e) => return fail(&e),
    };
    if inv.help {
        print!("{HELP}");
        return 0;
    }
    if inv.version {
        print!("{}", version_text());
        return 0;
    }
    if !inv.tar {
        return fail("only tar input is supported: pass --tar=f or --tar=i");
    }
    if !inv.aufs {
        return fail("only --aufs layers are reproduced (OCI whiteouts as overlayfs metadata)");
    }
    if !inv.index && !inv.noinline_data {
        return fail("--tar=f is reproduced with -Enoinline_data only (as containerd runs it)");
    }
    let (output, source) = match inv.positional.as_slice() {
        [out] => (PathBuf::from(out), None),
        [out, src] if src == "-" => (PathBuf::from(out), None),
        [out, src] => (PathBuf::from(out), Some(PathBuf::from(src))),
        [] => return fail("missing output file"),
        _ => return fail("too many arguments"),
    };
    // As mkfs: without -T the build time is the wall clock.
    let opts = match MkfsOptions::parse(&inv.time_words, MkfsVersion::V1_9, WallClock::Use(now())) {
        Ok(o) => o,
        Err(e) => return fail(&e.0),
    };
    let uuid = inv.uuid.unwrap_or_else(random_uuid);
    let input: Box<dyn Read> = match &source {
        Some(p) => match File::open(p) {
            Ok(f) => Box::new(io::BufReader::with_capacity(1 << 20, f)),
            Err(e) => return fail(&format!("{}: {e}", p.display())),
        },
        None => Box::new(io::stdin().lock()),
    };
    match write_image(input, &output, uuid, &opts, inv.index) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{prog}: {}: {e}", output.display());
            FAILED
        }
    }
}

fn write_image(
    input: Box<dyn Read>,
    output: &std::path::Path,
    uuid: [u8; 16],
    opts: &MkfsOptions,
    index: bool,
) -> io::Result<()> {
    let tree_err = |e: TreeError| io::Error::other(e.to_string());
    let out = AtomicFile::create(output)?;
    let sink = FileSink::new(out.file().try_clone()?)?;
    let sink = if index {
        let indexed =
            IndexedTar::read::<_, TreeError>(input, None, opts, |_| Ok(())).map_err(tree_err)?;
        indexed.index_image(sink, uuid)?
    } else if opts.sort_none {
        let mut sink = sink;
        sink.reserve_leading(1)?;
        let (tree, _) = Tree::from_tar_streaming(input, &mut sink, opts).map_err(tree_err)?;
        build::write_streamed(&tree, sink, uuid)?.0
    } else {
        let (tree, _) = Tree::from_tar_with(input, None, opts).map_err(tree_err)?;
        build::write(&tree, sink, uuid)?.0
    };
    sink.finish()?.flush()?;
    out.commit()
}
