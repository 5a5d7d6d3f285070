//! The ext4 bytes of every small corpus layer equal dmverity-vhd's, in both
//! metadata layouts (128 GiB for create/roothash, 16 GiB for tar2hashed).

mod common;

use layerseal::ext4::{self, LAYOUT_128G, LAYOUT_16G};
use layerseal::sink::VecSink;

#[test]
fn ext4_images_match_dmverity_vhd() {
    let exp = common::expected();
    for name in common::SMALL_LAYERS {
        let tar = common::layer(name);
        for (layout, key) in [
            (LAYOUT_128G, "create_dir_vhd"),
            (LAYOUT_16G, "tar2hashed_ext4"),
        ] {
            let e = &exp["layers"][name][key];
            let result = ext4::convert(&tar[..], VecSink::default(), layout);
            match e["ext4_sha256"].as_str() {
                Some(sha) => {
                    let (sink, summary) = result.unwrap_or_else(|e| panic!("{name} {key}: {e}"));
                    assert_eq!(
                        summary.blocks,
                        e["ext4_blocks"].as_u64().unwrap(),
                        "{name} {key}: blocks"
                    );
                    assert_eq!(
                        common::sha256_hex(&sink.bytes),
                        sha,
                        "{name} {key}: ext4 bytes"
                    );
                    eprintln!("{name} {key}: {} blocks match", summary.blocks);
                }
                None => {
                    let err = result
                        .err()
                        .unwrap_or_else(|| panic!("{name} {key}: should fail"));
                    let stderr = exp["layers"][name]["hashlayer"]["stderr"].as_str().unwrap();
                    assert_eq!(
                        format!("failed to convert tar to ext4: {err}"),
                        stderr,
                        "{name}"
                    );
                }
            }
        }
    }
}
