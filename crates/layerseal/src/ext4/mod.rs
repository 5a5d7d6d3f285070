//! ext4 images byte-identical to hcsshim's tar2ext4/compactext4.
//!
//! One on-disk structure per module: `inode`, `xattr`, `extent`,
//! `dir`, `layout` (groups, bitmaps, descriptors, superblock);
//! `writer` is compactext4's allocation and replace logic and
//! [`from_tar`] is tar2ext4's entry handling on top of it.

pub(crate) mod dir;
pub(crate) mod extent;
pub mod from_tar;
pub(crate) mod gosort;
pub(crate) mod inode;
pub(crate) mod layout;
pub mod path;
pub mod time;
pub(crate) mod writer;
pub(crate) mod xattr;

use std::io;

pub use from_tar::{convert, ConvertError};
pub use writer::{File, Summary, Writer};

/// Metadata reservation of `hashlayer`, `roothash` and `create` (128 GiB).
pub const LAYOUT_128G: u64 = 128 << 30;
/// compactext4's default reservation, used by `tar2hashed` (16 GiB).
pub const LAYOUT_16G: u64 = 16 << 30;

/// Why the writer refused or failed. Messages are compactext4's own words,
/// since dmverity-vhd users and scripts see them.
#[derive(Debug, thiserror::Error)]
pub enum Ext4Error {
    /// A tree rule compactext4 enforces (replace rules, names, links).
    #[error("{0}")]
    Rejected(String),
    /// Over the reserved disk size, the file size limit or the extent limit.
    #[error("{0}")]
    TooBig(String),
    /// Reading the layer or writing the image failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Ext4Error {
    /// Go's `fmt.Errorf("%s: %w", name, err)`.
    fn prefixed(self, name: &[u8]) -> Self {
        let name = crate::text::shown(name);
        match self {
            Ext4Error::Rejected(m) => Ext4Error::Rejected(format!("{name}: {m}")),
            Ext4Error::TooBig(m) => Ext4Error::TooBig(format!("{name}: {m}")),
            Ext4Error::Io(e) => Ext4Error::Io(io::Error::new(e.kind(), format!("{name}: {e}"))),
        }
    }
}
