//! OCI images into a composefs repository, as `cfsctl oci pull` stores
//! them (spec: composefs.md §5.3, §6.1): each layer as a splitstream
//! (`oci-layer-sha256:<diff_id>`) whose file contents over 64 bytes are
//! objects, the config and manifest as objects wrapped in one-chunk
//! splitstreams with named refs, the merged image committed under
//! `images/`, and the tag under `streams/refs/oci/`.
//!
//! Each new layer is read once: the same pass verifies its digests,
//! writes its objects and splitstream, and merges it into the tree.
//! Layers already in the repository are reassembled from it.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

use serde_json::{json, Value};

use super::oci::{
    tree_image, DigestOnly, IdOptions, MergedTree, ObjectStore, OciError, XattrFilter,
};
use super::repo::{RepoError, Repository};
use super::splitstream::{content_type, SplitStream, Writer};
use crate::image::layer_stream::{open_layer, ProgressFn};
use crate::source::{Digest, Image};
use crate::verity::Algorithm;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("layer {index} ({diff_id}): {message}")]
    Layer {
        index: usize,
        diff_id: String,
        message: String,
    },
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("{0}")]
    Other(String),
}

#[derive(Clone, Default)]
pub struct PullOptions {
    pub erofs_version: u32,
    pub xattrs: XattrFilter,
    pub progress: Option<ProgressFn>,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    /// fs-verity digest of the committed EROFS image.
    pub image_id: Vec<u8>,
    /// fs-verity digest of the raw config JSON.
    pub config_verity: Vec<u8>,
    pub layers_imported: usize,
    pub layers_present: usize,
}

pub fn layer_content_id(diff_id: &Digest) -> String {
    format!("oci-layer-{}:{}", diff_id.algorithm, diff_id.hex)
}

fn config_content_id(d: &Digest) -> String {
    format!("oci-config-{}:{}", d.algorithm, d.hex)
}

pub fn manifest_content_id(d: &Digest) -> String {
    format!("oci-manifest-{}:{}", d.algorithm, d.hex)
}

/// The config's name for the image built with these options.
fn image_ref_name(xattrs: XattrFilter) -> &'static str {
    match xattrs {
        XattrFilter::AllowlistOnly => "composefs.image.v1",
        XattrFilter::KeepUserXattrs => "composefs.image.v1.xattrs=keep-user-xattrs",
    }
}

/// Where a recorded layer's bytes go: inline into the splitstream,
/// except while an object's data is being read.
struct Recording {
    writer: Writer,
    suppress: bool,
}

struct Recorder<R> {
    inner: R,
    state: Rc<RefCell<Recording>>,
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut st = self.state.borrow_mut();
        if !st.suppress {
            st.writer.inline(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Objects into the repository; contiguous ones become external chunks.
struct SplitStore<'a> {
    repo: &'a Repository,
    state: Rc<RefCell<Recording>>,
}

impl ObjectStore for SplitStore<'_> {
    fn algorithm(&self) -> Algorithm {
        self.repo.algorithm()
    }

    fn put(&mut self, data: &mut dyn Read, size: u64, contiguous: bool) -> io::Result<Vec<u8>> {
        let to_io = |e: RepoError| io::Error::other(e.to_string());
        if !contiguous {
            return self.repo.put_reader(data, size).map_err(to_io);
        }
        self.state.borrow_mut().suppress = true;
        let digest = self.repo.put_reader(data, size);
        self.state.borrow_mut().suppress = false;
        let digest = digest.map_err(to_io)?;
        self.state.borrow_mut().writer.external(&digest, size)?;
        Ok(digest)
    }
}

/// Read one uncompressed layer tar to its end: store its objects, merge
/// it into `tree`, and return its splitstream file.
pub fn import_layer(
    repo: &Repository,
    tar: &mut dyn Read,
    tree: &mut MergedTree,
) -> Result<Vec<u8>, OciError> {
    let state = Rc::new(RefCell::new(Recording {
        writer: Writer::new(repo.algorithm(), content_type::OCI_LAYER)
            .map_err(|e| OciError::Tree(e.to_string()))?,
        suppress: false,
    }));
    let mut recorder = Recorder {
        inner: tar,
        state: state.clone(),
    };
    let mut store = SplitStore {
        repo,
        state: state.clone(),
    };
    tree.apply_layer(&mut recorder, &mut store)?;
    // What follows the end-of-archive blocks belongs to the stream too.
    io::copy(&mut recorder, &mut io::sink()).map_err(|e| OciError::Tree(e.to_string()))?;
    drop(recorder);
    drop(store);
    let recording = Rc::try_unwrap(state)
        .map_err(|_| OciError::Tree("recording still shared".into()))?
        .into_inner();
    recording
        .writer
        .finish()
        .map_err(|e| OciError::Tree(e.to_string()))
}

/// The raw config (as the registry serves it when the source keeps it;
/// otherwise re-serialized) and its digest.
fn raw_config(image: &Image) -> (Vec<u8>, Digest) {
    if let Some(d) = &image.config_digest {
        if let Some(raw) = image.raw_document(d, false) {
            return (raw, d.clone());
        }
    }
    let raw = serde_json::to_vec(&image.config).expect("json");
    let d = Digest::sha256_of(&raw);
    (raw, d)
}

/// The raw manifest; sources without one (docker-archive, the daemon)
/// get an OCI manifest listing the uncompressed layers.
fn raw_manifest(image: &Image, config: &[u8], config_digest: &Digest) -> (Vec<u8>, Digest) {
    if let Some(d) = &image.manifest_digest {
        if let Some(raw) = image.raw_document(d, true) {
            return (raw, d.clone());
        }
    }
    let layers: Vec<Value> = image
        .layers
        .iter()
        .map(|l| {
            json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": l.diff_id.to_string(),
                "size": l.size,
            })
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config.len(),
        },
        "layers": layers,
    });
    let raw = serde_json::to_vec(&manifest).expect("json");
    let d = Digest::sha256_of(&raw);
    (raw, d)
}

