//! Whole images from OCI layouts, oci-archives and docker-archives (all
//! three styles), built here from the corpus layers as upstream's
//! image-tarball vectors describe; and every way such an image can be bad.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use layerseal::pipeline::{convert_image, ImageOptions, OutputPlan};
use layerseal::source::{open_image, Digest, ImageRef, Platform};
use serde_json::json;

struct Blob {
    bytes: Vec<u8>,
    media_type: &'static str,
}

fn sha(b: &[u8]) -> String {
    common::sha256_hex(b)
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// The three layers of the upstream vectors: basic (plain), whiteouts
/// (gzip, or zstd), xattrs (plain). Returns blobs and diff_ids.
fn layers(second_zstd: bool) -> (Vec<Blob>, Vec<String>) {
    let raw = [
        common::layer("basic.tar"),
        common::layer("whiteouts.tar"),
        common::layer("xattrs.tar"),
    ];
    let diff_ids = raw.iter().map(|r| format!("sha256:{}", sha(r))).collect();
    let second = if second_zstd {
        Blob {
            bytes: zstd::encode_all(&raw[1][..], 3).unwrap(),
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    } else {
        Blob {
            bytes: gzip(&raw[1]),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
        }
    };
    let blobs = vec![
        Blob {
            bytes: raw[0].clone(),
            media_type: "application/vnd.oci.image.layer.v1.tar",
        },
        second,
        Blob {
            bytes: raw[2].clone(),
            media_type: "application/vnd.oci.image.layer.v1.tar",
        },
    ];
    (blobs, diff_ids)
}

fn config(diff_ids: &[String], arch: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}})).unwrap()
}

/// Files of an OCI layout: (path, bytes).
fn oci_layout(second_zstd: bool) -> Vec<(String, Vec<u8>)> {
    let (blobs, diff_ids) = layers(second_zstd);
    let cfg = config(&diff_ids, "amd64");
    let mut files = vec![(format!("blobs/sha256/{}", sha(&cfg)), cfg.clone())];
    let mut descs = Vec::new();
    for b in &blobs {
        files.push((format!("blobs/sha256/{}", sha(&b.bytes)), b.bytes.clone()));
        descs.push(json!({"mediaType": b.media_type, "digest": format!("sha256:{}", sha(&b.bytes)), "size": b.bytes.len()}));
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha(&cfg)), "size": cfg.len()},
        "layers": descs,
    }))
    .unwrap();
    files.push((format!("blobs/sha256/{}", sha(&manifest)), manifest.clone()));
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", sha(&manifest)), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "test"}}]}))
    .unwrap();
    files.push(("index.json".into(), index));
    files.push((
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    ));
    files
}

/// skopeo's docker-archive: top-level `<diffid>.tar`, `<id>/layer.tar`
/// symlinks to them, `<config>.json`, manifest.json.
fn skopeo_docker_archive(path: &Path) {
    let (_, diff_ids) = layers(false);
    let raw = [
        common::layer("basic.tar"),
        common::layer("whiteouts.tar"),
        common::layer("xattrs.tar"),
    ];
    let cfg = config(&diff_ids, "amd64");
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut layer_paths = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let name = format!("{}.tar", sha(r));
        append(&mut b, &name, r);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, format!("v1id{i}/layer.tar"), format!("../{name}"))
            .unwrap();
        layer_paths.push(name);
    }
    append(&mut b, &format!("{}.json", sha(&cfg)), &cfg);
    let m = serde_json::to_vec(&json!([{"Config": format!("{}.json", sha(&cfg)), "RepoTags": ["docker.io/library/test:latest"], "Layers": layer_paths}])).unwrap();
    append(&mut b, "manifest.json", &m);
    b.finish().unwrap();
}

