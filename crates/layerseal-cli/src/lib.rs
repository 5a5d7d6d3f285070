//! Command-line front ends of layerseal: the native `layerseal` commands
//! and the `dmverity-vhd` drop-in. The binaries are thin wrappers.

mod cmd_check;
mod cmd_image;
mod cmd_layer;
mod cmd_sign;
mod cmd_windows;
mod composefs_cli;
pub mod dmverity_vhd;
mod erofs_args;
mod goflag;
mod image_args;
pub mod mkfs_erofs;
pub mod native;
mod shared;
