//! layerseal: OCI layers to integrity-protected filesystem images.
//!
//! The pipeline, each stage a module: [`compress`] (sniff and decompress a
//! layer stream) → [`tar`] (entries with Go `archive/tar` semantics) →
//! [`ext4`] (an image byte-identical to hcsshim's tar2ext4) → [`verity`]
//! (dm-verity tree, superblock, root hash) → [`vhd`] (fixed VHD footer).
//! [`layer`] wires them for one layer; [`sink`] is where filesystem writers
//! put blocks; [`atomic`] makes outputs appear whole or not at all.

#![deny(unsafe_code)]

pub mod atomic;
pub mod check;
pub mod composefs;
pub mod compress;
pub mod erofs;
pub mod ext4;
pub mod layer;
pub mod layer_stream;
pub mod pipeline;
pub mod sink;
pub mod source;
pub mod stream_archive;
mod sys;
pub mod tar;
pub mod tee;
pub mod text;
pub mod verity;
pub mod vhd;
