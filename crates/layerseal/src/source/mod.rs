//! Where images come from: OCI layout directories, oci-archive and
//! docker-archive tarballs (and, later, registries and the Docker daemon).
//! Every source resolves to an [`Image`]: layers in manifest order with
//! their blob digests and diff_ids, verified while they stream.

pub mod daemon;
pub(crate) mod digest;
pub(crate) mod docker_archive;
mod error;
pub mod image;
pub mod layout_referrers;
pub mod oci;
pub(crate) mod platform;
pub(crate) mod reference;
pub mod registry;
pub(crate) mod registry_pinned;
pub mod registry_push;
pub(crate) mod registry_tls;
pub mod store;

pub use digest::Digest;
pub use error::SourceError;
pub use image::{Image, Layer};
pub use platform::Platform;
pub use reference::{open_archive, open_image, open_image_with, ImageRef};
pub use registry::RegistryOptions;
