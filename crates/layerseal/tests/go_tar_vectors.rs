//! Every case of `go-archive-tar.json` (Go 1.24's `archive/tar` Reader run on
//! 106 adversarial archives) reproduced: the headers, the bytes `io.Copy`
//! gets from each entry, the error that ends the stream, and the same archive
//! read with `Next` alone.

use std::io::Read;

use base64::Engine;
use layerseal::tar::{Header, Reader, Timestamp};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn vectors() -> Value {
    let text = include_str!("data/go-archive-tar.json");
    serde_json::from_str(text).expect("vector json")
}

fn input(name: &str, case: &Value) -> Vec<u8> {
    let bytes = if let Some(b64) = case["tar_b64"].as_str() {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64")
    } else {
        let path = format!(
            "{}/tests/data/tar-edge/{name}.tar.zst",
            env!("CARGO_MANIFEST_DIR")
        );
        let packed = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        zstd::decode_all(&packed[..]).expect("zstd fixture")
    };
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        case["sha256"].as_str().unwrap(),
        "{name}: input bytes"
    );
    bytes
}

fn check_bytes(what: &str, ours: &[u8], expected: &Value) {
    match expected {
        Value::String(s) => assert_eq!(ours, s.as_bytes(), "{what}"),
        Value::Object(o) if o.contains_key("hex") => {
            assert_eq!(hex::encode(ours), o["hex"].as_str().unwrap(), "{what}")
        }
        Value::Object(o) if o.contains_key("long_string") => {
            assert_eq!(ours.len() as u64, o["len"].as_u64().unwrap(), "{what}: len");
            assert_eq!(
                hex::encode(Sha256::digest(ours)),
                o["sha256"].as_str().unwrap(),
                "{what}: sha256"
            );
        }
        other => panic!("{what}: unexpected vector form {other}"),
    }
}

fn check_time(what: &str, ours: Option<Timestamp>, expected: &Value) {
    match (ours, expected) {
        (None, Value::String(s)) if s == "zero" => {}
        (Some(t), Value::Object(o)) => {
            assert_eq!(t.secs, o["sec"].as_i64().unwrap(), "{what}: sec");
            assert_eq!(
                i64::from(t.nanos),
                o["nsec"].as_i64().unwrap(),
                "{what}: nsec"
            );
        }
        _ => panic!("{what}: ours {ours:?}, expected {expected}"),
    }
}

fn check_pairs(what: &str, ours: Option<Vec<(&[u8], &[u8])>>, expected: &Value) {
    match (ours, expected) {
        (None, Value::Null) => {}
        (Some(pairs), Value::Array(exp)) => {
            assert_eq!(pairs.len(), exp.len(), "{what}: count");
            for ((k, v), e) in pairs.iter().zip(exp) {
                check_bytes(what, k, &e[0]);
                check_bytes(what, v, &e[1]);
            }
        }
        (ours, _) => panic!("{what}: ours {ours:?}, expected {expected}"),
    }
}

fn go_typeflag(t: u8) -> String {
    match t {
        0x20..=0x7e if t != b'\\' && t != b'\'' => (t as char).to_string(),
        _ => format!("\\x{t:02x}"),
    }
}

fn go_mode(m: i64) -> String {
    if m < 0 {
        format!("-{:o}", m.unsigned_abs())
    } else {
        format!("{m:o}")
    }
}