/// An image's config and manifest, raw, with their digests.
pub struct Documents<'a> {
    pub config: &'a [u8],
    pub config_digest: &'a Digest,
    pub manifest: &'a [u8],
    pub manifest_digest: &'a Digest,
}

/// Keep an image's documents as composefs-rs does and tag it: the config
/// in a splitstream naming the layer streams and the committed image
/// (`image_ref`: name and id), the manifest in one naming the config and
/// the layers. Returns the fs-verity digest of the config object.
pub fn store_documents(
    repo: &Repository,
    tag: &str,
    docs: &Documents,
    layer_streams: Vec<(String, Vec<u8>)>,
    image_ref: (&str, Vec<u8>),
) -> Result<Vec<u8>, RepoError> {
    let mut refs = layer_streams.clone();
    refs.push((image_ref.0.to_string(), image_ref.1));
    let (file, config_verity) =
        repo.one_chunk_stream(docs.config, content_type::OCI_CONFIG, &refs)?;
    let config_stream = repo.write_stream(&config_content_id(docs.config_digest), &file)?;
    let mut refs = vec![(format!("config:{}", docs.config_digest), config_stream)];
    refs.extend(layer_streams);
    let (file, _) = repo.one_chunk_stream(docs.manifest, content_type::OCI_MANIFEST, &refs)?;
    let manifest_id = manifest_content_id(docs.manifest_digest);
    repo.write_stream(&manifest_id, &file)?;
    repo.set_oci_tag(tag, &manifest_id)?;
    Ok(config_verity)
}

/// Apply a layer already in the repository (reassembled from its
/// splitstream; objects are re-hashed, not re-written).
fn apply_stored_layer(
    repo: &Repository,
    stream: &SplitStream,
    tree: &mut MergedTree,
) -> Result<(), OciError> {
    let mut store = DigestOnly {
        algorithm: repo.algorithm(),
        threads: repo.threads,
    };
    tree.apply_layer(repo.stream_reader(stream), &mut store)
}

/// Pull `image` into `repo` and tag it.
pub fn pull(
    repo: &Repository,
    image: &Image,
    tag: &str,
    opts: &PullOptions,
) -> Result<Pulled, ImportError> {
    let mut tree = MergedTree::new();
    let mut layer_streams = Vec::new();
    let (mut imported, mut present) = (0, 0);
    for layer in &image.layers {
        let fail = |message: String| ImportError::Layer {
            index: layer.index,
            diff_id: layer.diff_id.to_string(),
            message,
        };
        let id = layer_content_id(&layer.diff_id);
        if repo.has_stream(&id) {
            let (stream, digest) = repo.read_stream(&id)?;
            apply_stored_layer(repo, &stream, &mut tree).map_err(|e| fail(e.to_string()))?;
            layer_streams.push((layer.diff_id.to_string(), digest));
            present += 1;
            continue;
        }
        let mut opened = open_layer(image, layer, opts.progress.as_ref()).map_err(fail)?;
        let file =
            import_layer(repo, &mut opened.tar, &mut tree).map_err(|e| fail(e.to_string()))?;
        opened.check.verify().map_err(fail)?;
        let digest = repo.write_stream(&id, &file)?;
        layer_streams.push((layer.diff_id.to_string(), digest));
        imported += 1;
    }
    tree.finish_for_oci(opts.xattrs)?;
    let image_bytes = tree_image(&tree, opts.erofs_version)?;
    let image_id = repo.commit_image(&image_bytes)?;

    let (config, config_digest) = raw_config(image);
    let (manifest, manifest_digest) = raw_manifest(image, &config, &config_digest);
    let docs = Documents {
        config: &config,
        config_digest: &config_digest,
        manifest: &manifest,
        manifest_digest: &manifest_digest,
    };
    let image_ref = (image_ref_name(opts.xattrs), image_id.clone());
    let config_verity = store_documents(repo, tag, &docs, layer_streams, image_ref)?;
    Ok(Pulled {
        manifest_digest,
        config_digest,
        image_id,
        config_verity,
        layers_imported: imported,
        layers_present: present,
    })
}

