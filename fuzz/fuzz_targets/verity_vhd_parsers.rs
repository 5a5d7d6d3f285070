#![no_main]
//! The dm-verity superblock and VHD footer decoders on any bytes.
use layerseal::verity::Superblock;
use layerseal::vhd::{Footer, FOOTER_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sb) = Superblock::decode(data) {
        // What decodes must encode back to the same fields.
        assert_eq!(Superblock::decode(&sb.encode()).ok(), Some(sb));
    }
    if data.len() >= FOOTER_SIZE {
        let block: &[u8; FOOTER_SIZE] = data[..FOOTER_SIZE].try_into().unwrap();
        let _ = Footer::decode(block, data.len() as u64);
    }
});
