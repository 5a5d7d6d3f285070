//! Images: the stage above single layers. [`pipeline`] converts every
//! layer of a resolved [`crate::source::Image`] (several at once, results
//! in manifest order, outputs named as dmverity-vhd names them);
//! [`stream_archive`] reads a Docker daemon's export as one stream;
//! [`layer_stream`] opens one layer (digests, decompression); the
//! root-hash cache lives beside them.

mod cache;
pub mod layer_stream;
pub mod pipeline;
pub mod stream_archive;

use pipeline::{convert_image, ImageOptions, LayerResult};

/// Convert whatever `reference` names: images that can be opened
/// (layouts, archives, registries) layer-parallel, the Docker daemon's
/// export as one stream. Errors are ready to print.
pub fn convert_reference(
    reference: &crate::source::ImageRef,
    platform: &crate::source::Platform,
    registry: &crate::source::RegistryOptions,
    opts: &ImageOptions,
) -> Result<Vec<LayerResult>, String> {
    use crate::source::{daemon, open_image_with, ImageRef};
    match reference {
        ImageRef::DockerDaemon(name) => {
            let stream = daemon::export(name).map_err(|e| e.to_string())?;
            stream_archive::convert_archive_stream(
                stream,
                &format!("docker-daemon:{name}"),
                Some(name),
                opts,
            )
            .map_err(|e| e.to_string())
        }
        other => {
            let image = open_image_with(other, platform, registry).map_err(|e| e.to_string())?;
            convert_image(&image, opts).map_err(|e| e.to_string())
        }
    }
}
