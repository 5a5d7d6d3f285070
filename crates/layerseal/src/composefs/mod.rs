//! composefs: the dumpfile text form (composefs-dump(5)) and its escaping.
//! The image writer, repository and OCI import build on these.

pub mod artifact;
pub mod dumpfile;
pub(crate) mod escape;
pub mod image;
pub mod import;
pub mod maintenance;
pub mod mount;
pub mod oci;
pub mod read;
pub mod repo;
pub mod seal;
pub mod sign;
pub mod signatures;
pub mod splitstream;
