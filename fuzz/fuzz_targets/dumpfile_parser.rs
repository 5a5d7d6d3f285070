#![no_main]
//! The composefs dumpfile parser on any bytes: an error or a tree, never a
//! panic; whatever it accepts prints to text that parses back the same.
use layerseal::composefs::dumpfile::{parse, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for strict in [false, true] {
        if let Ok(d) = parse(data, ParseOptions { strict }) {
            let text = d.print();
            let again = parse(text.as_bytes(), ParseOptions::default())
                .expect("printed dumpfile parses");
            assert_eq!(again.print(), text);
        }
    }
});
