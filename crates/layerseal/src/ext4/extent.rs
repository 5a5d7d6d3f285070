//! Extent trees for contiguous files (spec §6.5).

pub const MAGIC: u16 = 0xF30A;
/// Longest initialised extent.
pub const MAX_LEN: u32 = 0x8000;
/// Leaf entries that fit a 4096-byte block after its header.
pub const PER_BLOCK: u32 = 4096 / 12 - 1;

fn header(out: &mut [u8], entries: u16, max: u16, depth: u16) {
    out[0..2].copy_from_slice(&MAGIC.to_le_bytes());
    out[2..4].copy_from_slice(&entries.to_le_bytes());
    out[4..6].copy_from_slice(&max.to_le_bytes());
    out[6..8].copy_from_slice(&depth.to_le_bytes());
}

/// Leaf entries for logical blocks `offset..` of a file of `blocks` blocks
/// starting at physical block `start`.
fn leaves(out: &mut [u8], count: u32, start: u32, offset: u32, blocks: u32) {
    for i in 0..count {
        let logical = offset + i * MAX_LEN;
        let len = (blocks - logical).min(MAX_LEN);
        let e = &mut out[12 * i as usize..12 * (i as usize + 1)];
        e[0..4].copy_from_slice(&logical.to_le_bytes());
        e[4..6].copy_from_slice(&(len as u16).to_le_bytes());
        e[8..12].copy_from_slice(&(start + logical).to_le_bytes());
    }
}

/// The extent tree of a file: the 60-byte in-inode root and the leaf
/// blocks (empty for depth 0) to write right after the data.
pub struct Tree {
    pub root: [u8; 60],
    pub leaf_blocks: Vec<Box<[u8; 4096]>>,
}

/// Why a file cannot be described.
#[derive(Debug, PartialEq, Eq)]
pub struct TooManyExtents(pub u32);

/// Build the tree for `blocks` blocks at `start`; leaves go at `leaf_start`.
/// More than one leaf block (files over ~42.5 GiB) is refused: upstream
/// writes a corrupt tree there.
pub fn build(start: u32, blocks: u32, leaf_start: u32) -> Result<Tree, TooManyExtents> {
    let extents = blocks.div_ceil(MAX_LEN);
    let mut root = [0u8; 60];
    let mut leaf_blocks = Vec::new();
    if extents <= 4 {
        header(&mut root, extents as u16, 4, 0);
        leaves(&mut root[12..], extents, start, 0, blocks);
        return Ok(Tree { root, leaf_blocks });
    }
    // compactext4 reserves extents/340 + 1 leaf blocks.
    let leaf_count = extents / PER_BLOCK + 1;
    if leaf_count > 1 {
        return Err(TooManyExtents(extents));
    }
    header(&mut root, leaf_count as u16, 4, 1);
    let idx = &mut root[12..24];
    idx[4..8].copy_from_slice(&leaf_start.to_le_bytes());
    let mut leaf = Box::new([0u8; 4096]);
    header(&mut leaf[..], extents as u16, PER_BLOCK as u16, 0);
    leaves(&mut leaf[12..], extents, start, 0, blocks);
    leaf_blocks.push(leaf);
    Ok(Tree { root, leaf_blocks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_file_is_one_inline_extent() {
        let t = build(9, 3, 12).unwrap();
        assert_eq!(u16::from_le_bytes([t.root[2], t.root[3]]), 1);
        assert_eq!(u16::from_le_bytes([t.root[12 + 4], t.root[12 + 5]]), 3);
        assert_eq!(u32::from_le_bytes(t.root[20..24].try_into().unwrap()), 9);
        assert!(t.leaf_blocks.is_empty());
    }

    #[test]
    fn six_hundred_mib_needs_one_leaf_block() {
        let blocks = 600 * 256;
        let t = build(100, blocks, 100 + blocks).unwrap();
        assert_eq!(u16::from_le_bytes([t.root[6], t.root[7]]), 1); // depth
        assert_eq!(
            u32::from_le_bytes(t.root[16..20].try_into().unwrap()),
            100 + blocks
        );
        let leaf = &t.leaf_blocks[0];
        assert_eq!(u16::from_le_bytes([leaf[2], leaf[3]]), 5);
        assert_eq!(u16::from_le_bytes([leaf[4], leaf[5]]), 340);
        // Fifth extent: logical 4*32768, the rest of the file.
        let e = &leaf[12 + 48..12 + 60];
        assert_eq!(u32::from_le_bytes(e[0..4].try_into().unwrap()), 4 * 32768);
        assert_eq!(u16::from_le_bytes([e[4], e[5]]) as u32, blocks - 4 * 32768);
    }

    #[test]
    fn files_needing_two_leaf_blocks_are_refused() {
        assert!(build(0, 340 * 32768, 0).is_err());
        assert!(build(0, 339 * 32768, 0).is_ok());
    }
}
