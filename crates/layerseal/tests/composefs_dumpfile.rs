//! The dumpfile parser against composefs's own test assets and the
//! printer against composefs-rs's output.

mod common;

use layerseal::composefs::dumpfile::{parse, ParseOptions};

#[test]
fn upstream_assets_pass_or_fail_as_upstream_expects() {
    let all = common::composefs_dumps("upstream");
    assert!(all.len() >= 25, "assets missing: {}", all.len());
    let mut failures = Vec::new();
    for (name, bytes) in &all {
        let lenient = [
            "no-newline.dump",
            "longlink.dump",
            "honggfuzz-longlink-unterminated.dump",
        ];
        // Rejections must not lean on strict mode's extra checks.
        let strict = !lenient.contains(&name.as_str()) && !name.starts_with("should-fail-");
        let r = parse(bytes, ParseOptions { strict });
        match (name.starts_with("should-fail-"), r) {
            (true, Ok(_)) => failures.push(format!("{name}: accepted")),
            (true, Err(e)) => eprintln!("{name}: rejected: {e}"),
            (false, Err(e)) => failures.push(format!("{name}: {e}")),
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn printer_reproduces_composefs_rs_dumps() {
    let all = common::composefs_dumps("rs-dir");
    assert!(all.len() >= 10);
    for (name, bytes) in &all {
        if name.ends_with(".head") {
            continue; // a truncated excerpt
        }
        let d =
            parse(bytes, ParseOptions { strict: true }).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.print(), String::from_utf8_lossy(bytes), "{name}");
    }
}

#[test]
fn printed_dumps_parse_back_to_the_same_tree() {
    for (name, bytes) in common::composefs_dumps("upstream") {
        if name.starts_with("should-fail-") {
            continue;
        }
        let d = parse(&bytes, ParseOptions::default()).unwrap();
        let again = parse(d.print().as_bytes(), ParseOptions::default())
            .unwrap_or_else(|e| panic!("{name}: reprint does not parse: {e}"));
        assert_eq!(again.print(), d.print(), "{name}");
    }
}
