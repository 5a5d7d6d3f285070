#![no_main]
//! The EROFS reader on any bytes: an error or a listing, never a panic
//! or a hang.
use layerseal::erofs::reader::{listing, Image};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = Image::open(data) {
        let _ = listing(&img);
    }
});
