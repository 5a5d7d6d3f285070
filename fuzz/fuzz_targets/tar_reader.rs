#![no_main]
//! The tar reader on any bytes: every entry read to its end, no panics.
use std::io::Read;

use layerseal::tar::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let mut buf = [0u8; 4096];
    for _ in 0..10_000 {
        match r.next() {
            Ok(Some(_)) => while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
            },
            _ => break,
        }
    }
});
