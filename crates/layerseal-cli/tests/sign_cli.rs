//! `sign`, `verify-signatures` and `roothash --from-referrers` on OCI
//! layouts: the artifact as Notation's dm-verity format has it, every key
//! kind, each way a signature must be refused (exit 3, naming the layer
//! and the reason), and the fleet cache. Registries: scripts/real-image-test.sh.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use layerseal::pkcs7::Signer;
use layerseal::rootsig::artifact::{self, LayerSignature, Manifest};
use layerseal::source::layout_referrers;
use serde_json::Value;

const LAYERS: &[&str] = &["basic.tar", "names.tar", "xattrs.tar", "whiteouts.tar"];

fn pki(name: &str) -> String {
    data().join("test-pki").join(name).display().to_string()
}

fn layout(dir: &Path) -> String {
    oci_layout(&dir.join("img"), LAYERS)
}

fn run(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let o = layerseal(args, cwd);
    (
        o.status.code().unwrap_or(-1),
        text(&o.stdout),
        text(&o.stderr),
    )
}

fn sign(image: &str, cert: &str, key: &str, cwd: &Path) {
    let (code, out, err) = run(
        &[
            "sign",
            image,
            "--format",
            "erofs",
            "--cert",
            &pki(cert),
            "--key",
            &pki(key),
        ],
        cwd,
    );
    assert_eq!(code, 0, "{out}{err}");
}

fn verify(image: &str, cwd: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["verify-signatures", image, "--format", "erofs", "--ca"];
    let ca = pki("ca.pem");
    args.push(&ca);
    args.extend_from_slice(extra);
    run(&args, cwd)
}

fn index(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("img/index.json")).unwrap()).unwrap()
}

/// The one dm-verity artifact in the layout: (manifest, its blobs by digest).
fn the_artifact(dir: &Path) -> (Manifest, Vec<u8>) {
    let idx = index(dir);
    let entries: Vec<&Value> = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["artifactType"] == artifact::ARTIFACT_TYPE)
        .collect();
    assert_eq!(entries.len(), 1);
    let d = entries[0]["digest"].as_str().unwrap();
    let bytes = std::fs::read(dir.join("img/blobs/sha256").join(&d[7..])).unwrap();
    (artifact::parse(&bytes).unwrap(), bytes)
}

fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(dir.join("img/blobs/sha256").join(&digest[7..])).unwrap()
}

/// Take the signature artifacts out of the layout's index.json.
fn unlist_artifacts(dir: &Path) {
    let mut idx = index(dir);
    idx["manifests"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["artifactType"] != artifact::ARTIFACT_TYPE);
    std::fs::write(
        dir.join("img/index.json"),
        serde_json::to_vec(&idx).unwrap(),
    )
    .unwrap();
}

/// Replace the layout's artifact with `m` (plus `blobs`).
fn replace_artifact(dir: &Path, m: &Manifest, blobs: &[(layerseal::source::Digest, Vec<u8>)]) {
    unlist_artifacts(dir);
    let bytes = serde_json::to_vec(m).unwrap();
    layout_referrers::add_artifact(
        &dir.join("img"),
        &bytes,
        artifact::MANIFEST_MEDIA_TYPE,
        artifact::ARTIFACT_TYPE,
        blobs,
    )
    .unwrap();
}

fn roothashes(image: &str, cwd: &Path) -> Vec<String> {
    let (code, out, err) = run(&["roothash", image, "--format", "erofs", "--no-cache"], cwd);
    assert_eq!(code, 0, "{err}");
    out.lines().map(str::to_string).collect()
}

