//! The fixed-VHD footer: 512 big-endian bytes after the disk data (spec
//! dmverity-vhd §7).

pub const FOOTER_SIZE: usize = 512;
const COOKIE: &[u8; 8] = b"conectix";
const DISK_TYPE_FIXED: u32 = 2;

/// The fields a fixed footer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    pub features: u32,
    pub version: u32,
    pub timestamp: u32,
    pub creator_version: u32,
    pub original_size: u64,
    pub current_size: u64,
    pub geometry: u32,
    pub disk_type: u32,
    pub unique_id: [u8; 16],
    pub saved_state: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VhdError {
    #[error("no VHD footer (cookie is not \"conectix\")")]
    BadCookie,
    #[error("VHD footer checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum { stored: u32, computed: u32 },
    #[error("not a fixed VHD (disk type {0})")]
    NotFixed(u32),
    #[error("VHD footer says the disk is {said} bytes but {actual} bytes precede it")]
    SizeMismatch { said: u64, actual: u64 },
}

fn checksum(b: &[u8; FOOTER_SIZE]) -> u32 {
    let sum: u32 = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .map(|(_, &c)| u32::from(c))
        .sum();
    !sum
}

impl Footer {
    /// The footer dmverity-vhd writes for a disk of `size` bytes.
    pub fn fixed(size: u64, unique_id: [u8; 16]) -> Self {
        Footer {
            features: 2,
            version: 0x0001_0000,
            timestamp: 0,
            creator_version: 0x000A_0000,
            original_size: size,
            current_size: size,
            geometry: 0,
            disk_type: DISK_TYPE_FIXED,
            unique_id,
            saved_state: 0,
        }
    }

    pub fn encode(&self) -> [u8; FOOTER_SIZE] {
        let mut b = [0u8; FOOTER_SIZE];
        b[0..8].copy_from_slice(COOKIE);
        b[8..12].copy_from_slice(&self.features.to_be_bytes());
        b[12..16].copy_from_slice(&self.version.to_be_bytes());
        b[16..24].copy_from_slice(&u64::MAX.to_be_bytes());
        b[24..28].copy_from_slice(&self.timestamp.to_be_bytes());
        b[32..36].copy_from_slice(&self.creator_version.to_be_bytes());
        b[40..48].copy_from_slice(&self.original_size.to_be_bytes());
        b[48..56].copy_from_slice(&self.current_size.to_be_bytes());
        b[56..60].copy_from_slice(&self.geometry.to_be_bytes());
        b[60..64].copy_from_slice(&self.disk_type.to_be_bytes());
        b[68..84].copy_from_slice(&self.unique_id);
        b[84] = self.saved_state;
        let sum = checksum(&b);
        b[64..68].copy_from_slice(&sum.to_be_bytes());
        b
    }

    /// Parse and validate a fixed footer found after `data_len` bytes.
    pub fn decode(b: &[u8; FOOTER_SIZE], data_len: u64) -> Result<Self, VhdError> {
        if &b[0..8] != COOKIE {
            return Err(VhdError::BadCookie);
        }
        let be32 = |at: usize| u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        let be64 = |at: usize| u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let stored = be32(64);
        let computed = checksum(b);
        if stored != computed {
            return Err(VhdError::Checksum { stored, computed });
        }
        let disk_type = be32(60);
        if disk_type != DISK_TYPE_FIXED {
            return Err(VhdError::NotFixed(disk_type));
        }
        let current_size = be64(48);
        if current_size != data_len {
            return Err(VhdError::SizeMismatch {
                said: current_size,
                actual: data_len,
            });
        }
        let mut unique_id = [0u8; 16];
        unique_id.copy_from_slice(&b[68..84]);
        Ok(Footer {
            features: be32(8),
            version: be32(12),
            timestamp: be32(24),
            creator_version: be32(32),
            original_size: be64(40),
            current_size,
            geometry: be32(56),
            disk_type,
            unique_id,
            saved_state: b[84],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_match_dmverity_vhd() {
        let b = Footer::fixed(1_318_912, [7; 16]).encode();
        assert_eq!(&b[0..8], b"conectix");
        assert_eq!(&b[8..12], &[0, 0, 0, 2]);
        assert_eq!(&b[16..24], &[0xff; 8]);
        assert_eq!(u64::from_be_bytes(b[40..48].try_into().unwrap()), 1_318_912);
        assert_eq!(&b[60..64], &[0, 0, 0, 2]);
        assert!(b[85..].iter().all(|&c| c == 0));
        assert_eq!(Footer::decode(&b, 1_318_912).unwrap().unique_id, [7; 16]);
    }

    #[test]
    fn corrupt_footers_are_named() {
        let good = Footer::fixed(4096, [0; 16]).encode();
        let mut b = good;
        b[0] = b'X';
        assert_eq!(Footer::decode(&b, 4096), Err(VhdError::BadCookie));
        let mut b = good;
        b[100] = 1;
        assert!(matches!(
            Footer::decode(&b, 4096),
            Err(VhdError::Checksum { .. })
        ));
        assert!(matches!(
            Footer::decode(&good, 8192),
            Err(VhdError::SizeMismatch { .. })
        ));
    }
}
