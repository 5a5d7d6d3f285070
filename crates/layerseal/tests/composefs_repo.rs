//! Pulling OCI images into a composefs repository, against what cfsctl
//! 0.9.0 wrote for the same images (composefs.json: oci_cfsctl,
//! splitstream_examples_sha256_repo, content_objects_basic).

mod common;

use std::io::Read;

use layerseal::composefs::import::{compute_id_for_tag, layer_content_id, pull, PullOptions};
use layerseal::composefs::oci::XattrFilter;
use layerseal::composefs::repo::Repository;
use layerseal::composefs::splitstream::Chunk;
use layerseal::verity::Algorithm;
use serde_json::{json, Value};

fn vectors() -> Value {
    let text = std::fs::read_to_string(common::data_dir().join("composefs-repo.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn pull_basic_stores_what_cfsctl_stores() {
    let v = vectors();
    let tmp = tempfile::tempdir().unwrap();
    let config_hex =
        common::composefs_layout(&tmp.path().join("layout"), &["usrbase.tar", "basic.tar"]);
    assert_eq!(
        format!("sha256:{config_hex}"),
        v["basic"]["config_digest"].as_str().unwrap(),
        "layout built as the vectors describe"
    );
    let repo = Repository::init(&tmp.path().join("repo"), Algorithm::Sha256).unwrap();
    let image = common::open_layout(&tmp.path().join("layout"));
    let pulled = common::pull_v1(&repo, &image, "basic").unwrap();
    assert_eq!(
        hex::encode(&pulled.image_id),
        v["basic"]["image_id_v1_sha256"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(&pulled.config_verity),
        v["basic"]["config_json_verity_sha256"].as_str().unwrap()
    );
    assert_eq!(pulled.layers_imported, 2);

    // Every file object is named by its fs-verity digest, as cfsctl names it.
    for (file, o) in v["content_objects_basic"].as_object().unwrap() {
        let path = repo
            .root()
            .join("objects")
            .join(o["object_path_sha256"].as_str().unwrap());
        assert!(path.is_file(), "{file}: {}", path.display());
    }
    assert!(repo
        .root()
        .join("images")
        .join(hex::encode(&pulled.image_id))
        .exists());

    // The layer splitstream has cfsctl's structure.
    let want = &v["basic_layer_stream"];
    let basic = common::layer("basic.tar");
    let diff = layerseal::source::Digest::sha256_of(&basic);
    let (stream, _) = repo.read_stream(&layer_content_id(&diff)).unwrap();
    let refs: Vec<String> = stream.object_refs.iter().map(hex::encode).collect();
    assert_eq!(json!(refs), want["object_refs"]);
    assert_eq!(stream.stream_size, want["stream_size"].as_u64().unwrap());
    assert_eq!(&stream.content_type, b"ocilayer");
    assert_eq!(
        stream.chunks.len() as u64,
        want["n_chunks"].as_u64().unwrap()
    );
    let inline: usize = stream
        .chunks
        .iter()
        .map(|c| match c {
            Chunk::Inline(d) => d.len(),
            Chunk::External(_) => 0,
        })
        .sum();
    assert_eq!(inline as u64, want["inline_bytes"].as_u64().unwrap());
    // ... and reassembles to the layer tar byte for byte.
    let mut cat = Vec::new();
    repo.stream_reader(&stream).read_to_end(&mut cat).unwrap();
    assert!(cat == basic, "reassembled layer differs");

    // The config stream names the layers and the image as cfsctl does.
    let stored = layerseal::composefs::import::open_tag(&repo, "basic").unwrap();
    let names: Vec<&str> = stored
        .config_stream
        .named_refs
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    let want_names: Vec<String> = v["basic_config_named_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().split_once(':').unwrap().1.to_string())
        .collect();
    assert_eq!(names, want_names);
    assert_eq!(
        stored.config_stream.named("composefs.image.v1"),
        Some(&pulled.image_id[..])
    );

    // compute-id from the repository: V1, V0, keep-user-xattrs.
    for (version, xattrs, key) in [
        (1, XattrFilter::AllowlistOnly, "image_id_v1_sha256"),
        (0, XattrFilter::AllowlistOnly, "image_id_v0_sha256"),
        (
            1,
            XattrFilter::KeepUserXattrs,
            "image_id_v1_sha256_keep_user_xattrs",
        ),
    ] {
        let (_, id) = compute_id_for_tag(&repo, "basic", version, xattrs).unwrap();
        assert_eq!(hex::encode(id), v["basic"][key].as_str().unwrap(), "{key}");
    }

    // A second pull finds both layers already there.
    let again = common::pull_v1(&repo, &image, "basic2").unwrap();
    assert_eq!((again.layers_imported, again.layers_present), (0, 2));
    assert_eq!(again.image_id, pulled.image_id);
}

#[test]
fn sha512_repository_gives_sha512_ids() {
    let v = vectors();
    let tmp = tempfile::tempdir().unwrap();
    common::composefs_layout(
        &tmp.path().join("layout"),
        &["usrbase.tar", "whiteouts.tar"],
    );
    let repo = Repository::init(&tmp.path().join("repo"), Algorithm::Sha512).unwrap();
    let image = common::open_layout(&tmp.path().join("layout"));
    let pulled = common::pull_v1(&repo, &image, "w").unwrap();
    assert_eq!(
        hex::encode(&pulled.image_id),
        v["whiteouts"]["image_id_v1_sha512"].as_str().unwrap()
    );
    let meta: Value =
        serde_json::from_slice(&std::fs::read(repo.root().join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["algorithm"], "fsverity-sha512-12");
    // Reopening reads the algorithm back; a different one is refused.
    assert_eq!(
        Repository::open(repo.root()).unwrap().algorithm(),
        Algorithm::Sha512
    );
    assert!(Repository::init(repo.root(), Algorithm::Sha256).is_err());
}

#[test]
fn corrupt_layer_leaves_no_stream_or_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    common::composefs_layout(&dir, &["usrbase.tar", "basic.tar"]);
    // Flip a byte inside a file's data in the basic layer blob.
    let basic = common::layer("basic.tar");
    let blob = dir.join("blobs/sha256").join(common::sha256_hex(&basic));
    let mut bytes = std::fs::read(&blob).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xFF;
    std::fs::write(&blob, bytes).unwrap();
    let repo = Repository::init(&tmp.path().join("repo"), Algorithm::Sha256).unwrap();
    let image = common::open_layout(&dir);
    let err = pull(&repo, &image, "bad", &PullOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("layer 1"), "{err}");
    let diff = layerseal::source::Digest::sha256_of(&basic);
    assert!(!repo.has_stream(&layer_content_id(&diff)));
    assert!(!repo.root().join("streams/refs/oci/bad").exists());
}
