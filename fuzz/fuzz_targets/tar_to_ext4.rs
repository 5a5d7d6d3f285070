#![no_main]
//! Any bytes as a layer (plain, gzip or zstd): conversion ends in an image
//! or an error, never a panic or a hang.
use layerseal::ext4::{convert, LAYOUT_16G};
use layerseal::sink::VecSink;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, reader)) = layerseal::compress::open(data) {
        // Bound what a tiny compressed input can expand to.
        let _ = convert(std::io::Read::take(reader, 64 << 20), VecSink::default(), LAYOUT_16G);
    }
});
