//! Linear directory blocks (spec §6.9).

const BLOCK: usize = 4096;

/// Encodes entries into whole 4096-byte blocks.
pub struct DirEncoder {
    out: Vec<u8>,
    left: usize,
}

impl Default for DirEncoder {
    fn default() -> Self {
        DirEncoder {
            out: Vec::new(),
            left: BLOCK,
        }
    }
}

impl DirEncoder {
    pub fn entry(&mut self, inode: u32, file_type: u8, name: &[u8]) {
        let rec_len = (8 + name.len() + 3) & !3;
        // Keep room for a closing filler entry (12 bytes) in every block.
        if self.left < rec_len + 12 {
            self.close_block();
        }
        self.out.extend_from_slice(&inode.to_le_bytes());
        self.out.extend_from_slice(&(rec_len as u16).to_le_bytes());
        self.out.push(name.len() as u8);
        self.out.push(file_type);
        self.out.extend_from_slice(name);
        self.out
            .resize(self.out.len() + rec_len - 8 - name.len(), 0);
        self.left -= rec_len;
    }

    /// An empty entry spanning the rest of the block, then zeros.
    fn close_block(&mut self) {
        if self.left > 0 {
            self.out.extend_from_slice(&0u32.to_le_bytes());
            self.out
                .extend_from_slice(&(self.left as u16).to_le_bytes());
            self.out.resize(self.out.len() + self.left - 6, 0);
        }
        self.left = BLOCK;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.close_block();
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_entries_then_filler() {
        let mut d = DirEncoder::default();
        d.entry(2, 2, b".");
        d.entry(2, 2, b"..");
        let b = d.finish();
        assert_eq!(b.len(), 4096);
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 12);
        assert_eq!(u16::from_le_bytes([b[16], b[17]]), 12);
        // Filler at 24: inode 0, rec_len = the rest.
        assert_eq!(&b[24..28], &[0; 4]);
        assert_eq!(u16::from_le_bytes([b[28], b[29]]) as usize, 4096 - 24);
    }

    #[test]
    fn entries_spill_into_a_new_block() {
        let mut d = DirEncoder::default();
        for i in 0..20u32 {
            d.entry(i + 11, 1, &[b'n'; 255]);
        }
        let b = d.finish();
        assert_eq!(b.len() % 4096, 0);
        assert!(b.len() >= 8192);
    }
}
