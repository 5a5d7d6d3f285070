//! A streaming tar reader with the observable behaviour of Go's `archive/tar`
//! `Reader` (Go 1.24): the same headers, the same entry bytes and the same
//! errors at the same points.
//!
//! Why not the `tar` crate: tar2ext4 (and so every dm-verity root hash we must
//! reproduce) is defined by Go's reader, whose rules differ from the crate's in
//! ways that change output bytes: PAX records with empty values are kept,
//! `L`/`K` beat PAX `path`, header-only types never carry data whatever the size
//! field says, a `g` header is returned as an entry, the end-of-archive and
//! truncation rules, sparse expansion and its read-time errors. Matching all of
//! that through the crate's API is not possible, so this is a small reader of
//! our own, written from `specs/go-archive-tar.md`.

mod error;
mod header;
mod number;
mod pax;
mod reader;
mod sparse;

pub use error::TarError;
pub use header::{Format, Header, Timestamp};
pub use pax::parse_time as parse_pax_time;
pub use reader::Reader;

/// Typeflags with a meaning to callers.
pub mod typeflag {
    pub const REG: u8 = b'0';
    pub const REG_A: u8 = 0;
    pub const LINK: u8 = b'1';
    pub const SYMLINK: u8 = b'2';
    pub const CHAR: u8 = b'3';
    pub const BLOCK: u8 = b'4';
    pub const DIR: u8 = b'5';
    pub const FIFO: u8 = b'6';
    pub const XHEADER: u8 = b'x';
    pub const XGLOBAL: u8 = b'g';
    pub const GNU_SPARSE: u8 = b'S';
    pub const GNU_LONGNAME: u8 = b'L';
    pub const GNU_LONGLINK: u8 = b'K';

    /// Types whose data section is empty whatever the size field says.
    pub fn is_header_only(t: u8) -> bool {
        matches!(t, LINK | SYMLINK | CHAR | BLOCK | DIR | FIFO)
    }
}

/// Size of a tar block.
pub const BLOCK: usize = 512;

/// Whether a block is a checksum-valid tar header (of any kind).
pub fn is_header_block(block: &[u8; BLOCK]) -> bool {
    header::block_kind(block).is_some()
}
