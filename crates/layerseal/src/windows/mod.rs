//! Windows layers. Confidential Windows containers mount each layer as a
//! verified block CIM written by Microsoft's `cimwriter.dll`; the CIM
//! format, its hash tree and the registry-hive merge are unpublished, so
//! their digests cannot be computed here (notes:
//! docs/windows-layers.md). What this module does off Windows: recognise
//! Windows images (so nobody gets ext4 root hashes for them) and pass
//! through digests computed on Windows (`--precomputed`, dmverity-vhd's
//! Windows JSON).

pub mod encode;
pub mod layer;
pub mod plan;
pub mod precomputed;

use crate::source::Image;

/// What a user needs to know when asking for a Windows image's hashes here.
pub const NEEDS_WINDOWS: &str = "Windows layers become verified block CIMs written by \
Microsoft's cimwriter.dll (format and hash tree unpublished); their digests can only be \
computed on Windows Server 2025 (build 26100, UBR 32800 or later) with cimwriter.dll, e.g. \
`dmverity-vhd roothash --platform windows/amd64` there";

/// Is this a Windows image (by its config's `os`)?
pub fn is_windows(image: &Image) -> bool {
    image
        .platform
        .as_ref()
        .is_some_and(|p| p.os.eq_ignore_ascii_case("windows"))
        || image.config["os"]
            .as_str()
            .is_some_and(|os| os.eq_ignore_ascii_case("windows"))
}
