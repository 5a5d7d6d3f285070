#![no_main]
//! composefs-rs splitstreams from arbitrary bytes: an error or a stream.
use layerseal::composefs::splitstream::SplitStream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = SplitStream::parse(data) {
        let _ = s.named("x");
    }
});
