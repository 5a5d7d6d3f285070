//! Group sizing, bitmaps, group descriptors and the superblock, computed
//! after everything else is placed (spec §6.7, §6.8).

pub const BLOCK_SIZE: u32 = 4096;
pub const BLOCKS_PER_GROUP: u32 = 32768;
const INODES_PER_BLOCK: u32 = BLOCK_SIZE / 256;
const MAX_INODES_PER_GROUP: u32 = BLOCK_SIZE * 8;
const DESCRIPTORS_PER_BLOCK: u32 = BLOCK_SIZE / 32;
pub const FIRST_INODE: u32 = 11;

/// Blocks reserved for group descriptors for a given maximum disk size.
pub fn gd_blocks(max_disk_size: u64) -> u32 {
    let max_blocks = (max_disk_size - 1) / u64::from(BLOCK_SIZE) + 1;
    let max_groups = (max_blocks - 1) / u64::from(BLOCKS_PER_GROUP) + 1;
    ((max_groups - 1) / u64::from(DESCRIPTORS_PER_BLOCK) + 1) as u32
}

fn group_count(blocks: u32, inodes: u32, ipg: u32) -> u64 {
    let data_per_group = u64::from(BLOCKS_PER_GROUP - ipg / INODES_PER_BLOCK - 2);
    let min_blocks = u64::from((inodes - 1) / ipg) * data_per_group + 1;
    let blocks = u64::from(blocks).max(min_blocks);
    blocks.div_ceil(data_per_group)
}

/// The smallest group count for `blocks` used blocks and `inodes` inode
/// slots; ties go to the fewest inodes per group.
pub fn best_group_count(blocks: u32, inodes: u32) -> (u32, u32) {
    let mut best = (u64::MAX, 0);
    let mut ipg = INODES_PER_BLOCK;
    while ipg <= MAX_INODES_PER_GROUP {
        let g = group_count(blocks, inodes, ipg);
        if g < best.0 {
            best = (g, ipg);
        }
        ipg += INODES_PER_BLOCK;
    }
    (best.0 as u32, best.1)
}

/// Everything after the inode table, derived from the placement.
pub struct Tail {
    pub groups: u32,
    pub inodes_per_group: u32,
    /// Image size in blocks.
    pub disk_blocks: u32,
    /// Block bitmap then inode bitmap, per group.
    pub bitmap_blocks: Vec<u8>,
    pub descriptors: Vec<u8>,
    pub superblock: [u8; 4096],
}

/// Inputs to [`tail`]: where the inode table starts, the inode slots, and
/// per slot whether it is used and whether it is a directory.
pub struct Usage<'a> {
    pub inode_table: u32,
    pub gd_blocks: u32,
    pub inodes: &'a [(bool, bool)],
}

/// The group descriptors needed exceed the reserved blocks.
#[derive(Debug, PartialEq, Eq)]
pub struct OutOfDescriptorSpace;

