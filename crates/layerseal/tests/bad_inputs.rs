//! Every rejection upstream makes is ours too, with its message; hostile
//! inputs (path traversal, absurd sizes, corrupt compression) end in a
//! clear error or a safe image, never a panic.

mod common;

use common::{archive, raw_entry};
use ext4_view::Ext4;
use layerseal::ext4::{self, from_tar::ErrorKind, LAYOUT_128G};
use layerseal::layer::{convert_layer, LayerError, LayerOptions};
use layerseal::sink::VecSink;

fn fails_with(tar: &[u8], message: &str, kind: ErrorKind) {
    match ext4::convert(tar, VecSink::default(), LAYOUT_128G) {
        Ok(_) => panic!("accepted, expected: {message}"),
        Err(e) => {
            assert_eq!(e.message, message);
            assert_eq!(e.kind, kind, "{message}");
        }
    }
}

const REG: u8 = b'0';
const LNK: u8 = b'1';
const SYM: u8 = b'2';
const DIR: u8 = b'5';

#[test]
fn hard_link_rules() {
    fails_with(
        &archive(&[raw_entry(b"h", LNK, b"missing", 0, b"")]),
        "missing: file not found",
        ErrorKind::Rejected,
    );
    fails_with(
        &archive(&[
            raw_entry(b"d/", DIR, b"", 0, b""),
            raw_entry(b"h", LNK, b"d", 0, b""),
        ]),
        "h: link target cannot be a directory: d",
        ErrorKind::Rejected,
    );
    fails_with(
        &archive(&[
            raw_entry(b"a", REG, b"", 1, b"x"),
            raw_entry(b"b", REG, b"", 0, b""),
            raw_entry(b"b", LNK, b"a", 0, b""),
        ]),
        "b: cannot orphan existing file or directory",
        ErrorKind::Rejected,
    );
}

#[test]
fn replace_rules() {
    fails_with(
        &archive(&[
            raw_entry(b"x", REG, b"", 3, b"abc"),
            raw_entry(b"x/", DIR, b"", 0, b""),
        ]),
        "x/: cannot replace a file with a directory",
        ErrorKind::Rejected,
    );
    fails_with(
        &archive(&[
            raw_entry(b"x/", DIR, b"", 0, b""),
            raw_entry(b"x", REG, b"", 0, b""),
        ]),
        "x: cannot replace a directory with a file",
        ErrorKind::Rejected,
    );
    fails_with(
        &archive(&[
            raw_entry(b"f", REG, b"", 2, b"hi"),
            raw_entry(b".wh.f", REG, b"", 0, b""),
        ]),
        "failed to create whiteout file for .wh.f: f: cannot overwrite file with non-inline data",
        ErrorKind::Rejected,
    );
    let long = [b'l'; 80];
    fails_with(
        &archive(&[
            raw_entry(b"s", SYM, &long, 0, b""),
            raw_entry(b"s", SYM, b"short", 0, b""),
        ]),
        "s: cannot overwrite file with non-inline data",
        ErrorKind::Rejected,
    );
    // Zero-size files and short symlinks are replaced in place.
    let ok = archive(&[
        raw_entry(b"e", REG, b"", 0, b""),
        raw_entry(b"e", REG, b"", 0, b""),
    ]);
    assert!(ext4::convert(&ok[..], VecSink::default(), LAYOUT_128G).is_ok());
}

#[test]
fn names_over_255_bytes_are_refused() {
    // 256-byte component via a GNU long-name header.
    let name = vec![b'n'; 256];
    let mut long = raw_entry(b"././@LongLink", b'L', b"", name.len() as u64, &name);
    long.extend(raw_entry(b"short", REG, b"", 0, b""));
    let tar = archive(&[long]);
    fails_with(
        &tar,
        // upstream's "<name>: invalid name", the name quoted in short
        &format!("{}: invalid name", layerseal::text::shown(&name)),
        ErrorKind::Rejected,
    );
}

#[test]
fn traversal_names_stay_inside_the_image() {
    let tar = archive(&[
        raw_entry(b"../../escape", REG, b"", 3, b"one"),
        raw_entry(b"/abs/file", REG, b"", 3, b"two"),
        raw_entry(b"a/../../b", REG, b"", 5, b"three"),
        raw_entry(b"link", SYM, b"../../../etc/passwd", 0, b""),
    ]);
    let (sink, _) = ext4::convert(&tar[..], VecSink::default(), LAYOUT_128G).unwrap();
    let fs = Ext4::load(Box::new(sink.bytes)).unwrap();
    assert_eq!(fs.read("/escape").unwrap(), b"one");
    assert_eq!(fs.read("/abs/file").unwrap(), b"two");
    assert_eq!(fs.read("/b").unwrap(), b"three");
    // Symlink targets are data, stored as given (never followed).
    assert_eq!(
        fs.read_link("/link").unwrap().as_ref(),
        b"../../../etc/passwd"
    );
}

#[test]
fn absurd_sizes_fail_fast_without_allocating() {
    // 1 TiB claimed: over the 128 GiB file limit.
    fails_with(
        &archive(&[raw_entry(b"big", REG, b"", 1 << 40, b"")]),
        "big: file too big: 1099511627776 > 137438953472",
        ErrorKind::TooBig,
    );
    // 100 GiB claimed, no data: the stream ends.
    let mut tar = raw_entry(b"big", REG, b"", 100 << 30, b"");
    tar.extend_from_slice(&[7u8; 4096]);
    fails_with(&tar, "unexpected EOF", ErrorKind::CorruptTar);
    // Exactly 128 GiB: a legal file size, but with the metadata before it
    // past the 128 GiB disk reservation, refused before any data is read.
    fails_with(
        &archive(&[raw_entry(b"huge", REG, b"", 128 << 30, b"")]),
        "disk exceeded maximum size of 137438953472 bytes",
        ErrorKind::TooBig,
    );
}

#[test]
fn truncation_and_corrupt_compression() {
    let tar = common::layer("basic.tar");
    // Cutting exactly at a header boundary is a clean end to Go's reader
    // (and so to upstream), and so is a cut inside the padding after an
    // entry's data; cuts inside a header or data are errors.
    let (sink, _) = ext4::convert(&tar[..512], VecSink::default(), LAYOUT_128G).unwrap();
    assert!(!sink.bytes.is_empty());
    for cut in [100, 513, 4620, 5200, 600_000] {
        let r = convert_layer(&tar[..cut], &LayerOptions::default());
        match r {
            Err(LayerError::Convert(e)) => assert_eq!(e.message, "unexpected EOF", "cut at {cut}"),
            Err(LayerError::NotTar) => assert!(cut < 512),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    let gz = std::fs::read(common::data_dir().join("corpus/basic.tar.gz")).unwrap();
    let mut bad = gz.clone();
    bad[5000] ^= 0xff;
    assert!(convert_layer(&bad[..], &LayerOptions::default()).is_err());
    assert!(convert_layer(&gz[..gz.len() / 2], &LayerOptions::default()).is_err());
    // zstd frames carry a checksum only when the writer asks (the zstd CLI
    // does); without one, only the blob digest / diff_id can catch this.
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(true).unwrap();
    std::io::copy(&mut &tar[..], &mut enc).unwrap();
    let zst = enc.finish().unwrap();
    let mut bad = zst.clone();
    bad[zst.len() / 2] ^= 0xff;
    assert!(convert_layer(&bad[..], &LayerOptions::default()).is_err());
    assert!(convert_layer(&zst[..zst.len() / 2], &LayerOptions::default()).is_err());
}
