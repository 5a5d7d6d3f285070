//! Helpers shared by the command-line tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The library's test data (corpus fixtures, reference facts).
pub fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../layerseal/tests/data")
}

/// Unpack a corpus fixture into `dir`, returning its path.
pub fn fixture(dir: &Path, name: &str) -> PathBuf {
    let packed = std::fs::read(data().join("corpus").join(format!("{name}.zst"))).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, zstd::decode_all(&packed[..]).unwrap()).unwrap();
    path
}

/// Run the native binary.
pub fn layerseal(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_layerseal"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Root can mount; tests that need it say SKIPPED otherwise.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