#[test]
fn sign_writes_notations_artifact_into_the_layout_and_it_verifies() {
    let t = tempfile::tempdir().unwrap();
    let image = layout(t.path());
    let manifest_digest = index(t.path())["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    sign(&image, "rsa.pem", "rsa.key", t.path());
    let (m, _) = the_artifact(t.path());
    assert_eq!(
        m.artifact_type,
        "application/vnd.cncf.notary.signature.dm-verity"
    );
    assert_eq!(m.config.media_type, "application/vnd.oci.empty.v1+json");
    assert_eq!(m.config.digest, format!("sha256:{}", sha(b"{}")));
    assert_eq!(m.subject.digest, manifest_digest);
    assert_eq!(m.annotations["io.cncf.notary.dm-verity.signature"], "true");
    let recipe: Value =
        serde_json::from_str(&m.annotations["dev.layerseal.dm-verity.recipe"]).unwrap();
    assert_eq!(recipe["format"], "erofs");
    assert_eq!(recipe["mkfs_options"], "-T0 --mkfs-time");
    let want = roothashes(&image, t.path());
    assert_eq!(m.layers.len(), LAYERS.len());
    for (i, l) in m.layers.iter().enumerate() {
        assert_eq!(l.media_type, "application/pkcs7-signature");
        assert_eq!(
            l.annotations["org.opencontainers.image.title"],
            format!("layer-{i}.pkcs7.sig")
        );
        assert_eq!(l.annotations["io.cncf.notary.dm-verity.root-hash"], want[i]);
        let der = blob(t.path(), &l.digest);
        assert_eq!(der.len() as u64, l.size);
        layerseal::pkcs7::verify_with_certificate(
            &der,
            want[i].as_bytes(),
            &std::fs::read(pki("rsa.pem")).unwrap(),
        )
        .unwrap();
    }
    // The layout still resolves to its image without a tag.
    let untagged = image.trim_end_matches(":t");
    assert_eq!(roothashes(untagged, t.path()), want);

    let (code, out, err) = verify(&image, t.path(), &["--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["passed"], true);
    assert_eq!(v["root_hashes_recomputed"], true);
    for (i, l) in v["layers"].as_array().unwrap().iter().enumerate() {
        assert_eq!(l["signed_root_hash"], want[i].as_str());
        assert_eq!(l["computed_root_hash"], want[i].as_str());
        assert_eq!(l["signer"], "CN=layerseal test signer");
    }
    // Another format's root hashes are not these: no artifact for it.
    let ca = pki("ca.pem");
    let (code, _, err) = run(&["verify-signatures", &image, "--ca", &ca], t.path());
    assert_eq!(code, 3);
    assert!(
        err.contains("no dm-verity signature artifact") && err.contains("\"ext4\""),
        "{err}"
    );
}

#[test]
fn every_key_kind_signs_from_the_command_line() {
    for (cert, key, pass) in [
        ("p256.pem", "p256-sec1.key", None),
        ("p384.pem", "p384.key", None),
        ("chained.pem", "chained.key", None),
        ("rsa.pem", "rsa-encrypted.key", Some("layerseal-test")),
    ] {
        let t = tempfile::tempdir().unwrap();
        let image = layout(t.path());
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_layerseal"));
        cmd.args([
            "sign",
            &image,
            "--format",
            "erofs",
            "--cert",
            &pki(cert),
            "--key",
            &pki(key),
        ]);
        if let Some(p) = pass {
            cmd.args(["--key-passphrase-env", "TEST_KEY_PASS"])
                .env("TEST_KEY_PASS", p);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{key}: {}", text(&o.stderr));
        let (code, out, err) = verify(&image, t.path(), &[]);
        assert_eq!(code, 0, "{key}: {out}{err}");
    }
    let t = tempfile::tempdir().unwrap();
    let image = layout(t.path());
    let (code, _, err) = run(
        &[
            "sign",
            &image,
            "--cert",
            &pki("rsa.pem"),
            "--key",
            &pki("rsa-encrypted.key"),
        ],
        t.path(),
    );
    assert_eq!(code, 1);
    assert!(err.contains("passphrase"), "{err}");
}

/// A fresh layout signed with the test signer, then changed by `tamper`;
/// verify must exit 3 and say `why` on the line of layer `layer`.
fn refused(tamper: impl FnOnce(&Path, &str), layer: usize, why: &str) {
    let t = tempfile::tempdir().unwrap();
    let image = layout(t.path());
    sign(&image, "rsa.pem", "rsa.key", t.path());
    tamper(t.path(), &image);
    let (code, out, err) = verify(&image, t.path(), &[]);
    assert_eq!(code, 3, "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("layer {layer} ")))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("FAILED") && line.contains(why),
        "{why}: {line}"
    );
}

fn resign(dir: &Path, image: &str, cert: &str, key: &str) {
    unlist_artifacts(dir);
    sign(image, cert, key, dir);
}

#[test]
fn a_signer_with_the_same_name_but_another_key_is_refused() {
    refused(
        |d, img| resign(d, img, "impostor.pem", "impostor.key"),
        0,
        "not issued by a trusted CA",
    );
}

#[test]
fn an_expired_certificate_is_refused() {
    refused(
        |d, img| resign(d, img, "expired.pem", "expired.key"),
        0,
        "expired",
    );
}

#[test]
fn swapped_signatures_are_refused() {
    refused(
        |d, _| {
            let (mut m, _) = the_artifact(d);
            let (a, b) = (m.layers[0].clone(), m.layers[1].clone());
            (m.layers[0].digest, m.layers[0].size) = (b.digest, b.size);
            (m.layers[1].digest, m.layers[1].size) = (a.digest, a.size);
            replace_artifact(d, &m, &[]);
        },
        0,
        "does not verify over the annotated root hash",
    );
}

#[test]
fn a_root_hash_that_is_not_the_layers_is_refused_unless_annotations_are_trusted() {
    let t = tempfile::tempdir().unwrap();
    let image = layout(t.path());
    sign(&image, "rsa.pem", "rsa.key", t.path());
    // A valid signature over a root hash that is not layer 2's.
    let (m, _) = the_artifact(t.path());
    let subject = blob(t.path(), &m.subject.digest);
    let signer = Signer::from_pem(
        &std::fs::read(pki("rsa.pem")).unwrap(),
        &std::fs::read(pki("rsa.key")).unwrap(),
    )
    .unwrap();
    let layers: Vec<LayerSignature> = m
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut root = l.annotations[artifact::ROOT_HASH_ANNOTATION].clone();
            if i == 2 {
                root = "ab".repeat(32);
            }
            LayerSignature {
                layer_digest: l.annotations[artifact::LAYER_DIGEST_ANNOTATION].clone(),
                signature: signer.sign_with_certificate(root.as_bytes()).unwrap(),
                root_hash: root,
            }
        })
        .collect();
    let art = artifact::build(
        &subject,
        &m.annotations[artifact::RECIPE_ANNOTATION],
        &layers,
    );
    replace_artifact(
        t.path(),
        &artifact::parse(&art.manifest).unwrap(),
        &art.blobs,
    );
    let (code, out, _) = verify(&image, t.path(), &[]);
    assert_eq!(code, 3, "{out}");
    let line = out.lines().find(|l| l.starts_with("layer 2 ")).unwrap();
    assert!(
        line.contains(&format!(
            "signed root hash {} is not the layer's root hash",
            "ab".repeat(32)
        )),
        "{line}"
    );
    assert!(
        out.lines().filter(|l| l.contains(" ok ")).count() == 3,
        "{out}"
    );
    // Trusting annotations checks signatures only.
    let (code, out, err) = verify(&image, t.path(), &["--trust-annotations"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn an_artifact_missing_a_layer_is_refused() {
    refused(
        |d, _| {
            let (mut m, _) = the_artifact(d);
            m.layers.pop();
            replace_artifact(d, &m, &[]);
        },
        3,
        "not covered",
    );
}

#[test]
fn a_truncated_signature_blob_is_refused() {
    refused(
        |d, _| {
            let (mut m, _) = the_artifact(d);
            let der = blob(d, &m.layers[1].digest);
            let cut = der[..der.len() - 7].to_vec();
            let digest = layerseal::source::Digest::sha256_of(&cut);
            m.layers[1].digest = digest.to_string();
            m.layers[1].size = cut.len() as u64;
            replace_artifact(d, &m, &[(digest, cut)]);
        },
        1,
        "not a PKCS#7 SignedData",
    );
}

/// `roothash --format erofs --from-referrers --ca CA --json`: (JSON, stderr).
fn from_referrers(image: &str, ca: &str, cwd: &Path) -> (Value, String) {
    let args = [
        "roothash",
        image,
        "--format",
        "erofs",
        "--no-cache",
        "--from-referrers",
    ];
    let (code, out, err) = run(&[&args[..], &["--ca", ca, "--json"]].concat(), cwd);
    assert_eq!(code, 0, "{err}");
    (serde_json::from_str(&out).unwrap(), err)
}

#[test]
fn roothash_from_referrers_takes_signed_layers_and_computes_the_rest() {
    let t = tempfile::tempdir().unwrap();
    let image = layout(t.path());
    sign(&image, "p256.pem", "p256.key", t.path());
    let (mut m, _) = the_artifact(t.path());
    m.layers.pop(); // covers 3 of 4
    replace_artifact(t.path(), &m, &[]);
    let ca = pki("ca.pem");
    let (v, _) = from_referrers(&image, &ca, t.path());
    assert_eq!(v["from_referrers"], 3);
    assert_eq!(v["computed"], 1);
    let sources: Vec<&str> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["referrer", "referrer", "referrer", "computed"]);
    let got: Vec<String> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["root_hash"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, roothashes(&image, t.path()));
    // Signatures from an untrusted CA are not used: everything computed.
    let other = pki("impostor.pem");
    let (v, err) = from_referrers(&image, &other, t.path());
    assert_eq!(v["from_referrers"], 0);
    assert_eq!(v["refused"].as_array().unwrap().len(), 3, "{v}");
    assert!(err.contains("signature refused"), "{err}");
}

#[test]
fn sign_out_dir_writes_files_veritysetup_takes() {
    let t = tempfile::tempdir().unwrap();
    let image = layout(t.path());
    let out: PathBuf = t.path().join("sigs");
    let (code, _, err) = run(
        &[
            "sign",
            &image,
            "--cert",
            &pki("rsa.pem"),
            "--key",
            &pki("rsa.key"),
            "-o",
            out.to_str().unwrap(),
        ],
        t.path(),
    );
    assert_eq!(code, 0, "{err}");
    let ext4 = {
        let (code, out, err) = run(&["roothash", &image, "--no-cache"], t.path());
        assert_eq!(code, 0, "{err}");
        out.lines().map(str::to_string).collect::<Vec<_>>()
    };
    let cert = std::fs::read(pki("rsa.pem")).unwrap();
    for (i, root) in ext4.iter().enumerate() {
        let text = std::fs::read_to_string(out.join(format!("layer-{i}.roothash"))).unwrap();
        assert_eq!(&text, root);
        let der = std::fs::read(out.join(format!("layer-{i}.pkcs7.sig"))).unwrap();
        layerseal::pkcs7::verify_with_certificate(&der, root.as_bytes(), &cert).unwrap();
    }
    artifact::parse(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    // The layout itself was not touched.
    assert!(index(t.path())["manifests"].as_array().unwrap().len() == 1);
}

#[test]
fn sign_says_where_the_artifact_cannot_go() {
    let t = tempfile::tempdir().unwrap();
    let image = layout(t.path());
    let archive = t.path().join("img.tar");
    let status = std::process::Command::new("tar")
        .args([
            "-cf",
            archive.to_str().unwrap(),
            "-C",
            t.path().join("img").to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let oci_archive = format!("oci-archive:{}", archive.display());
    let (code, _, err) = run(
        &[
            "sign",
            &oci_archive,
            "--cert",
            &pki("rsa.pem"),
            "--key",
            &pki("rsa.key"),
        ],
        t.path(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("-o DIR"), "{err}");
    let (code, _, err) = run(
        &[
            "sign",
            &image,
            "--push",
            "--cert",
            &pki("rsa.pem"),
            "--key",
            &pki("rsa.key"),
        ],
        t.path(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--push needs an image from a registry"),
        "{err}"
    );
    // Nothing signed yet: verification fails with exit 3.
    let (code, _, err) = verify(&image, t.path(), &[]);
    assert_eq!(code, 3);
    assert!(err.contains("no dm-verity signature artifact"), "{err}");
}

#[test]
fn a_recipe_written_with_other_key_order_or_spacing_still_matches() {
    let t = tempfile::tempdir().unwrap();
    let image = layout(t.path());
    sign(&image, "rsa.pem", "rsa.key", t.path());
    let (mut m, _) = the_artifact(t.path());
    let recipe: Value = serde_json::from_str(&m.annotations[artifact::RECIPE_ANNOTATION]).unwrap();
    let mut keys: Vec<_> = recipe.as_object().unwrap().iter().collect();
    keys.reverse();
    let reordered = format!(
        "{{ {} }}",
        keys.iter()
            .map(|(k, v)| format!("\"{k}\": {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_ne!(reordered, m.annotations[artifact::RECIPE_ANNOTATION]);
    m.annotations
        .insert(artifact::RECIPE_ANNOTATION.into(), reordered);
    replace_artifact(t.path(), &m, &[]);
    let (code, out, err) = verify(&image, t.path(), &[]);
    assert_eq!(code, 0, "{out}{err}");
}
