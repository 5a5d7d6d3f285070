//! One layer of an image opened for reading: the blob from its store,
//! its digest measured as it streams, decompressed (gzip, zstd or plain)
//! and the uncompressed tar measured for the diff_id check.

use std::io::Read;
use std::sync::Arc;

use crate::compress::{self, Compression};
use crate::source::digest::{ThreadMeasured, ThreadMeasurement};
use crate::source::{Digest, Image, Layer};

/// Called with (layer index, blob bytes read so far).
pub type ProgressFn = Arc<dyn Fn(usize, u64) + Send + Sync>;

/// The decompressed tar of a layer and what checks it afterwards.
pub struct OpenedLayer {
    pub tar: Box<dyn Read>,
    pub compression: Compression,
    pub check: LayerCheck,
}

/// Digests measured while the layer streamed.
pub struct LayerCheck {
    blob: ThreadMeasurement,
    /// None for uncompressed layers: the tar is the blob, hashed once.
    diff: Option<ThreadMeasurement>,
    stored_size: u64,
    digest: Option<Digest>,
    diff_id: Digest,
}

impl LayerCheck {
    /// After the whole tar was read: the blob was read to its end and
    /// matches its digest, and the tar matches the config's diff_id.
    pub fn verify(&self) -> Result<(), String> {
        if let Some(d) = &self.digest {
            let (got, bytes) = self.blob.finish();
            if bytes != self.stored_size {
                return Err(format!(
                    "blob not read to its end ({bytes} of {} bytes)",
                    self.stored_size
                ));
            }
            if d.algorithm == "sha256" && &got != d {
                return Err(format!("blob digest mismatch: expected {d}, got {got}"));
            }
        }
        let (got, _) = self.diff.as_ref().unwrap_or(&self.blob).finish();
        if got != self.diff_id {
            return Err(format!(
                "diff_id mismatch: the config says {}, the uncompressed layer is {got}",
                self.diff_id
            ));
        }
        Ok(())
    }
}

struct Progress<R> {
    inner: R,
    index: usize,
    done: u64,
    f: ProgressFn,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        (self.f)(self.index, self.done);
        Ok(n)
    }
}

/// Open `layer` of `image`; errors are messages for the caller to wrap
/// with the layer's name.
pub fn open_layer(
    image: &Image,
    layer: &Layer,
    progress: Option<&ProgressFn>,
) -> Result<OpenedLayer, String> {
    let (blob, stored_size) = image.store.open(&layer.path).map_err(|e| e.to_string())?;
    // Stores that cannot tell a size (chunked HTTP) say u64::MAX.
    let stored_size = match (stored_size, layer.size) {
        (u64::MAX, Some(s)) => s,
        (n, _) => n,
    };
    if let Some(size) = layer.size {
        if size != stored_size {
            return Err(format!(
                "blob is {stored_size} bytes but its descriptor says {size}"
            ));
        }
    }
    let blob: Box<dyn Read + Send> = match progress {
        Some(f) => Box::new(Progress {
            inner: blob,
            index: layer.index,
            done: 0,
            f: f.clone(),
        }),
        None => blob,
    };
    let (blob, blob_m) = ThreadMeasured::new(blob);
    let (compression, decoded) = compress::open(blob).map_err(|e| e.to_string())?;
    let (tar, diff_m): (Box<dyn Read>, _) = if compression == Compression::None {
        (decoded, None)
    } else {
        let (m, diff) = ThreadMeasured::new(decoded);
        (Box::new(m), Some(diff))
    };
    Ok(OpenedLayer {
        tar,
        compression,
        check: LayerCheck {
            blob: blob_m,
            diff: diff_m,
            stored_size,
            digest: layer.digest.clone(),
            diff_id: layer.diff_id.clone(),
        },
    })
}
