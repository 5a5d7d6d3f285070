//! Command-line front ends of layerseal: the native `layerseal` commands
//! and the `dmverity-vhd` drop-in. The binaries are thin wrappers.

pub mod dmverity_vhd;
mod goflag;
pub mod native;
