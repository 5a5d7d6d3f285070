//! Python's `random.Random(seed).randbytes(n)` (MT19937 seeded with
//! `init_by_array`), so tests can regenerate the corpus's large layers
//! byte for byte without Python or shipping hundreds of MiB.

pub struct PyRandom {
    mt: [u32; 624],
    index: usize,
}

impl PyRandom {
    pub fn new(seed: u32) -> Self {
        let mut r = PyRandom {
            mt: [0; 624],
            index: 624,
        };
        r.init_genrand(19_650_218);
        // init_by_array with the key [seed].
        let key = [seed];
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..624usize.max(key.len()) {
            let prev = r.mt[i - 1] ^ (r.mt[i - 1] >> 30);
            r.mt[i] = (r.mt[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= 624 {
                r.mt[0] = r.mt[623];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..623 {
            let prev = r.mt[i - 1] ^ (r.mt[i - 1] >> 30);
            r.mt[i] = (r.mt[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                r.mt[0] = r.mt[623];
                i = 1;
            }
        }
        r.mt[0] = 0x8000_0000;
        r
    }

    fn init_genrand(&mut self, s: u32) {
        self.mt[0] = s;
        for i in 1..624 {
            self.mt[i] = 1_812_433_253u32
                .wrapping_mul(self.mt[i - 1] ^ (self.mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        self.index = 624;
    }

    fn twist(&mut self) {
        for i in 0..624 {
            let y = (self.mt[i] & 0x8000_0000) | (self.mt[(i + 1) % 624] & 0x7fff_ffff);
            let mut v = self.mt[(i + 397) % 624] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= 0x9908_b0df;
            }
            self.mt[i] = v;
        }
        self.index = 0;
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            self.twist();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }
}

/// A reader yielding `randbytes(n)` for `Random(seed)` in order.
pub struct RandBytes {
    rng: PyRandom,
    left: u64,
    pending: Vec<u8>,
}

impl RandBytes {
    pub fn new(seed: u32, n: u64) -> Self {
        RandBytes {
            rng: PyRandom::new(seed),
            left: n,
            pending: Vec::new(),
        }
    }
}

impl std::io::Read for RandBytes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() && (self.left > 0 || !self.pending.is_empty()) {
            if self.pending.is_empty() {
                let word = self.rng.next_u32();
                if self.left >= 4 {
                    self.pending.extend_from_slice(&word.to_le_bytes());
                    self.left -= 4;
                } else {
                    // getrandbits keeps the top bits of a partial last word.
                    let k = self.left as u32 * 8;
                    let w = word >> (32 - k);
                    self.pending
                        .extend_from_slice(&w.to_le_bytes()[..self.left as usize]);
                    self.left = 0;
                }
                self.pending.reverse();
            }
            while n < buf.len() {
                match self.pending.pop() {
                    Some(b) => {
                        buf[n] = b;
                        n += 1;
                    }
                    None => break,
                }
            }
        }
        Ok(n)
    }
}
