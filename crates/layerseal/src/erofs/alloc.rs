//! mkfs.erofs's block allocator, as erofs-mkfs-layout.md §5 describes it:
//! a best-fit packer for metadata (inodes, xattrs, inline tails) plus a
//! bump allocator for data, with extents mapped to block addresses in list
//! order. Reproducing it exactly is what makes block addresses and nids —
//! and so image bytes — equal to mkfs's.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Data,
    Meta,
}

#[derive(Debug, Clone)]
pub struct Extent {
    pub kind: Kind,
    pub addr: Option<u64>,
    pub fill: u64,
    stamp: u64,
    ghost: bool,
    /// Block size of the image (4096, or 512 for tar-index images).
    bs: u64,
    /// Bytes placed in a metadata extent (inodes, xattrs, tails, dir data).
    pub bytes: Vec<u8>,
}

impl Extent {
    pub fn blocks(&self) -> u64 {
        self.fill.div_ceil(self.bs)
    }
    fn key(&self) -> u64 {
        self.fill % self.bs
    }
}

/// Extent handle (index into the arena; stable while the extent lives).
pub type Id = usize;

pub struct Allocator {
    bs: u64,
    pub extents: Vec<Extent>,
    /// The list L, as ids in order.
    list: Vec<Id>,
    /// Last mapped extent.
    lm: Option<Id>,
    pub tail: u64,
    clock: u64,
    /// Dropped extents that were mapped: their addresses and bytes stay.
    pub retired: Vec<Id>,
}

fn round_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

impl Allocator {
    /// An allocator for `block_size`-byte blocks whose first extent, mapped
    /// at block 0, holds the first `reserved` bytes (1024 boot area +
    /// 128-byte superblock, + 128-byte device slot in tar-index images).
    pub fn new(block_size: u64, reserved: u64) -> Self {
        let mut a = Allocator {
            bs: block_size,
            extents: Vec::new(),
            list: Vec::new(),
            lm: None,
            tail: 0,
            clock: 0,
            retired: Vec::new(),
        };
        let sb = a.push(Kind::Meta);
        a.list.push(sb);
        a.append(sb, reserved, 1);
        a.map_through(sb);
        a
    }

    fn push(&mut self, kind: Kind) -> Id {
        self.extents.push(Extent {
            kind,
            addr: None,
            fill: 0,
            stamp: 0,
            ghost: false,
            bs: self.bs,
            bytes: Vec::new(),
        });
        self.extents.len() - 1
    }

    fn touch(&mut self, e: Id) {
        self.clock += 1;
        self.extents[e].stamp = self.clock;
    }

    fn pos(&self, e: Id) -> usize {
        self.list
            .iter()
            .position(|&x| x == e)
            .expect("extent in list")
    }

    /// Map every unmapped extent up to and including `e`, in list order.
    pub fn map_through(&mut self, e: Id) {
        if self.extents[e].addr.is_some() {
            return;
        }
        let first = self
            .list
            .iter()
            .position(|&x| self.extents[x].addr.is_none())
            .expect("unmapped extent");
        let last = self.pos(e);
        for i in first..=last {
            let x = self.list[i];
            self.extents[x].addr = Some(self.tail);
            self.tail += self.extents[x].blocks();
            self.lm = Some(x);
            self.touch(x);
        }
    }

    pub fn map_all(&mut self) {
        if let Some(&last) = self.list.last() {
            self.map_through(last);
        }
    }

    fn new_extent(&mut self, kind: Kind) -> Id {
        let e = self.push(kind);
        match kind {
            Kind::Data => {
                let at = self.lm.map_or(0, |lm| self.pos(lm) + 1);
                self.list.insert(at, e);
            }
            Kind::Meta => self.list.push(e),
        }
        e
    }

    /// Remove `e` from the list (its blocks, if mapped, stay allocated).
    pub fn drop_extent(&mut self, e: Id) {
        let i = self.pos(e);
        self.list.remove(i);
        if self.lm == Some(e) {
            self.lm = if i > 0 { Some(self.list[i - 1]) } else { None };
        }
        if self.extents[e].addr.is_some() {
            self.retired.push(e);
        }
    }

    fn fits(&self, e: Id, s: u64, align: u64, t: u64) -> Option<u64> {
        let x = &self.extents[e];
        let p = round_up(x.fill, align);
        let r = ((p + s + self.bs - 1) % self.bs) + 1;
        if r + t > self.bs {
            return None;
        }
        if p + s + t > x.blocks() * self.bs {
            let i = self.pos(e);
            if let Some(&next) = self.list.get(i + 1) {
                if self.extents[next].addr.is_some() {
                    return None;
                }
            }
            if let Some(addr) = x.addr {
                if addr + x.blocks() != self.tail {
                    return None;
                }
            }
        }
        Some(r + t)
    }

    /// Append `s` bytes at `align`; returns the start offset.
    pub fn append(&mut self, e: Id, s: u64, align: u64) -> u64 {
        let before = self.extents[e].blocks();
        let p = round_up(self.extents[e].fill, align);
        self.extents[e].fill = p + s;
        let after = self.extents[e].blocks();
        if let Some(addr) = self.extents[e].addr {
            if after > before {
                self.tail = addr + after;
            }
        }
        self.touch(e);
        p
    }

