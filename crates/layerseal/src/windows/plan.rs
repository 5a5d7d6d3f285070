//! The call sequence hcsshim's block-CIM layer writer issues for one layer
//! (spec: ../shared/specs/windows-cim.md §4): entries in tar order, except
//! that the "std files" (registry hives, BCD, bootmgr) and every hard
//! link are held back and applied at close; then, for a base layer, the
//! `Hives` directory, the five config links and the `layout` file, or,
//! for a layer above others, one hive merge per `Hives\X_DELTA` against
//! the immediate parent's `Hives\X_BASE`. Links whose target was added
//! in this layer become hard links, the rest merge links.

use std::collections::HashSet;

use serde::Serialize;

use super::layer::{Entry, Metadata, WindowsLayer};

/// Create flags of a layer CIM: single file | consistent | verified.
pub const CREATE_FLAGS: u32 = 0x58;
/// Merge flags of each source of the merged CIM: single file | verified.
pub const MERGE_FLAGS: u32 = 0x5;

const ATTR_NORMAL: u32 = 0x80;
const LAYOUT_CONTENT: &[u8] = b"vhd-with-hives\n";

/// Written to the layer directory and added at close (hcsshim's list).
const STD_FILES: &[&str] = &[
    r"Hives\SYSTEM_DELTA",
    r"Hives\SOFTWARE_DELTA",
    r"Hives\SAM_DELTA",
    r"Hives\SECURITY_DELTA",
    r"Hives\DEFAULTUSER_DELTA",
    r"Files\Windows\System32\config\SYSTEM",
    r"Files\Windows\System32\config\SOFTWARE",
    r"Files\Windows\System32\config\SAM",
    r"Files\Windows\System32\config\SECURITY",
    r"Files\Windows\System32\config\DEFAULT",
    r"UtilityVM\Files\Windows\System32\config\SYSTEM",
    r"UtilityVM\Files\Windows\System32\config\SOFTWARE",
    r"UtilityVM\Files\EFI\Microsoft\Boot\BCD",
    r"UtilityVM\Files\EFI\Microsoft\Boot\bootmgfw.efi",
];

/// (config file, base hive, delta hive), in hcsshim's order.
const HIVES: &[(&str, &str, &str)] = &[
    ("SYSTEM", "SYSTEM_BASE", "SYSTEM_DELTA"),
    ("SOFTWARE", "SOFTWARE_BASE", "SOFTWARE_DELTA"),
    ("SAM", "SAM_BASE", "SAM_DELTA"),
    ("SECURITY", "SECURITY_BASE", "SECURITY_DELTA"),
    ("DEFAULT", "DEFAULTUSER_BASE", "DEFAULTUSER_DELTA"),
];

/// One call into the writer (offreg's for hive merges).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "call")]
pub enum Op {
    CimCreateFile {
        path: String,
        #[serde(flatten)]
        metadata: Metadata,
        /// SHA-256 of the data written to the stream (None: no data);
        /// `"computed on Windows"` payloads are marked in `payload_note`.
        payload_sha256: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        payload_note: Option<String>,
    },
    CimCreateAlternateStream {
        path: String,
        size: u64,
        payload_sha256: String,
    },
    CimTombstoneFile {
        path: String,
    },
    CimCreateHardLink {
        path: String,
        existing: String,
    },
    CimCreateMergeLink {
        path: String,
        existing: String,
    },
    /// `ORMergeHives(parent base, delta)` then `ORSaveHive`: its output is
    /// the data of the `CimCreateFile` that follows.
    MergeHive {
        parent_base: String,
        delta: String,
        output: String,
    },
}

/// The plan of one layer, with what makes upstream's result unreliable.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub base_layer: bool,
    pub create_flags: u32,
    pub ops: Vec<Op>,
    pub lints: Vec<String>,
}

fn zero_meta(attributes: u32, size: u64) -> Metadata {
    Metadata {
        attributes,
        file_size: size,
        creation_time: 0,
        last_write_time: 0,
        change_time: 0,
        last_access_time: 0,
        security_descriptor: super::encode::null_dacl_descriptor(),
        reparse_data: Vec::new(),
        ea_buffer: Vec::new(),
    }
}

