//! The mkfs.erofs options a containerd EROFS differ is configured with
//! (`mkfs_options`), and the erofs-utils release whose bytes to reproduce.
//! Every option here changes the image, so the root hash a policy pins
//! (erofs-dmverity.md §1.3, §1.4; erofs-mkfs-layout.md §11).

use std::fmt;

/// The erofs-utils release to reproduce byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MkfsVersion {
    /// 1.9.3 (also 1.8.8–1.9.2 for layers without the §11 triggers):
    /// xattrs sorted, sub-second mtimes dropped on compact inodes.
    #[default]
    V1_9,
    /// 1.8.10 (also 1.8.8, 1.8.9): xattrs in insertion order, an inode
    /// with sub-second mtime stays extended, pax fractions read as plain
    /// nanosecond integers.
    V1_8,
    /// 1.8.6: as 1.8.10, and tar-index images carry no superblock
    /// checksum (the checksummed block never reached the disk).
    V1_8_6,
}

impl MkfsVersion {
    /// The version as `mkfs.erofs --version` prints it.
    pub fn reproduces(self) -> &'static str {
        match self {
            MkfsVersion::V1_9 => "1.9.3",
            MkfsVersion::V1_8 => "1.8.10",
            MkfsVersion::V1_8_6 => "1.8.6",
        }
    }

    /// The 1.8 series' rules (1.8.6 included).
    pub fn is_1_8(self) -> bool {
        matches!(self, MkfsVersion::V1_8 | MkfsVersion::V1_8_6)
    }

    /// Parse `--erofs-utils` values: `1.9` (and its releases 1.8.8–1.9.x),
    /// `1.8` / `1.8.10`, `1.8.6`; 1.8.7 is refused with the reason.
    pub fn parse(s: &str) -> Result<Self, OptionsError> {
        match s.trim() {
            "1.9" | "1.9.0" | "1.9.1" | "1.9.2" | "1.9.3" | "1.9.4" => Ok(MkfsVersion::V1_9),
            "1.8" | "1.8.8" | "1.8.9" | "1.8.10" => Ok(MkfsVersion::V1_8),
            "1.8.6" => Ok(MkfsVersion::V1_8_6),
            "1.8.7" => Err(OptionsError::new(
                "erofs-utils 1.8.7 is not supported: its --aufs whiteout handling is broken \
                 (`.wh.` files are kept literally; fixed in 1.8.8), so no node should run it",
            )),
            other => Err(OptionsError::new(format!(
                "unsupported erofs-utils version {other:?}: supported are 1.9 (1.8.8–1.9.x), \
                 1.8 (1.8.10) and 1.8.6"
            ))),
        }
    }
}

impl fmt::Display for MkfsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reproduces())
    }
}

/// How mkfs.erofs is run: `-T`, `--mkfs-time`/`--all-time`, `--sort`, and
/// the release. The default is containerd's documented reproducible
/// setting, `-T0 --mkfs-time`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MkfsOptions {
    /// `-T`: the build time, written as the superblock epoch; inodes whose
    /// mtime equals it are stored compact.
    pub build_time: u64,
    /// `-T` without `--mkfs-time` (or `--all-time`): every inode's mtime
    /// becomes the build time.
    pub all_time: bool,
    /// `--sort=none`: file data in tar order, allocated while the tar is
    /// read, instead of in path order.
    pub sort_none: bool,
    pub version: MkfsVersion,
}

impl Default for MkfsOptions {
    fn default() -> Self {
        MkfsOptions {
            build_time: 0,
            all_time: false,
            sort_none: false,
            version: MkfsVersion::V1_9,
        }
    }
}

/// A refused option list; the message names the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OptionsError(pub String);

impl OptionsError {
    fn new(s: impl Into<String>) -> Self {
        OptionsError(s.into())
    }
}

/// What `--mkfs-options` accepts, for error messages and `--help`.
pub const SUPPORTED: &str = "-T<n> / -T <n>, --mkfs-time, --all-time, --sort=path|none, \
     and the options containerd's differ already passes (--tar=f, --aufs, --quiet, \
     -Enoinline_data, -b4096)";

/// Where the build time comes from when `-T` is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WallClock {
    /// Refuse: the image would depend on when it was built.
    Refuse,
    /// Use this time (seconds since the epoch), as mkfs.erofs would.
    Use(u64),
}

/// mkfs.erofs's `strtoull(s, 0)`: decimal, `0x` hex or leading-`0` octal.
fn parse_timestamp(s: &str) -> Option<u64> {
    let s = s.trim_start();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
    // mkfs rejects -1 (ULLONG_MAX) as "invalid UNIX timestamp".
    .filter(|&v| v != u64::MAX)
}

