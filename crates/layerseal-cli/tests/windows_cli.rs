//! Windows images off Windows: refused with what is needed instead of
//! ext4 root hashes no Windows host presents; digests computed on Windows
//! passed through with `--precomputed` after checking them.

mod common;
use common::*;

fn run(args: &[&str], cwd: &std::path::Path) -> (i32, String, String) {
    let o = layerseal(args, cwd);
    (
        o.status.code().unwrap_or(-1),
        text(&o.stdout),
        text(&o.stderr),
    )
}

const A: &str = "24af9c8b00000000000000000000000000000000000000000000000000000001";
const B: &str = "2498081200000000000000000000000000000000000000000000000000000002";
const M: &str = "849f110400000000000000000000000000000000000000000000000000000003";

#[test]
fn windows_images_are_refused_with_what_is_needed() {
    let t = tempfile::tempdir().unwrap();
    let image = oci_layout_os(
        &t.path().join("win"),
        &["basic.tar", "names.tar"],
        "windows",
    );
    for cmd in [
        vec!["roothash", image.as_str()],
        vec!["roothash", image.as_str(), "--platform", "windows/amd64"],
        vec!["create", image.as_str(), "-o", "out"],
    ] {
        let (code, out, err) = run(&cmd, t.path());
        assert_eq!(code, 1, "{cmd:?}: {out}{err}");
        assert!(out.is_empty(), "{cmd:?} printed hashes: {out}");
        assert!(
            err.contains("a Windows image")
                && err.contains("cimwriter.dll")
                && err.contains("26100"),
            "{err}"
        );
    }
    assert!(
        !t.path().join("out").exists(),
        "create left an output directory behind"
    );
}

#[test]
fn precomputed_digests_are_checked_and_printed() {
    let t = tempfile::tempdir().unwrap();
    let image = oci_layout_os(
        &t.path().join("win"),
        &["basic.tar", "names.tar"],
        "windows",
    );
    let write = |name: &str, text: &str| {
        let p = t.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let good = write(
        "good.json",
        &format!(r#"{{"layers":["{A}","{B}"],"mounted_cim":["{M}"]}}"#),
    );
    let (code, out, err) = run(
        &["roothash", &image, "--precomputed", &good, "--json"],
        t.path(),
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, serde_json::json!({"layers": [A, B], "mounted_cim": [M]}));
    let (code, out, _) = run(&["roothash", &image, "--precomputed", &good], t.path());
    assert_eq!(code, 0);
    assert_eq!(out, format!("{A}\n{B}\nmounted_cim {M}\n"));

    let three = write(
        "three.json",
        &format!(r#"{{"layers":["{A}","{B}","{A}"],"mounted_cim":["{M}"]}}"#),
    );
    let (code, _, err) = run(&["roothash", &image, "--precomputed", &three], t.path());
    assert_eq!(code, 1);
    assert!(
        err.contains("three.json") && err.contains("3 layer digests, but the image has 2"),
        "{err}"
    );
    let broken = write("broken.json", r#"{"layers": ["#);
    let (code, _, err) = run(&["roothash", &image, "--precomputed", &broken], t.path());
    assert_eq!(code, 1);
    assert!(
        err.contains("broken.json") && err.contains("not JSON"),
        "{err}"
    );

    // Not for Linux images.
    let linux = oci_layout(&t.path().join("linux"), &["basic.tar"]);
    let (code, _, err) = run(&["roothash", &linux, "--precomputed", &good], t.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--precomputed is for Windows images"), "{err}");
}

#[test]
fn windows_plan_prints_the_call_sequence() {
    let t = tempfile::tempdir().unwrap();
    let layer = fixture(t.path(), "whiteouts.tar");
    let layer = layer.to_str().unwrap();
    let (code, out, err) = run(&["windows", "plan", layer], t.path());
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["base_layer"], true);
    assert_eq!(v["create_flags"], 0x58);
    let ops = v["ops"].as_array().unwrap();
    // Whiteouts become tombstones; a base layer ends with Hives, five
    // config links and the layout file.
    assert!(ops.iter().any(|o| o["call"] == "CimTombstoneFile"));
    let tail: Vec<&str> = ops[ops.len() - 7..]
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert_eq!(tail[0], "Hives");
    assert_eq!(tail[6], "layout");
    assert!(tail[1..6]
        .iter()
        .all(|p| p.starts_with(r"Files\Windows\System32\config\")));
    let (code, out, _) = run(&["windows", "plan", layer, "--parent", r"C:\l\1"], t.path());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["base_layer"], false);
    assert!(v["ops"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["path"] != "layout"));
    let (code, _, err) = run(&["windows", "plan", "missing.tar"], t.path());
    assert_eq!(code, 1);
    assert!(err.contains("missing.tar"), "{err}");
}