fn check_header(what: &str, h: &Header, e: &Value) {
    assert_eq!(
        go_typeflag(h.typeflag),
        e["typeflag"].as_str().unwrap(),
        "{what}: typeflag"
    );
    check_bytes(&format!("{what}: name"), &h.name, &e["name"]);
    check_bytes(&format!("{what}: linkname"), &h.linkname, &e["linkname"]);
    check_bytes(&format!("{what}: uname"), &h.uname, &e["uname"]);
    check_bytes(&format!("{what}: gname"), &h.gname, &e["gname"]);
    assert_eq!(h.size, e["size"].as_i64().unwrap(), "{what}: size");
    assert_eq!(go_mode(h.mode), e["mode"].as_str().unwrap(), "{what}: mode");
    assert_eq!(h.uid, e["uid"].as_i64().unwrap(), "{what}: uid");
    assert_eq!(h.gid, e["gid"].as_i64().unwrap(), "{what}: gid");
    assert_eq!(
        h.devmajor,
        e["devmajor"].as_i64().unwrap(),
        "{what}: devmajor"
    );
    assert_eq!(
        h.devminor,
        e["devminor"].as_i64().unwrap(),
        "{what}: devminor"
    );
    check_time(&format!("{what}: mtime"), h.mtime, &e["mtime"]);
    check_time(&format!("{what}: atime"), h.atime, &e["atime"]);
    check_time(&format!("{what}: ctime"), h.ctime, &e["ctime"]);
    let xattrs = h.xattrs();
    let xattrs = (h.pax.is_some() && !xattrs.is_empty()).then_some(xattrs);
    check_pairs(&format!("{what}: xattrs"), xattrs, &e["xattrs"]);
    let pax = h.pax.as_ref().map(|m| {
        m.iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect()
    });
    check_pairs(&format!("{what}: pax"), pax, &e["pax"]);
    assert_eq!(
        h.format.name(),
        e["format"].as_str().unwrap(),
        "{what}: format"
    );
}

fn error_name(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|i| i.downcast_ref::<layerseal::tar::TarError>())
    {
        Some(t) => t.go_name().to_string(),
        None => format!("io: {e}"),
    }
}

#[test]
fn go_archive_tar_vectors() {
    let v = vectors();
    let cases = v["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 106);
    for (name, case) in cases {
        let bytes = input(name, case);

        // Next + io.Copy, as tar2ext4 drives the reader.
        let mut r = Reader::new(&bytes[..]);
        let expected = case["entries"].as_array().unwrap();
        let mut i = 0;
        let final_error = loop {
            match r.next() {
                Ok(None) => break "EOF".to_string(),
                Err(e) => break e.go_name().to_string(),
                Ok(Some(h)) => {
                    let what = format!("{name}[{i}]");
                    let e = expected
                        .get(i)
                        .unwrap_or_else(|| panic!("{what}: extra entry {h:?}"));
                    check_header(&what, &h, e);
                    let mut data = Vec::new();
                    let mut buf = vec![0u8; 32 * 1024];
                    let err = loop {
                        match r.read(&mut buf) {
                            Ok(0) => break None,
                            Ok(n) => data.extend_from_slice(&buf[..n]),
                            Err(e) => break Some(error_name(&e)),
                        }
                    };
                    let d = &e["data"];
                    assert_eq!(
                        data.len() as u64,
                        d["len"].as_u64().unwrap(),
                        "{what}: data len"
                    );
                    assert_eq!(
                        hex::encode(Sha256::digest(&data)),
                        d["sha256"].as_str().unwrap(),
                        "{what}: data"
                    );
                    assert_eq!(err.as_deref(), d["err"].as_str(), "{what}: data error");
                    i += 1;
                }
            }
        };
        assert_eq!(i, expected.len(), "{name}: entry count");
        assert_eq!(
            final_error,
            case["final_error"].as_str().unwrap(),
            "{name}: final error"
        );

        // Next alone: data is skipped, never read.
        let mut r = Reader::new(&bytes[..]);
        let mut n = 0;
        let final_error = loop {
            match r.next() {
                Ok(None) => break "EOF".to_string(),
                Err(e) => break e.go_name().to_string(),
                Ok(Some(_)) => n += 1,
            }
        };
        let only = &case["next_only"];
        assert_eq!(
            n,
            only["entries"].as_u64().unwrap(),
            "{name}: next-only entries"
        );
        assert_eq!(
            final_error,
            only["final_error"].as_str().unwrap(),
            "{name}: next-only final error"
        );
    }
}
