//! Shared test helpers: the corpus fixtures and the reference facts.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The reference facts for dmverity-vhd (copied from the shared vectors).
pub fn expected() -> Value {
    let text = std::fs::read_to_string(data_dir().join("dmverity-vhd-expected.json"))
        .expect("expected json");
    serde_json::from_str(&text).expect("json")
}

/// The reference facts for mkfs.erofs + containerd (copied from the shared vectors).
pub fn erofs_expected() -> Value {
    let text = std::fs::read_to_string(data_dir().join("erofs-expected.json"))
        .expect("erofs expected json");
    serde_json::from_str(&text).expect("json")
}

/// The 16 bytes of a textual UUID (`xxxxxxxx-xxxx-…`).
pub fn uuid_bytes(s: &str) -> [u8; 16] {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("uuid hex");
    }
    out
}

/// The small layers every EROFS variant reproduces (all but sparse.tar,
/// where mkfs.erofs loses data and we do not).
pub fn erofs_layers() -> impl Iterator<Item = &'static str> {
    SMALL_LAYERS.iter().copied().filter(|n| *n != "sparse.tar")
}

/// Small corpus layers shipped as zstd fixtures (the bytes gen.py writes).
pub const SMALL_LAYERS: &[&str] = &[
    "basic.tar",
    "bigdir.tar",
    "devices.tar",
    "empty.tar",
    "gnu-names.tar",
    "names.tar",
    "sparse.tar",
    "unordered.tar",
    "whiteouts.tar",
    "xattrs.tar",
];

/// A corpus layer's tar bytes, checked against the recorded input hash.
pub fn layer(name: &str) -> Vec<u8> {
    let packed =
        std::fs::read(data_dir().join("corpus").join(format!("{name}.zst"))).expect("fixture");
    let bytes = zstd::decode_all(&packed[..]).expect("zstd");
    let exp = expected();
    if let Some(sha) = exp["layers"][name]["input_sha256"].as_str() {
        assert_eq!(sha256_hex(&bytes), sha, "{name}: fixture bytes");
    }
    bytes
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A USTAR header with any name (up to 100 bytes), type, link and size
/// field, for hand-made bad inputs. `data` follows, padded.
pub fn raw_entry(name: &[u8], typeflag: u8, linkname: &[u8], size: u64, data: &[u8]) -> Vec<u8> {
    let mut b = [0u8; 512];
    b[..name.len()].copy_from_slice(name);
    b[100..108].copy_from_slice(b"0000644\0");
    b[108..116].copy_from_slice(b"0000000\0");
    b[116..124].copy_from_slice(b"0000000\0");
    let size_field = format!("{size:011o}\0");
    if size_field.len() == 12 {
        b[124..136].copy_from_slice(size_field.as_bytes());
    } else {
        // Too large for octal: base-256.
        b[124] = 0x80;
        b[128..136].copy_from_slice(&size.to_be_bytes());
    }
    b[136..148].copy_from_slice(b"14524770400\0");
    b[148..156].fill(b' ');
    b[156] = typeflag;
    b[157..157 + linkname.len()].copy_from_slice(linkname);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
    b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = b.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// Entries followed by the end-of-archive marker.
pub fn archive(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = entries.concat();
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// The dumpfiles under `composefs-dumps/DIR`, decompressed (`.zst` or
/// `.gz`; the name keeps `.gz` as upstream spells it), sorted by name.
pub fn composefs_dumps(dir: &str) -> Vec<(String, Vec<u8>)> {
    let root = data_dir().join("composefs-dumps").join(dir);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p: PathBuf| {
            let name = p.file_name()?.to_str()?.to_string();
            let raw = std::fs::read(&p).ok()?;
            if let Some(stem) = name.strip_suffix(".zst") {
                Some((stem.to_string(), zstd::decode_all(&raw[..]).unwrap()))
            } else if name.ends_with(".gz") {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut v)
                    .unwrap();
                Some((name, v))
            } else {
                None
            }
        })
        .collect();
    out.sort();
    out
}

/// Expected composefs images (copied from the shared vectors).
pub fn composefs_expected() -> Value {
    let text = std::fs::read_to_string(data_dir().join("composefs-images.json"))
        .expect("composefs-images.json");
    serde_json::from_str(&text).expect("json")
}

/// Write an OCI image layout with one manifest tagged `tag`: `layers` are
/// (blob bytes, media type), `config` the raw config JSON. Returns the
/// manifest digest.
pub fn write_oci_layout(
    dir: &std::path::Path,
    layers: &[(Vec<u8>, &str)],
    config: &[u8],
    tag: &str,
) -> String {
    use serde_json::json;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let d = sha256_hex(b);
        std::fs::write(blobs.join(&d), b).unwrap();
        d
    };
    let cfg = put(config);
    let descs: Vec<Value> = layers
        .iter()
        .map(|(b, mt)| json!({"mediaType": mt, "digest": format!("sha256:{}", put(b)), "size": b.len()}))
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{cfg}"), "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let m = put(&manifest);
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{m}"), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    .unwrap();
    std::fs::write(dir.join("index.json"), index).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    format!("sha256:{m}")
}

/// The OCI layout (tag "t") the composefs vectors describe for corpus
/// layers: uncompressed layers, a config with sorted keys and no spaces.
/// Returns the config's sha256 hex.
pub fn composefs_layout(dir: &std::path::Path, layer_names: &[&str]) -> String {
    let layers: Vec<Vec<u8>> = layer_names.iter().map(|n| layer(n)).collect();
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "config": {}, "history": [], "os": "linux",
        "rootfs": {"diff_ids": diff_ids, "type": "layers"}
    }))
    .unwrap();
    let blobs: Vec<(Vec<u8>, &str)> = layers
        .into_iter()
        .map(|l| (l, "application/vnd.oci.image.layer.v1.tar"))
        .collect();
    write_oci_layout(dir, &blobs, &config, "t");
    sha256_hex(&config)
}

/// The image tagged "t" in a layout written by [`composefs_layout`].
pub fn open_layout(dir: &std::path::Path) -> layerseal::source::Image {
    use layerseal::source::{open_image, ImageRef, Platform};
    open_image(
        &ImageRef::OciDir(dir.to_path_buf(), Some("t".into())),
        &Platform::new("linux", "amd64", None),
    )
    .unwrap()
}

/// Pull `image` into `repo` as `tag` with V1 images (cfsctl's default).
pub fn pull_v1(
    repo: &layerseal::composefs::repo::Repository,
    image: &layerseal::source::Image,
    tag: &str,
) -> Result<layerseal::composefs::import::Pulled, layerseal::composefs::import::ImportError> {
    use layerseal::composefs::import::{pull, PullOptions};
    let opts = PullOptions {
        erofs_version: 1,
        ..Default::default()
    };
    pull(repo, image, tag, &opts)
}