    /// `n` whole blocks of file data (`Data`) or directory data (`Meta`),
    /// mapped at once. Returns the extent.
    pub fn block_request(&mut self, kind: Kind, n: u64) -> Id {
        let e = self.new_extent(kind);
        self.append(e, n * self.bs, self.bs);
        self.map_through(e);
        e
    }

    pub fn grow(&mut self, e: Id) {
        self.append(e, self.bs, 1);
    }

    pub fn addr(&self, e: Id) -> u64 {
        self.extents[e].addr.expect("mapped extent")
    }

    /// Place `s` bytes of inode (+xattrs) followed by an inline tail of `t`
    /// bytes (§5.3). `None` when a tail cannot be inlined anywhere.
    pub fn choose(&mut self, s: u64, t: u64) -> Option<(Id, u64)> {
        let m = (s + t) % self.bs;
        let u0 = (((self.bs - m) / 32) * 32) % self.bs;
        let small = s + t < self.bs;
        let eligible =
            |a: &Allocator, x: Id| a.extents[x].kind == Kind::Meta && !a.extents[x].ghost;
        let mut best: Option<(Id, u64)> = None;
        if small {
            // Mapped pass: fullest last block among mapped extents (not LM).
            let mut pick: Option<Id> = None;
            for &x in &self.list {
                let e = &self.extents[x];
                if !eligible(self, x) || e.addr.is_none() || Some(x) == self.lm {
                    continue;
                }
                let k = e.key();
                if k >= 1 && k <= u0 {
                    let better = match pick {
                        None => true,
                        Some(p) => {
                            let pk = self.extents[p].key();
                            k > pk || (k == pk && e.stamp < self.extents[p].stamp)
                        }
                    };
                    if better {
                        pick = Some(x);
                    }
                }
            }
            if let Some(p) = pick {
                if let Some(score) = self.fits(p, s, 32, t) {
                    best = Some((p, score));
                }
            }
            // The last mapped extent may grow while it ends the image.
            if let Some(lm) = self.lm {
                if eligible(self, lm) {
                    if let Some(score) = self.fits(lm, s, 32, t) {
                        if score > best.map_or(0, |b| b.1) {
                            best = Some((lm, score));
                        }
                    }
                }
            }
        }
        // Unmapped pass, by key rank then stamp; the first that fits.
        let rank = |k: u64| -> Option<u64> {
            if small {
                if k <= u0 {
                    Some(u0 - k)
                } else if k >= u0 + 32 {
                    Some(u0 + 1 + (self.bs - 1 - k))
                } else {
                    None
                }
            } else if m != 0 {
                (k >= 1 && k <= u0).then(|| u0 - k)
            } else if k == 0 {
                Some(0)
            } else {
                Some(self.bs - k)
            }
        };
        let mut unmapped: Vec<(u64, u64, Id)> = self
            .list
            .iter()
            .filter(|&&x| eligible(self, x) && self.extents[x].addr.is_none())
            .filter_map(|&x| rank(self.extents[x].key()).map(|r| (r, self.extents[x].stamp, x)))
            .collect();
        unmapped.sort();
        if let Some((x, score)) = unmapped
            .iter()
            .find_map(|&(_, _, x)| self.fits(x, s, 32, t).map(|sc| (x, sc)))
        {
            if score > best.map_or(0, |b| b.1) {
                best = Some((x, score));
            }
        }
        if let Some((e, _)) = best {
            let p = self.append(e, s, 32);
            if t > 0 {
                self.append(e, t, 1);
            }
            return Some((e, p));
        }
        let e = self.new_extent(Kind::Meta);
        let r = ((s - 1) % self.bs) + 1;
        if r + t > self.bs {
            self.extents[e].ghost = true;
            return None;
        }
        let p = self.append(e, s, 32);
        if t > 0 {
            self.append(e, t, 1);
        }
        Some((e, p))
    }

    /// nid of the byte at `offset` of extent `e` (maps it if needed).
    pub fn nid(&mut self, e: Id, offset: u64) -> u64 {
        self.map_through(e);
        (self.addr(e) * self.bs + offset) / 32
    }

    /// Put bytes into a metadata extent at `offset`.
    pub fn write(&mut self, e: Id, offset: u64, data: &[u8]) {
        let x = &mut self.extents[e];
        let end = offset as usize + data.len();
        if x.bytes.len() < end {
            x.bytes.resize(end, 0);
        }
        x.bytes[offset as usize..end].copy_from_slice(data);
    }

    /// Every extent that holds blocks in the image, with its address.
    pub fn mapped(&self) -> Vec<Id> {
        let mut v: Vec<Id> = self
            .list
            .iter()
            .chain(self.retired.iter())
            .copied()
            .filter(|&x| self.extents[x].addr.is_some())
            .collect();
        v.sort_by_key(|&x| self.extents[x].addr);
        v.dedup();
        v
    }
}