/// Legacy `docker save`: `<id>/layer.tar` files.
fn legacy_docker_archive(path: &Path) {
    let (_, diff_ids) = layers(false);
    let raw = [
        common::layer("basic.tar"),
        common::layer("whiteouts.tar"),
        common::layer("xattrs.tar"),
    ];
    let cfg = config(&diff_ids, "amd64");
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut layer_paths = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let name = format!("id{i}/layer.tar");
        append(&mut b, &name, r);
        layer_paths.push(name);
    }
    append(&mut b, &format!("{}.json", sha(&cfg)), &cfg);
    let m = serde_json::to_vec(&json!([{"Config": format!("{}.json", sha(&cfg)), "RepoTags": ["test:latest"], "Layers": layer_paths}])).unwrap();
    append(&mut b, "manifest.json", &m);
    b.finish().unwrap();
}

fn append<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
}

fn write_dir(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (p, bytes) in files {
        let full = dir.join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, bytes).unwrap();
    }
}

fn write_tar(path: &Path, files: &[(String, Vec<u8>)], prefix: &str) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (p, bytes) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        // The tar crate refuses "./" in append_data paths; write raw names.
        let name = format!("{prefix}{p}");
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, &bytes[..]).unwrap();
    }
    b.finish().unwrap();
}

fn roothashes(r: &str) -> Vec<String> {
    let image = open_image(&ImageRef::parse(r).unwrap(), &Platform::default()).unwrap();
    convert_image(&image, &ImageOptions::default())
        .unwrap()
        .into_iter()
        .map(|l| l.root_hash)
        .collect()
}

fn expected_roots() -> Vec<String> {
    let out = common::expected()["image_tarballs"]["docker_archive_stdout"]
        .as_str()
        .unwrap()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_source_gives_upstreams_root_hashes() {
    let want = expected_roots();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_dir(&d.join("layout"), &oci_layout(false));
    write_tar(&d.join("oci.tar"), &oci_layout(false), "");
    write_tar(&d.join("oci-dot.tar"), &oci_layout(false), "./");
    write_dir(&d.join("layout-zstd"), &oci_layout(true));
    skopeo_docker_archive(&d.join("skopeo.tar"));
    legacy_docker_archive(&d.join("legacy.tar"));
    let p = |n: &str| d.join(n).display().to_string();
    for r in [
        format!("oci:{}", p("layout")),
        format!("oci:{}:test", p("layout")),
        format!("oci-archive:{}", p("oci.tar")),
        format!("oci-archive:{}", p("oci-dot.tar")),
        format!("oci:{}", p("layout-zstd")),
        format!("docker-archive:{}", p("skopeo.tar")),
        format!("docker-archive:{}:test:latest", p("legacy.tar")),
        p("oci.tar"),
        p("skopeo.tar"),
    ] {
        assert_eq!(roothashes(&r), want, "{r}");
    }
}

#[test]
fn create_writes_diff_id_named_vhds() {
    let dir = tempfile::tempdir().unwrap();
    write_dir(&dir.path().join("layout"), &oci_layout(false));
    let image = open_image(
        &ImageRef::parse(&format!("oci:{}", dir.path().join("layout").display())).unwrap(),
        &Platform::default(),
    )
    .unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let opts = ImageOptions {
        outputs: Some(OutputPlan {
            dir: out.clone(),
            hash_device: true,
            vhd: true,
            erofs: false,
            containerd_cache: false,
        }),
        ..ImageOptions::default()
    };
    let res = convert_image(&image, &opts).unwrap();
    let (blobs, diff_ids) = layers(false);
    for (i, l) in res.iter().enumerate() {
        let hex = diff_ids[i].strip_prefix("sha256:").unwrap();
        assert_eq!(
            l.image.as_deref(),
            Some(out.join(format!("{hex}.vhd")).as_path())
        );
        assert!(out.join(format!("{hex}.vhd")).is_file());
        let hash_dev = out.join(format!(
            "blobs_sha256_{}.hash-dev.vhd",
            sha(&blobs[i].bytes)
        ));
        assert!(hash_dev.is_file(), "{}", hash_dev.display());
    }
    // basic layer: data VHD 1298944 bytes, hash-dev VHD 20992 bytes.
    let hex0 = diff_ids[0].strip_prefix("sha256:").unwrap();
    assert_eq!(
        std::fs::metadata(out.join(format!("{hex0}.vhd")))
            .unwrap()
            .len(),
        1_298_944
    );
}

fn corrupt_layout(f: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) -> PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut files = oci_layout(false);
    f(&mut files);
    write_dir(&dir, &files);
    dir
}

