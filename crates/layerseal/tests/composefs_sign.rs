//! PKCS#7 fs-verity signatures and the signature artifact against the
//! composefs-rs PR 226 reference run (test key only), and verification
//! failing for a wrong key, a changed image and a missing signature.

mod common;

use base64::Engine;
use layerseal::composefs::artifact;
use layerseal::composefs::repo::Repository;
use layerseal::composefs::sign::{sign_fsverity, verify_fsverity, Signer};
use layerseal::composefs::signatures::{export_to_layout, sign_tag, verify_tag};
use layerseal::verity::{fsverity, Algorithm};
use serde_json::Value;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(common::data_dir().join("composefs-sign").join(name)).unwrap()
}

fn expected() -> Value {
    serde_json::from_slice(&data("expected.json")).unwrap()
}

fn signer(name: &str) -> Signer {
    Signer::from_pem(
        &data(&format!("{name}.cert.pem")),
        &data(&format!("{name}.key.pem")),
    )
    .unwrap()
}

const BASIC_ID: &str = "efcd28524b876383cfd4c45b781c5ff6fcd866b3e9b2682b06bc5b3644cc49fe";

#[test]
fn signature_bytes_equal_the_reference() {
    let e = expected();
    let id = hex::decode(BASIC_ID).unwrap();
    assert_eq!(
        hex::encode(fsverity::formatted_digest(Algorithm::Sha256, &id)),
        e["formatted_digest_hex"].as_str().unwrap()
    );
    let der = sign_fsverity(&signer("test-signer"), Algorithm::Sha256, &id).unwrap();
    let want = base64::engine::general_purpose::STANDARD
        .decode(e["signature_der_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(der, want);
    let cert = data("test-signer.cert.pem");
    verify_fsverity(&der, Algorithm::Sha256, &id, &cert).unwrap();
    // Another key (same subject name), another digest, a damaged signature.
    let other = data("other-signer.cert.pem");
    assert!(verify_fsverity(&der, Algorithm::Sha256, &id, &other).is_err());
    let mut id2 = id.clone();
    id2[0] ^= 1;
    assert!(verify_fsverity(&der, Algorithm::Sha256, &id2, &cert).is_err());
    let mut bad = der.clone();
    let n = bad.len();
    bad[n - 10] ^= 1;
    assert!(verify_fsverity(&bad, Algorithm::Sha256, &id, &cert).is_err());
    for cut in [0, 10, n / 2, n - 1] {
        assert!(verify_fsverity(&der[..cut], Algorithm::Sha256, &id, &cert).is_err());
    }
    // A key that is not the certificate's is refused up front.
    assert!(Signer::from_pem(&cert, &data("other-signer.key.pem")).is_err());
}

/// Pull corpus "basic" (as the reference run did) into a fresh repo.
fn pulled_basic(dir: &std::path::Path) -> (Repository, std::path::PathBuf) {
    pulled(dir, "basic.tar", "basic")
}

/// Pull [usrbase, LAYER] (laid out as the reference run did) as `tag`.
fn pulled(dir: &std::path::Path, layer: &str, tag: &str) -> (Repository, std::path::PathBuf) {
    let layout = dir.join("layout");
    common::composefs_layout(&layout, &["usrbase.tar", layer]);
    let repo = Repository::init(&dir.join("repo"), Algorithm::Sha256).unwrap();
    common::pull_v1(&repo, &common::open_layout(&layout), tag).unwrap();
    (repo, layout)
}

#[test]
fn artifact_equals_the_reference_and_verifies() {
    let e = expected();
    let tmp = tempfile::tempdir().unwrap();
    let (repo, layout) = pulled_basic(tmp.path());
    let cert = data("test-signer.cert.pem");
    // No signature yet: verification fails.
    let err = verify_tag(&repo, "basic", &cert).unwrap_err().to_string();
    assert!(err.contains("no composefs signature"), "{err}");

    let art = sign_tag(&repo, "basic", &signer("test-signer")).unwrap();
    assert_eq!(
        art.manifest,
        data("artifact-manifest.json"),
        "artifact manifest bytes"
    );
    assert_eq!(
        art.digest.to_string(),
        e["artifact_manifest_digest"].as_str().unwrap()
    );
    let parsed = artifact::parse(&art.manifest).unwrap();
    assert_eq!(
        parsed.layers[0].digest,
        format!("sha256:{}", e["signature_sha256"].as_str().unwrap())
    );
    assert!(repo
        .root()
        .join("streams/refs/oci-referrers")
        .join(&parsed.subject.digest)
        .join(art.digest.to_string())
        .exists());

    let ok = verify_tag(&repo, "basic", &cert).unwrap();
    assert_eq!(hex::encode(&ok.image_id), BASIC_ID);
    assert!(verify_tag(&repo, "basic", &data("other-signer.cert.pem")).is_err());

    // Exported next to the image it signs: listed with its artifactType.
    assert_eq!(export_to_layout(&repo, "basic", &layout).unwrap(), 1);
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let listed = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["digest"] == art.digest.to_string())
        .unwrap();
    assert_eq!(listed["artifactType"], artifact::ARTIFACT_TYPE);
    assert!(layout
        .join("blobs/sha256")
        .join(e["signature_sha256"].as_str().unwrap())
        .is_file());

    // Change one object of the image: the recomputed id no longer
    // matches what was signed.
    let victim = repo
        .root()
        .join("objects/02/cfeb0b29b7cc5427ccdf430515210152a738dfd2381c99525d019a140389b3");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&victim, bytes).unwrap();
    let err = verify_tag(&repo, "basic", &cert).unwrap_err().to_string();
    assert!(err.contains("the image is now"), "{err}");
}