pub fn tail(u: &Usage) -> Result<Tail, OutOfDescriptorSpace> {
    let inode_slots = u.inodes.len() as u32;
    let (groups, ipg) = best_group_count(u.inode_table, inode_slots);
    let table_blocks_per_group = ipg / INODES_PER_BLOCK;
    let bitmaps = u.inode_table + groups * table_blocks_per_group;
    let valid = u64::from(bitmaps) + 2 * u64::from(groups);
    let disk = valid.max(u64::from(groups - 1) * u64::from(BLOCKS_PER_GROUP) + 1);
    let used_gd = (groups - 1) / DESCRIPTORS_PER_BLOCK + 1;
    if used_gd > u.gd_blocks || disk > u64::from(u32::MAX) {
        return Err(OutOfDescriptorSpace);
    }
    let bpg = u64::from(BLOCKS_PER_GROUP);
    let mut bitmap_blocks = vec![0u8; (2 * groups * BLOCK_SIZE) as usize];
    let mut descriptors = vec![0u8; (u.gd_blocks * BLOCK_SIZE) as usize];
    let (mut used_blocks_total, mut used_inodes_total) = (0u64, 0u64);
    for g in 0..groups {
        let gb =
            &mut bitmap_blocks[(2 * g * BLOCK_SIZE) as usize..(2 * (g + 1) * BLOCK_SIZE) as usize];
        let (block_bm, inode_bm) = gb.split_at_mut(BLOCK_SIZE as usize);
        let g64 = u64::from(g);
        let set = |bm: &mut [u8], j: u64, on: bool| {
            let (byte, bit) = ((j / 8) as usize, j % 8);
            if on {
                bm[byte] |= 1 << bit;
            } else {
                bm[byte] &= !(1 << bit);
            }
        };
        if (g64 + 1) * bpg <= valid {
            block_bm.fill(0xff);
        } else if g64 * bpg < valid {
            for j in 0..valid - g64 * bpg {
                set(block_bm, j, true);
            }
        }
        if g == 0 {
            for j in 1 + used_gd..1 + u.gd_blocks {
                set(block_bm, u64::from(j), false);
            }
        }
        if g == groups - 1 && disk % bpg != 0 {
            for j in disk % bpg..bpg {
                set(block_bm, j, true);
            }
        }
        let mut used_inodes = 0u32;
        let mut dirs = 0u32;
        for j in 0..ipg {
            let ino = 1 + g * ipg + j;
            let (used, dir) = u
                .inodes
                .get(ino as usize - 1)
                .copied()
                .unwrap_or((false, false));
            if ino < FIRST_INODE || used {
                set(inode_bm, u64::from(j), true);
                used_inodes += 1;
            }
            if used && dir {
                dirs += 1;
            }
        }
        let used_blocks: u32 = block_bm.iter().map(|b| b.count_ones()).sum();
        let d = &mut descriptors[(32 * g) as usize..(32 * (g + 1)) as usize];
        d[0..4].copy_from_slice(&(bitmaps + 2 * g).to_le_bytes());
        d[4..8].copy_from_slice(&(bitmaps + 2 * g + 1).to_le_bytes());
        d[8..12].copy_from_slice(&(u.inode_table + g * table_blocks_per_group).to_le_bytes());
        d[12..14].copy_from_slice(&((BLOCKS_PER_GROUP - used_blocks) as u16).to_le_bytes());
        d[14..16].copy_from_slice(&((ipg - used_inodes) as u16).to_le_bytes());
        d[16..18].copy_from_slice(&(dirs as u16).to_le_bytes());
        used_blocks_total += u64::from(used_blocks);
        used_inodes_total += u64::from(used_inodes);
    }
    let superblock = superblock(SuperInputs {
        inodes: groups * ipg,
        blocks: disk as u32,
        free_blocks: (u64::from(BLOCKS_PER_GROUP) * u64::from(groups) - used_blocks_total) as u32,
        free_inodes: (u64::from(groups * ipg) - used_inodes_total) as u32,
        inodes_per_group: ipg,
    });
    Ok(Tail {
        groups,
        inodes_per_group: ipg,
        disk_blocks: disk as u32,
        bitmap_blocks,
        descriptors,
        superblock,
    })
}

struct SuperInputs {
    inodes: u32,
    blocks: u32,
    free_blocks: u32,
    free_inodes: u32,
    inodes_per_group: u32,
}

/// Block 0: 1024 zero bytes, then the superblock's non-zero fields.
fn superblock(s: SuperInputs) -> [u8; 4096] {
    let mut blk = [0u8; 4096];
    let sb = &mut blk[1024..2048];
    let mut p32 = |at: usize, v: u32| sb[at..at + 4].copy_from_slice(&v.to_le_bytes());
    p32(0x00, s.inodes);
    p32(0x04, s.blocks);
    p32(0x0C, s.free_blocks);
    p32(0x10, s.free_inodes);
    p32(0x18, 2); // log block size: 1024 << 2
    p32(0x1C, 2); // log cluster size
    p32(0x20, BLOCKS_PER_GROUP);
    p32(0x24, BLOCKS_PER_GROUP);
    p32(0x28, s.inodes_per_group);
    p32(0x4C, 1); // dynamic revision
    p32(0x54, FIRST_INODE);
    p32(0x5C, 0x208); // compat: ext_attr, sparse_super2
    p32(0x60, 0x242); // incompat: filetype, extents, flex_bg
    p32(0x64, 0x104A); // ro_compat: large_file, huge_file, extra_isize, readonly
    p32(0x268, FIRST_INODE); // lost+found
    let mut p16 = |at: usize, v: u16| sb[at..at + 2].copy_from_slice(&v.to_le_bytes());
    p16(0x38, 0xEF53);
    p16(0x3A, 1); // clean
    p16(0x3C, 1); // errors: continue
    p16(0x58, 256); // inode size
    p16(0x15C, 24);
    p16(0x15E, 24);
    sb[0x174] = 31; // log groups per flex
    blk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_sizes() {
        assert_eq!(gd_blocks(128 << 30), 8);
        assert_eq!(gd_blocks(16 << 30), 1);
    }

    #[test]
    fn group_sizing_examples() {
        // Spec §6.7: basic (I=41) gives 48 inodes per group in one group;
        // bigdir (5313 inodes) 5328.
        assert_eq!(best_group_count(312, 41), (1, 48));
        assert_eq!(best_group_count(5000, 5313).1, 5328);
    }
}