fn create(path: &str, metadata: Metadata, payload_sha256: Option<String>) -> Op {
    Op::CimCreateFile {
        path: path.to_string(),
        metadata,
        payload_sha256,
        payload_note: None,
    }
}

/// What the writer holds back to close, in tar order.
enum Held<'a> {
    File(Op),
    Link(&'a String, &'a String),
}

/// The call sequence for `layer`. `parents` are the layer directories
/// below it, immediate parent first (empty: a base layer).
pub fn plan(layer: &WindowsLayer, parents: &[String]) -> Plan {
    let base = parents.is_empty();
    let mut ops = Vec::new();
    let mut pending = Vec::new();
    let mut added: HashSet<&str> = HashSet::new();
    let mut lints = layer.lints.clone();
    let std_file = |p: &str| STD_FILES.iter().any(|s| s.eq_ignore_ascii_case(p));
    for e in &layer.entries {
        match e {
            Entry::Create {
                path,
                meta,
                payload_sha256,
            } => {
                added.insert(path);
                if !base && path.starts_with(r"UtilityVM\") {
                    lints.push(format!(
                        "{path}: UtilityVM file in a layer above the base; block CIMs only log it"
                    ));
                }
                let op = create(path, meta.clone(), payload_sha256.clone());
                if std_file(path) {
                    pending.push(Held::File(op));
                } else {
                    ops.push(op);
                }
            }
            Entry::AltStream {
                path,
                size,
                payload_sha256,
            } => ops.push(Op::CimCreateAlternateStream {
                path: path.clone(),
                size: *size,
                payload_sha256: payload_sha256.clone(),
            }),
            Entry::Tombstone { path } => ops.push(Op::CimTombstoneFile { path: path.clone() }),
            // Resolved at close: hard link if the target is in this layer.
            Entry::Link { path, target } => pending.push(Held::Link(path, target)),
        }
    }
    let link_op = |path: &String, target: &String, added: &HashSet<&str>| {
        if added.contains(target.as_str()) {
            Op::CimCreateHardLink {
                path: path.clone(),
                existing: target.clone(),
            }
        } else {
            Op::CimCreateMergeLink {
                path: path.clone(),
                existing: target.clone(),
            }
        }
    };
    let mut close: Vec<Op> = Vec::new();
    for held in pending {
        close.push(match held {
            Held::File(op) => op,
            Held::Link(path, target) => link_op(path, target, &added),
        });
    }
    if base {
        close.push(create("Hives", zero_meta(0x10, 0), None));
        added.insert("Hives");
        for (config, base_hive, _) in HIVES {
            let path = format!(r"Files\Windows\System32\config\{config}");
            let target = format!(r"Hives\{base_hive}");
            close.push(link_op(&path, &target, &added));
        }
        close.push(create(
            "layout",
            zero_meta(ATTR_NORMAL, LAYOUT_CONTENT.len() as u64),
            Some(crate::source::Digest::sha256_of(LAYOUT_CONTENT).hex),
        ));
        for (_, _, delta) in HIVES {
            let d = format!(r"Hives\{delta}");
            if added.contains(d.as_str()) {
                lints.push(format!(
                    "{d}: a hive delta in a base layer has no parent hive to merge into"
                ));
            }
        }
    } else {
        for (_, base_hive, delta) in HIVES {
            let d = format!(r"Hives\{delta}");
            if !added.contains(d.as_str()) {
                continue;
            }
            let out = format!(r"Hives\{base_hive}");
            close.push(Op::MergeHive {
                parent_base: format!(r"{}\{out}", parents[0]),
                delta: d,
                output: out.clone(),
            });
            close.push(Op::CimCreateFile {
                path: out,
                metadata: zero_meta(ATTR_NORMAL, 0),
                payload_sha256: None,
                payload_note: Some("ORMergeHives output: known only on Windows".into()),
            });
        }
    }
    ops.extend(close);
    Plan {
        base_layer: base,
        create_flags: CREATE_FLAGS,
        ops,
        lints,
    }
}