#[test]
fn inline_seal_matches_the_reference_where_it_follows_the_spec() {
    use layerseal::composefs::seal::{config_key, layer_key, seal_tag};
    let e = expected();
    let want = &e["inline_xattrs"];
    let tmp = tempfile::tempdir().unwrap();
    let (repo, _) = pulled(tmp.path(), "xattrs.tar", "x");
    let sealed = seal_tag(&repo, "x", Some(&signer("test-signer"))).unwrap();
    // The sealed config: same bytes (field order) as composefs-rs writes.
    assert_eq!(
        String::from_utf8(sealed.config.clone()).unwrap(),
        want["sealed_config_json"].as_str().unwrap()
    );
    assert_eq!(
        sealed.config_digest.to_string(),
        want["sealed_config_digest"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(&sealed.merged_id),
        want["merged_id"].as_str().unwrap()
    );
    // Per spec intent: the config annotation is the JSON's own digest.
    assert_eq!(
        hex::encode(&sealed.config_verity),
        want["sealed_config_raw_object_verity"].as_str().unwrap()
    );
    assert_ne!(
        hex::encode(&sealed.config_verity),
        want["pr_config_annotation"].as_str().unwrap()
    );
    let ids: Vec<String> = sealed.layer_ids.iter().map(hex::encode).collect();
    assert_eq!(serde_json::json!(ids), want["layer_ids"]);

    // The manifest: the reference's, but for the config annotation and its
    // signature (intent, above); every other value and signature equal.
    let ours: Value = serde_json::from_slice(&sealed.manifest).unwrap();
    let mut theirs: Value = serde_json::from_slice(&data("inline-sealed-manifest.json")).unwrap();
    let ck = config_key(Algorithm::Sha256);
    let c = theirs["config"]["annotations"].as_object_mut().unwrap();
    c.insert(ck.clone(), ours["config"]["annotations"][&ck].clone());
    c.insert(
        format!("{ck}.sig"),
        ours["config"]["annotations"][format!("{ck}.sig")].clone(),
    );
    assert_eq!(ours, theirs);
    assert!(ours["layers"][1]["annotations"][layer_key(Algorithm::Sha256)].is_string());
    // The config signature verifies over the config's digest.
    let sig = base64::engine::general_purpose::STANDARD
        .decode(
            ours["config"]["annotations"][format!("{ck}.sig")]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    verify_fsverity(
        &sig,
        Algorithm::Sha256,
        &sealed.config_verity,
        &data("test-signer.cert.pem"),
    )
    .unwrap();
    // The tag now names the sealed image; its id is unchanged.
    let stored = layerseal::composefs::import::open_tag(&repo, "x").unwrap();
    assert_eq!(stored.manifest, sealed.manifest);
    let (_, id) =
        layerseal::composefs::import::compute_id_for_tag(&repo, "x", 1, Default::default())
            .unwrap();
    assert_eq!(id, sealed.merged_id);
}

#[test]
fn per_layer_images_keep_whiteouts() {
    use layerseal::composefs::oci::{tree_image, DigestOnly, MergedTree};
    use layerseal::composefs::read::image_to_dump;
    let mut tree = MergedTree::single_layer();
    let mut store = DigestOnly {
        algorithm: Algorithm::Sha256,
        threads: 1,
    };
    tree.apply_layer(&common::layer("whiteouts.tar")[..], &mut store)
        .unwrap();
    let dump = image_to_dump(&tree_image(&tree, 1).unwrap())
        .unwrap()
        .print();
    // .wh.NAME became a 0:0 char device NAME; .wh..wh..opq an opaque dir.
    assert!(
        dump.lines()
            .any(|l| l.starts_with("/etc/removed ") && l.contains(" 20644 ")),
        "{dump}"
    );
    assert!(
        dump.lines()
            .any(|l| l.starts_with("/opaque ") && l.contains("trusted.overlay.opaque=y")),
        "{dump}"
    );
    assert!(!dump.contains(".wh."), "{dump}");
}