fn fails(r: &str, needle: &str) {
    let result = open_image(&ImageRef::parse(r).unwrap(), &Platform::default())
        .map_err(|e| e.to_string())
        .and_then(|img| convert_image(&img, &ImageOptions::default()).map_err(|e| e.to_string()));
    match result {
        Ok(_) => panic!("{r}: accepted, expected error containing {needle:?}"),
        Err(e) => assert!(e.contains(needle), "{r}: error {e:?} lacks {needle:?}"),
    }
}

#[test]
fn bad_images_are_named_precisely() {
    // A layer blob with one byte changed (same length): digest mismatch.
    let d = corrupt_layout(|files| {
        let f = files
            .iter_mut()
            .find(|(_, b)| b.len() == 1_177_600)
            .unwrap();
        f.1[600_000] ^= 1;
    });
    fails(&format!("oci:{}", d.display()), "blob digest mismatch");
    // A missing blob.
    let d = corrupt_layout(|files| files.retain(|(_, b)| b.len() != 1_177_600));
    fails(&format!("oci:{}", d.display()), "not found");
    // Malformed index.json.
    let d = corrupt_layout(|files| {
        files.iter_mut().find(|(p, _)| p == "index.json").unwrap().1 = b"{not json".to_vec()
    });
    fails(&format!("oci:{}", d.display()), "malformed");
    // Unknown tag.
    let d = corrupt_layout(|_| {});
    fails(&format!("oci:{}:nope", d.display()), "tag \"nope\"");
    // Truncated oci-archive.
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("oci.tar");
    write_tar(&t, &oci_layout(false), "");
    let bytes = std::fs::read(&t).unwrap();
    std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
    fails(&format!("oci-archive:{}", t.display()), "");
    // A config whose diff_id does not match the layer.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lies.tar");
    {
        let raw = common::layer("basic.tar");
        let cfg = config(&[format!("sha256:{}", "0".repeat(64))], "amd64");
        let mut b = tar::Builder::new(std::fs::File::create(&p).unwrap());
        append(&mut b, "l/layer.tar", &raw);
        append(&mut b, "c.json", &cfg);
        append(
            &mut b,
            "manifest.json",
            &serde_json::to_vec(&json!([{"Config": "c.json", "Layers": ["l/layer.tar"]}])).unwrap(),
        );
        b.finish().unwrap();
    }
    fails(
        &format!("docker-archive:{}", p.display()),
        "diff_id mismatch",
    );
    // A missing layer file in a docker-archive.
    let p = dir.path().join("missing.tar");
    {
        let cfg = config(&[format!("sha256:{}", "0".repeat(64))], "amd64");
        let mut b = tar::Builder::new(std::fs::File::create(&p).unwrap());
        append(&mut b, "c.json", &cfg);
        append(
            &mut b,
            "manifest.json",
            &serde_json::to_vec(&json!([{"Config": "c.json", "Layers": ["l/layer.tar"]}])).unwrap(),
        );
        b.finish().unwrap();
    }
    fails(
        &format!("docker-archive:{}", p.display()),
        "layer 0 (l/layer.tar)",
    );
}

