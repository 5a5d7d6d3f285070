#![no_main]
//! Windows layer tars (PAX MSWINDOWS.* records, alternate data streams,
//! whiteouts, links) from arbitrary bytes: an error or a plan, never a
//! panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(layer) = layerseal::windows::layer::read_layer(data) {
        let _ = layerseal::windows::plan::plan(&layer, &[]);
        let _ = layerseal::windows::plan::plan(&layer, &["C:\\parent".to_string()]);
    }
});