impl MkfsOptions {
    /// Parse option words as a containerd differ's `mkfs_options` holds them
    /// (each element one word, or a whole string split at white space).
    pub fn parse<S: AsRef<str>>(
        words: &[S],
        version: MkfsVersion,
        wall_clock: WallClock,
    ) -> Result<Self, OptionsError> {
        let words: Vec<&str> = words
            .iter()
            .flat_map(|w| w.as_ref().split_whitespace())
            .collect();
        let mut time: Option<u64> = None;
        // mkfs's c_timeinherit: None = unspecified, Some(true) = all files,
        // Some(false) = build time only.
        let mut inherit: Option<bool> = None;
        let mut sort_none = false;
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            i += 1;
            let t_value = if w == "-T" {
                let v = words.get(i).ok_or_else(|| {
                    OptionsError::new("option -T needs a value (the build time, e.g. -T0)")
                })?;
                i += 1;
                Some(*v)
            } else {
                w.strip_prefix("-T")
            };
            if let Some(v) = t_value {
                time = Some(parse_timestamp(v).ok_or_else(|| {
                    OptionsError::new(format!("invalid UNIX timestamp {v:?} in -T"))
                })?);
                continue;
            }
            match w {
                "--mkfs-time" => inherit = Some(false),
                "--all-time" => inherit = Some(true),
                "--sort=none" => sort_none = true,
                "--sort=path" => sort_none = false,
                "--tar=f" | "--aufs" | "--quiet" | "-Enoinline_data" | "-b4096" | "-b" => {
                    if w == "-b" && words.get(i) != Some(&"4096") {
                        return Err(OptionsError::new(
                            "only 4096-byte EROFS blocks are supported (-b4096)",
                        ));
                    }
                    if w == "-b" {
                        i += 1;
                    }
                }
                s if s.starts_with("--sort") => {
                    return Err(OptionsError::new(format!(
                        "unsupported value in {s:?}: --sort takes path or none"
                    )))
                }
                other => {
                    return Err(OptionsError::new(format!(
                        "unsupported mkfs option {other:?}: supported are {SUPPORTED}"
                    )))
                }
            }
        }
        let build_time = match (time, wall_clock) {
            (Some(t), _) => t,
            (None, WallClock::Use(now)) => now,
            (None, WallClock::Refuse) => {
                return Err(OptionsError::new(
                    "the mkfs options have no -T: mkfs.erofs would stamp the wall-clock time \
                     into the image, so its root hash could not be predicted. Add -T<n> \
                     (containerd documents \"-T0 --mkfs-time\"), or pass --allow-wall-clock",
                ))
            }
        };
        // As mkfs: an explicit -T without --mkfs-time applies to all files.
        let all_time = match inherit {
            Some(all) => all,
            None => time.is_some(),
        };
        Ok(MkfsOptions {
            build_time,
            all_time,
            sort_none,
            version,
        })
    }

    /// The option words that reproduce these settings, as a containerd
    /// differ config would hold them (for `--json` and cache keys).
    pub fn words(&self) -> Vec<String> {
        let mut w = vec![format!("-T{}", self.build_time)];
        if !self.all_time {
            w.push("--mkfs-time".into());
        }
        if self.sort_none {
            w.push("--sort=none".into());
        }
        w
    }

    /// A one-line identity for cache keys: options and release.
    pub fn cache_key(&self) -> String {
        format!("{} erofs-utils={}", self.words().join(" "), self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<MkfsOptions, OptionsError> {
        MkfsOptions::parse(&[s], MkfsVersion::V1_9, WallClock::Refuse)
    }

    #[test]
    fn containerd_reproducible_setting_is_the_default() {
        assert_eq!(parse("-T0 --mkfs-time").unwrap(), MkfsOptions::default());
        assert_eq!(parse("-T 0 --mkfs-time").unwrap(), MkfsOptions::default());
    }

    #[test]
    fn t_alone_applies_to_all_files() {
        let o = parse("-T1700000000").unwrap();
        assert_eq!((o.build_time, o.all_time), (1_700_000_000, true));
        let o = parse("--mkfs-time -T5 --all-time").unwrap();
        assert!(o.all_time);
        assert_eq!(parse("-T0x10 --mkfs-time").unwrap().build_time, 16);
        assert_eq!(parse("-T010 --mkfs-time").unwrap().build_time, 8);
    }

    #[test]
    fn kata_setting_and_redundant_differ_options() {
        let o = parse("--tar=f --aufs --quiet -Enoinline_data -b4096 -T0 --mkfs-time --sort=none")
            .unwrap();
        assert!(o.sort_none && !o.all_time && o.build_time == 0);
        assert_eq!(o.words(), ["-T0", "--mkfs-time", "--sort=none"]);
    }

    #[test]
    fn refusals_name_the_option() {
        let e = parse("-T0 -zlz4").unwrap_err().0;
        assert!(e.contains("-zlz4") && e.contains("--sort"), "{e}");
        assert!(parse("--mkfs-time").unwrap_err().0.contains("no -T"));
        assert!(parse("-T0 --sort=foo")
            .unwrap_err()
            .0
            .contains("--sort=foo"));
        assert!(parse("-Tabc").unwrap_err().0.contains("abc"));
        assert!(parse("-T").unwrap_err().0.contains("needs a value"));
        assert!(parse("-T0 -b512").unwrap_err().0.contains("-b512"));
        let o =
            MkfsOptions::parse(&["--mkfs-time"], MkfsVersion::V1_9, WallClock::Use(42)).unwrap();
        assert_eq!((o.build_time, o.all_time), (42, false));
    }

    #[test]
    fn versions() {
        assert_eq!(MkfsVersion::parse("1.9").unwrap(), MkfsVersion::V1_9);
        assert_eq!(MkfsVersion::parse("1.8").unwrap(), MkfsVersion::V1_8);
        assert_eq!(MkfsVersion::parse("1.8.6").unwrap(), MkfsVersion::V1_8_6);
        assert!(MkfsVersion::parse("1.8.7")
            .unwrap_err()
            .0
            .contains("whiteout"));
        assert!(MkfsVersion::parse("1.7.1").is_err());
    }
}