#[test]
fn platform_selection_from_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = oci_layout(false);
    // Add an arm64 manifest (same layers, arm64 config) and a nested index.
    let (blobs, diff_ids) = layers(false);
    let cfg = config(&diff_ids, "arm64");
    let descs: Vec<_> = blobs
        .iter()
        .map(|b| json!({"mediaType": b.media_type, "digest": format!("sha256:{}", sha(&b.bytes)), "size": b.bytes.len()}))
        .collect();
    let arm_manifest = serde_json::to_vec(&json!({"schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha(&cfg)), "size": cfg.len()},
        "layers": descs})).unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&files.iter().find(|(p, _)| p == "index.json").unwrap().1).unwrap();
    let amd = index["manifests"][0].clone();
    let nested = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd["digest"], "size": amd["size"], "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", sha(&arm_manifest)), "size": arm_manifest.len(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    ]})).unwrap();
    files.push((format!("blobs/sha256/{}", sha(&cfg)), cfg));
    files.push((format!("blobs/sha256/{}", sha(&arm_manifest)), arm_manifest));
    files.push((format!("blobs/sha256/{}", sha(&nested)), nested.clone()));
    let top = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{}", sha(&nested)), "size": nested.len(),
         "annotations": {"org.opencontainers.image.ref.name": "multi"}}]})).unwrap();
    files.iter_mut().find(|(p, _)| p == "index.json").unwrap().1 = top;
    write_dir(dir.path(), &files);
    let r = ImageRef::parse(&format!("oci:{}:multi", dir.path().display())).unwrap();
    let amd = open_image(&r, &Platform::parse("linux/amd64").unwrap()).unwrap();
    assert_eq!(amd.platform, Some(Platform::parse("linux/amd64").unwrap()));
    let arm = open_image(&r, &Platform::parse("linux/arm64").unwrap()).unwrap();
    assert_eq!(
        arm.platform,
        Some(Platform::parse("linux/arm64/v8").unwrap())
    );
    assert_ne!(amd.config_digest, arm.config_digest);
    let err = open_image(&r, &Platform::parse("linux/s390x").unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("linux/s390x")
            && err.contains("linux/amd64")
            && err.contains("linux/arm64/v8"),
        "{err}"
    );
    let _ = Digest::sha256_of(b"");
}

#[test]
fn cache_makes_a_second_run_instant() {
    let dir = tempfile::tempdir().unwrap();
    write_dir(&dir.path().join("layout"), &oci_layout(false));
    let image = open_image(
        &ImageRef::parse(&format!("oci:{}", dir.path().join("layout").display())).unwrap(),
        &Platform::default(),
    )
    .unwrap();
    let opts = ImageOptions {
        cache: Some(dir.path().join("cache")),
        ..ImageOptions::default()
    };
    let first = convert_image(&image, &opts).unwrap();
    assert!(first.iter().all(|l| !l.cached));
    let second = convert_image(&image, &opts).unwrap();
    assert!(second.iter().all(|l| l.cached));
    assert_eq!(
        first.iter().map(|l| &l.root_hash).collect::<Vec<_>>(),
        second.iter().map(|l| &l.root_hash).collect::<Vec<_>>()
    );
}

