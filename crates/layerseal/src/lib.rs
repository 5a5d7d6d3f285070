//! layerseal: OCI layers to integrity-protected filesystem images.
//!
//! The pipeline, each stage a module: [`compress`] (sniff and decompress a
//! layer stream) → [`tar`] (entries with Go `archive/tar` semantics) →
//! [`ext4`] (an image byte-identical to hcsshim's tar2ext4) → [`verity`]
//! (dm-verity tree, superblock, root hash) → [`vhd`] (fixed VHD footer).
//! [`layer`] wires them for one layer; [`sink`] is where filesystem writers
//! put blocks; [`atomic`] makes outputs appear whole or not at all.
//! [`erofs`] and [`composefs`] are the other formats; [`source`] reads
//! images from registries, layouts, archives and the Docker daemon, and
//! [`pipeline`] converts whole images. ARCHITECTURE.md in the repository
//! maps the code.
//!
//! One layer, its dm-verity root hash as `dmverity-vhd hashlayer` prints it
//! (nothing written), then the same layer as containerd's EROFS with Kata's
//! mkfs options:
//!
//! ```
//! use layerseal::erofs::{options::WallClock, MkfsOptions, MkfsVersion};
//! use layerseal::layer::{convert_layer, FsFormat, LayerOptions};
//!
//! let tar = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello-layer.tar.gz"))?;
//! let report = convert_layer(tar, &LayerOptions::default())?;
//! assert_eq!(report.root_hash.len(), 64);
//!
//! let kata = MkfsOptions::parse(&["-T0 --mkfs-time --sort=none"], MkfsVersion::V1_9, WallClock::Refuse)?;
//! let tar = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello-layer.tar.gz"))?;
//! let erofs = convert_layer(tar, &LayerOptions { format: FsFormat::Erofs, mkfs: kata, ..LayerOptions::default() })?;
//! assert_ne!(erofs.root_hash, report.root_hash);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A whole image (here a docker-archive; `docker://…` references work the
//! same), every layer's root hash in manifest order:
//!
//! ```
//! use layerseal::pipeline::{convert_image, ImageOptions};
//! use layerseal::source::{open_image, ImageRef, Platform};
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello-image.tar");
//! let image = open_image(&ImageRef::parse(path)?, &Platform::parse("linux/amd64")?)?;
//! let layers = convert_image(&image, &ImageOptions::default())?;
//! assert_eq!(layers.len(), image.layers.len());
//! for l in &layers {
//!     println!("{}  {}", l.root_hash, l.diff_id);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(unsafe_code)]

// The image-level stages keep their old paths too.
pub use image::{layer_stream, pipeline, stream_archive};

pub mod atomic;
pub mod check;
pub mod composefs;
pub mod compress;
pub mod erofs;
pub mod ext4;
pub mod image;
pub mod layer;
pub mod pkcs7;
pub mod rootsig;
pub mod sink;
pub mod source;
mod sys;
pub mod tar;
pub(crate) mod tee;
pub mod text;
pub mod verity;
pub mod vhd;
pub mod windows;
