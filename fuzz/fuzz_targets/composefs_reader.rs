#![no_main]
//! Reading arbitrary bytes as a composefs image: an error or a tree.
use layerseal::composefs::read::image_to_dump;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(dump) = image_to_dump(data) {
        let _ = dump.print();
    }
});
