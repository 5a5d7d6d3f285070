#![no_main]
//! Arbitrary bytes as two layer tars (split at the first byte's
//! position) merged as an OCI image and written as a composefs image: an
//! error or an image, never a panic; a written image reads back.
use layerseal::composefs::oci::{compute_id, DigestOnly, IdOptions};
use layerseal::composefs::read::image_to_dump;
use layerseal::verity::Algorithm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |&b| (b as usize * 512).min(data.len()));
    let (a, b) = data.split_at(cut);
    let mut store = DigestOnly {
        algorithm: Algorithm::Sha256,
        threads: 1,
    };
    let usr = usr_layer();
    if let Ok((image, _)) = compute_id([&usr[..], a, b], &mut store, IdOptions::default()) {
        image_to_dump(&image).expect("our image reads back");
    }
});

/// A layer with `usr/` so the OCI transform can succeed.
fn usr_layer() -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..4].copy_from_slice(b"usr/");
    h[100..108].copy_from_slice(b"0000755\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(b"00000000000\0");
    h[136..148].copy_from_slice(b"14524770400\0");
    h[148..156].fill(b' ');
    h[156] = b'5';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let sum: u32 = h.iter().map(|&c| u32::from(c)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = h.to_vec();
    out.resize(512 * 3, 0);
    out
}
