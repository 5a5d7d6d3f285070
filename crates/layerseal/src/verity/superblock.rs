//! The 512-byte dm-verity superblock (veritysetup on-disk format 1).

use super::{Algorithm, Params};

pub const SUPERBLOCK_SIZE: usize = 512;
const MAGIC: &[u8; 8] = b"verity\0\0";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    pub hash_type: u32,
    pub uuid: [u8; 16],
    pub params: Params,
    pub data_blocks: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SuperblockError {
    #[error("not a dm-verity superblock (bad magic)")]
    BadMagic,
    #[error("unsupported dm-verity superblock version {0}")]
    Version(u32),
    #[error("unsupported hash type {0} (only 1 is supported)")]
    HashType(u32),
    #[error("unsupported hash algorithm {0:?}")]
    Algorithm(String),
    #[error("invalid dm-verity parameters: {0}")]
    Params(String),
    #[error("superblock is truncated ({0} bytes)")]
    Truncated(usize),
}

impl Superblock {
    pub fn encode(&self) -> [u8; SUPERBLOCK_SIZE] {
        let mut b = [0u8; SUPERBLOCK_SIZE];
        b[0..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        b[12..16].copy_from_slice(&self.hash_type.to_le_bytes());
        b[16..32].copy_from_slice(&self.uuid);
        let name = self.params.algorithm.name().as_bytes();
        b[32..32 + name.len()].copy_from_slice(name);
        b[64..68].copy_from_slice(&self.params.data_block_size.to_le_bytes());
        b[68..72].copy_from_slice(&self.params.hash_block_size.to_le_bytes());
        b[72..80].copy_from_slice(&self.data_blocks.to_le_bytes());
        b[80..82].copy_from_slice(&(self.params.salt.len() as u16).to_le_bytes());
        b[88..88 + self.params.salt.len()].copy_from_slice(&self.params.salt);
        b
    }

    pub fn decode(b: &[u8]) -> Result<Self, SuperblockError> {
        if b.len() < SUPERBLOCK_SIZE {
            return Err(SuperblockError::Truncated(b.len()));
        }
        if &b[0..8] != MAGIC {
            return Err(SuperblockError::BadMagic);
        }
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        let version = u32_at(8);
        if version != 1 {
            return Err(SuperblockError::Version(version));
        }
        let hash_type = u32_at(12);
        if hash_type != 1 {
            return Err(SuperblockError::HashType(hash_type));
        }
        let name_end = b[32..64].iter().position(|&c| c == 0).unwrap_or(32);
        let name = String::from_utf8_lossy(&b[32..32 + name_end]).into_owned();
        let algorithm = Algorithm::from_name(&name).ok_or(SuperblockError::Algorithm(name))?;
        let salt_len = usize::from(u16::from_le_bytes([b[80], b[81]]));
        if salt_len > 256 {
            return Err(SuperblockError::Params(format!(
                "salt size {salt_len} > 256"
            )));
        }
        let params = Params {
            data_block_size: u32_at(64),
            hash_block_size: u32_at(68),
            algorithm,
            salt: b[88..88 + salt_len].to_vec(),
        };
        params.validate().map_err(SuperblockError::Params)?;
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[16..32]);
        Ok(Superblock {
            hash_type,
            uuid,
            params,
            data_blocks: u64::from_le_bytes(b[72..80].try_into().expect("8 bytes")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_offsets() {
        let sb = Superblock {
            hash_type: 1,
            uuid: [9; 16],
            params: Params::standard(),
            data_blocks: 317,
        };
        let b = sb.encode();
        assert_eq!(&b[32..39], b"sha256\0");
        assert_eq!(u64::from_le_bytes(b[72..80].try_into().unwrap()), 317);
        assert_eq!(u16::from_le_bytes([b[80], b[81]]), 32);
        assert_eq!(Superblock::decode(&b).unwrap(), sb);
    }

    #[test]
    fn corrupt_fields_give_precise_errors() {
        let sb = Superblock {
            hash_type: 1,
            uuid: [0; 16],
            params: Params::standard(),
            data_blocks: 1,
        };
        let good = sb.encode();
        let mut b = good;
        b[0] = b'X';
        assert_eq!(Superblock::decode(&b), Err(SuperblockError::BadMagic));
        let mut b = good;
        b[8] = 2;
        assert_eq!(Superblock::decode(&b), Err(SuperblockError::Version(2)));
        let mut b = good;
        b[32..38].copy_from_slice(b"md5\0\0\0");
        assert!(matches!(
            Superblock::decode(&b),
            Err(SuperblockError::Algorithm(_))
        ));
        let mut b = good;
        b[64..68].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(
            Superblock::decode(&b),
            Err(SuperblockError::Params(_))
        ));
        let mut b = good;
        b[80..82].copy_from_slice(&300u16.to_le_bytes());
        assert!(matches!(
            Superblock::decode(&b),
            Err(SuperblockError::Params(_))
        ));
        assert_eq!(
            Superblock::decode(&good[..100]),
            Err(SuperblockError::Truncated(100))
        );
    }
}
