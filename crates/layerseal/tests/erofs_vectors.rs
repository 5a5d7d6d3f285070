//! EROFS images equal mkfs.erofs 1.9.3's (`--tar=f --aufs -Enoinline_data
//! -b4096 -T0 --mkfs-time -U <uuid>`) on the corpus layers.

mod common;

use layerseal::erofs;
use layerseal::sink::VecSink;

fn uuid_bytes(s: &str) -> [u8; 16] {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

pub fn expected() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(common::data_dir().join("erofs-expected.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn erofs_images_match_mkfs() {
    let exp = expected();
    let mut failures = Vec::new();
    for name in [
        "basic.tar",
        "bigdir.tar",
        "devices.tar",
        "empty.tar",
        "gnu-names.tar",
        "names.tar",
        "unordered.tar",
        "whiteouts.tar",
        "xattrs.tar",
    ] {
        let e = &exp["layers"][name];
        let tar = common::layer(name);
        let uuid = uuid_bytes(e["erofs_uuid"].as_str().unwrap());
        let (sink, summary) = erofs::convert(&tar[..], VecSink::default(), uuid)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let f = &e["full_T0"];
        let got = common::sha256_hex(&sink.bytes);
        eprintln!("{name}: {} bytes, sha256 {got}", sink.bytes.len());
        if got != f["erofs_sha256"].as_str().unwrap() {
            failures.push(format!(
                "{name}: size {} (want {}), blocks {} inodes {} (want {} / {})",
                sink.bytes.len(),
                f["erofs_size"],
                summary.blocks,
                summary.inodes,
                f["superblock"]["blocks"],
                f["superblock"]["inos"]
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
