//! The EROFS option group shared by `layer`, `roothash` and `create`:
//! the mkfs.erofs options a containerd differ is configured with, the
//! erofs-utils release, and what `--json` says about them for policy tools.

use layerseal::erofs::options::WallClock;
use layerseal::erofs::{uuid5_url, MkfsOptions, MkfsVersion};
use layerseal::pipeline::LayerResult;
use serde_json::json;

#[derive(clap::Args, Clone, Default)]
pub(crate) struct ErofsArgs {
    /// EROFS: the differ's `mkfs_options`, as one string, e.g.
    /// "-T0 --mkfs-time --sort=none" (Kata's setting). Default: "-T0 --mkfs-time".
    /// Accepted: -T<n>, --mkfs-time, --all-time, --sort=path|none, and the options
    /// the differ passes anyway (--tar=f, --aufs, --quiet, -Enoinline_data, -b4096).
    #[arg(long, value_name = "OPTIONS", allow_hyphen_values = true, value_parser = check_words)]
    pub mkfs_options: Option<String>,
    /// EROFS: the erofs-utils release whose bytes to reproduce: 1.9 (= 1.9.3, also
    /// 1.8.8–1.9.x), 1.8 (= 1.8.10) or 1.8.6. 1.8.7 is refused (broken --aufs).
    #[arg(long, value_name = "VERSION", default_value = "1.9", value_parser = parse_version)]
    pub erofs_utils: MkfsVersion,
    /// EROFS: accept mkfs options without -T; the build time is then the
    /// current time, as mkfs.erofs would stamp it, and the root hash changes
    /// every second.
    #[arg(long)]
    pub allow_wall_clock: bool,
}

fn parse_version(s: &str) -> Result<MkfsVersion, String> {
    MkfsVersion::parse(s).map_err(|e| e.0)
}

/// Syntax check at parse time (clap reports a refusal as a usage error).
fn check_words(s: &str) -> Result<String, String> {
    MkfsOptions::parse(&[s], MkfsVersion::V1_9, WallClock::Use(0))
        .map(|_| s.to_string())
        .map_err(|e| e.0)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ErofsArgs {
    /// The options to build with; an error is a usage error. `erofs` says
    /// whether the command builds EROFS at all (the options need it).
    pub fn resolve(&self, erofs: bool) -> Result<MkfsOptions, String> {
        let given = self.mkfs_options.is_some()
            || self.erofs_utils != MkfsVersion::V1_9
            || self.allow_wall_clock;
        if given && !erofs {
            return Err(
                "--mkfs-options, --erofs-utils and --allow-wall-clock need --format erofs".into(),
            );
        }
        let Some(words) = &self.mkfs_options else {
            return Ok(MkfsOptions {
                version: self.erofs_utils,
                ..MkfsOptions::default()
            });
        };
        let wall = if self.allow_wall_clock {
            WallClock::Use(now())
        } else {
            WallClock::Refuse
        };
        MkfsOptions::parse(&[words], self.erofs_utils, wall).map_err(|e| e.0)
    }
}

/// A UUID in its usual text form.
pub(crate) fn uuid_text(u: &[u8; 16]) -> String {
    let h = hex::encode(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Per-layer facts a policy generator needs for an EROFS layer: the UUID
/// the differ gives the image, the options and release, sizes.
pub(crate) fn erofs_layer_json(
    l: &LayerResult,
    mkfs: &MkfsOptions,
    uuid_from_diff_id: bool,
) -> serde_json::Value {
    let named = if uuid_from_diff_id {
        &l.diff_id
    } else {
        l.digest.as_ref().unwrap_or(&l.diff_id)
    };
    let uuid = uuid5_url(&format!("erofs:blobs/{named}"));
    json!({
        "erofs_uuid": uuid_text(&uuid),
        "mkfs_options": mkfs.words(),
        "erofs_utils": mkfs.version.reproduces(),
        "image_size": l.image_size,
        "hash_offset": l.image_size,
    })
}