#[test]
fn docker_archives_read_as_one_stream() {
    // What the Docker daemon's export path does: no seeking, layers
    // converted as they pass, manifest.json resolved at the end.
    let want = expected_roots();
    let dir = tempfile::tempdir().unwrap();
    for (name, make) in [
        ("skopeo.tar", skopeo_docker_archive as fn(&Path)),
        ("legacy.tar", legacy_docker_archive),
    ] {
        let p = dir.path().join(name);
        make(&p);
        let f = std::fs::File::open(&p).unwrap();
        let got = layerseal::stream_archive::convert_archive_stream(
            f,
            name,
            None,
            &ImageOptions::default(),
        )
        .unwrap();
        assert_eq!(
            got.into_iter().map(|l| l.root_hash).collect::<Vec<_>>(),
            want,
            "{name}"
        );
        // With outputs: final names only, no temporaries left.
        let out = dir.path().join(format!("out-{name}"));
        std::fs::create_dir_all(&out).unwrap();
        let opts = ImageOptions {
            outputs: Some(OutputPlan {
                dir: out.clone(),
                hash_device: false,
                vhd: true,
                erofs: false,
                containerd_cache: false,
            }),
            ..ImageOptions::default()
        };
        let got = layerseal::stream_archive::convert_archive_stream(
            std::fs::File::open(&p).unwrap(),
            name,
            None,
            &opts,
        )
        .unwrap();
        let files: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(
            files
                .iter()
                .all(|f| f.ends_with(".vhd") && !f.starts_with('.')),
            "{files:?}"
        );
        assert_eq!(got.len(), 3);
    }
    // A lying diff_id is caught on the stream path too, and nothing is left.
    let p = dir.path().join("lies.tar");
    {
        let raw = common::layer("basic.tar");
        let cfg = config(&[format!("sha256:{}", "0".repeat(64))], "amd64");
        let mut b = tar::Builder::new(std::fs::File::create(&p).unwrap());
        append(&mut b, "l/layer.tar", &raw);
        append(&mut b, "c.json", &cfg);
        append(
            &mut b,
            "manifest.json",
            &serde_json::to_vec(&json!([{"Config": "c.json", "Layers": ["l/layer.tar"]}])).unwrap(),
        );
        b.finish().unwrap();
    }
    let out = dir.path().join("out-lies");
    std::fs::create_dir_all(&out).unwrap();
    let opts = ImageOptions {
        outputs: Some(OutputPlan {
            dir: out.clone(),
            hash_device: true,
            vhd: true,
            erofs: false,
            containerd_cache: false,
        }),
        ..ImageOptions::default()
    };
    let e = layerseal::stream_archive::convert_archive_stream(
        std::fs::File::open(&p).unwrap(),
        "lies",
        None,
        &opts,
    )
    .unwrap_err();
    assert!(e.to_string().contains("diff_id mismatch"), "{e}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

/// Docker >= 25 `docker save`: an OCI layout inside (uncompressed layers
/// under blobs/sha256/<diff_id>) plus a manifest.json whose Layers point
/// there, with LayerSources.
fn docker25_archive(path: &Path) {
    let raw = [
        common::layer("basic.tar"),
        common::layer("whiteouts.tar"),
        common::layer("xattrs.tar"),
    ];
    let diff_ids: Vec<String> = raw.iter().map(|r| format!("sha256:{}", sha(r))).collect();
    let cfg = config(&diff_ids, "amd64");
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut sources = serde_json::Map::new();
    let mut layer_paths = Vec::new();
    for r in &raw {
        append(&mut b, &format!("blobs/sha256/{}", sha(r)), r);
        layer_paths.push(format!("blobs/sha256/{}", sha(r)));
        sources.insert(
            format!("sha256:{}", sha(r)),
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": r.len(), "digest": format!("sha256:{}", sha(r))}),
        );
    }
    append(&mut b, &format!("blobs/sha256/{}", sha(&cfg)), &cfg);
    append(
        &mut b,
        "index.json",
        br#"{"schemaVersion":2,"manifests":null}"#,
    );
    append(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let m = json!([{"Config": format!("blobs/sha256/{}", sha(&cfg)), "RepoTags": ["real/bookworm:latest"],
        "Layers": layer_paths, "LayerSources": sources}]);
    append(&mut b, "manifest.json", &serde_json::to_vec(&m).unwrap());
    b.finish().unwrap();
}

#[test]
fn docker25_archives_by_seek_and_by_stream() {
    let want = expected_roots();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d25.tar");
    docker25_archive(&p);
    assert_eq!(
        roothashes(&format!(
            "docker-archive:{}:real/bookworm:latest",
            p.display()
        )),
        want
    );
    assert_eq!(roothashes(&p.display().to_string()), want);
    let got = layerseal::stream_archive::convert_archive_stream(
        std::fs::File::open(&p).unwrap(),
        "d25",
        Some("real/bookworm"),
        &ImageOptions::default(),
    )
    .unwrap();
    assert_eq!(
        got.into_iter().map(|l| l.root_hash).collect::<Vec<_>>(),
        want
    );
    // Asking for an image the archive does not hold, when it holds one: used, as upstream does.
    assert_eq!(
        roothashes(&format!("docker-archive:{}:other:tag", p.display())),
        want
    );
}

/// A docker-archive with two images (the second has one layer more):
/// without a name it is ambiguous; `@0` / `@1` pick by position as
/// skopeo's `docker-archive:FILE:@N` does, and dmverity-vhd's rule
/// (`--tarball` without `-i`: the first) has a name to use.
#[test]
fn docker_archive_with_two_images_by_index() {
    use layerseal::source::{open_archive, Platform, SourceError};
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("two.tar");
    let raw = [common::layer("basic.tar"), common::layer("whiteouts.tar")];
    let ids: Vec<String> = raw.iter().map(|r| format!("sha256:{}", sha(r))).collect();
    let cfg1 = config(&ids[..1], "amd64");
    let cfg2 = config(&ids, "amd64");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut names = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let name = format!("id{i}/layer.tar");
        append(&mut b, &name, r);
        names.push(name);
    }
    append(&mut b, &format!("{}.json", sha(&cfg1)), &cfg1);
    append(&mut b, &format!("{}.json", sha(&cfg2)), &cfg2);
    let m = serde_json::to_vec(&json!([
        {"Config": format!("{}.json", sha(&cfg1)), "RepoTags": ["one:latest"], "Layers": &names[..1]},
        {"Config": format!("{}.json", sha(&cfg2)), "RepoTags": ["two:latest"], "Layers": names},
    ]))
    .unwrap();
    append(&mut b, "manifest.json", &m);
    b.finish().unwrap();
    let p = Platform::parse("linux/amd64").unwrap();
    match open_archive(&path, None, &p) {
        Err(SourceError::Ambiguous(why)) => {
            assert!(
                why.contains("one:latest") && why.contains("two:latest"),
                "{why}"
            )
        }
        other => panic!("not ambiguous: {:?}", other.map(|i| i.layers.len())),
    }
    assert_eq!(open_archive(&path, Some("@0"), &p).unwrap().layers.len(), 1);
    assert_eq!(open_archive(&path, Some("@1"), &p).unwrap().layers.len(), 2);
    assert_eq!(
        open_archive(&path, Some("two"), &p).unwrap().layers.len(),
        2
    );
    assert!(matches!(
        open_archive(&path, Some("@2"), &p),
        Err(SourceError::NotFound(_))
    ));
}

/// A descriptor whose size does not match its blob (digest right) is an
/// error naming the blob and both sizes, for the manifest and the config.
#[test]
fn descriptor_sizes_are_checked() {
    use layerseal::source::{open_image, ImageRef, Platform};
    let p = Platform::parse("linux/amd64").unwrap();
    for target in ["manifest", "config"] {
        let d = tempfile::tempdir().unwrap();
        let mut files = oci_layout(false);
        let (ii, _) = files
            .iter()
            .enumerate()
            .find(|(_, f)| f.0 == "index.json")
            .unwrap();
        let mut index: serde_json::Value = serde_json::from_slice(&files[ii].1).unwrap();
        if target == "manifest" {
            index["manifests"][0]["size"] = json!(7);
            files[ii].1 = serde_json::to_vec(&index).unwrap();
        } else {
            // Rewrite the manifest with a wrong config size, then re-point the index.
            let mdig = index["manifests"][0]["digest"]
                .as_str()
                .unwrap()
                .to_string();
            let mpath = format!("blobs/sha256/{}", &mdig[7..]);
            let mi = files.iter().position(|f| f.0 == mpath).unwrap();
            let mut m: serde_json::Value = serde_json::from_slice(&files[mi].1).unwrap();
            m["config"]["size"] = json!(3);
            let bytes = serde_json::to_vec(&m).unwrap();
            files.push((format!("blobs/sha256/{}", sha(&bytes)), bytes.clone()));
            index["manifests"][0]["digest"] = json!(format!("sha256:{}", sha(&bytes)));
            index["manifests"][0]["size"] = json!(bytes.len());
            files[ii].1 = serde_json::to_vec(&index).unwrap();
        }
        write_dir(d.path(), &files);
        let r = ImageRef::parse(&format!("oci:{}", d.path().display())).unwrap();
        let err = open_image(&r, &p)
            .err()
            .expect("accepted a wrong size")
            .to_string();
        assert!(err.contains("declares"), "{target}: {err}");
    }
}