/// A tagged image's manifest and config (raw JSON) from the repository.
pub struct Stored {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub config_stream: SplitStream,
    pub manifest_stream: SplitStream,
}

/// Look up a tag.
pub fn open_tag(repo: &Repository, tag: &str) -> Result<Stored, ImportError> {
    let (manifest_stream, _) = repo
        .read_stream(&Repository::oci_tag_ref(tag))
        .map_err(|e| ImportError::Other(format!("no image tagged {tag:?}: {e}")))?;
    let manifest = repo.small_stream_content(&manifest_stream)?;
    let config_ref = manifest_stream
        .named_refs
        .iter()
        .find(|(n, _)| n.starts_with("config:"))
        .map(|(_, i)| manifest_stream.stream_refs[*i].clone())
        .ok_or_else(|| ImportError::Other(format!("{tag}: manifest stream has no config ref")))?;
    let config_stream = repo.stream_object(&config_ref)?;
    let config = repo.small_stream_content(&config_stream)?;
    Ok(Stored {
        manifest,
        config,
        config_stream,
        manifest_stream,
    })
}

/// `compute-id TAG`: rebuild the merged tree from the stored layers and
/// return the image and its id, without committing anything.
pub fn compute_id_for_tag(
    repo: &Repository,
    tag: &str,
    erofs_version: u32,
    xattrs: XattrFilter,
) -> Result<(Vec<u8>, Vec<u8>), ImportError> {
    let stored = open_tag(repo, tag)?;
    let config: Value = serde_json::from_slice(&stored.config)
        .map_err(|e| ImportError::Other(format!("{tag}: config: {e}")))?;
    let ids = crate::source::image::diff_ids(&config, tag)
        .map_err(|e| ImportError::Other(e.to_string()))?;
    let mut tree = MergedTree::new();
    for (index, diff_id) in ids.iter().enumerate() {
        let digest = stored
            .config_stream
            .named(&diff_id.to_string())
            .ok_or_else(|| {
                ImportError::Other(format!("{tag}: layer {diff_id} not in the repository"))
            })?
            .to_vec();
        let stream = repo.stream_object(&digest)?;
        apply_stored_layer(repo, &stream, &mut tree).map_err(|e| ImportError::Layer {
            index,
            diff_id: diff_id.to_string(),
            message: e.to_string(),
        })?;
    }
    let opts = IdOptions {
        erofs_version,
        xattrs,
    };
    Ok(tree.into_image(opts, repo.algorithm())?)
}

/// `compute-id` straight from an image source: every layer opened (blob
/// digest and diff_id checked), merged and hashed; nothing is stored.
pub fn compute_id_for_image(
    image: &Image,
    opts: IdOptions,
    algorithm: Algorithm,
    threads: usize,
) -> Result<(Vec<u8>, Vec<u8>), ImportError> {
    let mut tree = MergedTree::new();
    let mut store = DigestOnly { algorithm, threads };
    for layer in &image.layers {
        let fail = |message: String| ImportError::Layer {
            index: layer.index,
            diff_id: layer.diff_id.to_string(),
            message,
        };
        let mut opened = open_layer(image, layer, None).map_err(fail)?;
        tree.apply_layer(&mut opened.tar, &mut store)
            .map_err(|e| fail(e.to_string()))?;
        io::copy(&mut opened.tar, &mut io::sink()).map_err(|e| fail(e.to_string()))?;
        opened.check.verify().map_err(fail)?;
    }
    Ok(tree.into_image(opts, algorithm)?)
}
