//! ext4 timestamps as compactext4 stores them (spec §6.4): one u64 whose low
//! 32 bits go in the base field and high 32 bits in `*_extra`.

use crate::tar::Timestamp;

/// Encode a time; `None` (Go's zero time) is 0. Out-of-range seconds clamp.
pub fn encode(t: Option<Timestamp>) -> u64 {
    let Some(t) = t else { return 0 };
    if t.secs < -0x8000_0000 {
        return 0x8000_0000;
    }
    if t.secs > 0x3_7fff_ffff {
        return 0x3_7fff_ffff;
    }
    (t.secs as u64) | (u64::from(t.nanos) << 34)
}

/// Decode a stored time the way compactext4 reads it back when it copies
/// attributes (implicit parents, opaque whiteouts). Lossy by design.
pub fn decode(raw: u64) -> Option<Timestamp> {
    if raw == 0 {
        return None;
    }
    let mut secs = (raw & 0x3_ffff_ffff) as i64;
    if secs > 0x7fff_ffff && secs < 0x1_0000_0000 {
        secs = i64::from(secs as u32 as i32);
    }
    let nanos = (raw >> 34) as i64;
    // Go's time.Unix normalises nanoseconds beyond one second.
    secs += nanos / 1_000_000_000;
    let nanos = (nanos % 1_000_000_000) as u32;
    Some(Timestamp { secs, nanos })
}

/// The decode→encode round trip applied to copied times.
pub fn round_trip(raw: u64) -> u64 {
    encode(decode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64, nanos: u32) -> Option<Timestamp> {
        Some(Timestamp { secs, nanos })
    }

    #[test]
    fn encoding_quirks() {
        assert_eq!(encode(None), 0);
        assert_eq!(encode(ts(0, 0)), 0);
        // -1 s: all ones in both fields (ffffffff:ffffffff).
        assert_eq!(encode(ts(-1, 0)), u64::MAX);
        assert_eq!(encode(ts(-2_147_483_649, 0)), 0x8000_0000);
        assert_eq!(
            encode(ts(4_102_444_800, 0)) & 0xffff_ffff,
            4_102_444_800 & 0xffff_ffff
        );
        assert_eq!(
            encode(ts(1_700_000_000, 123_456_789)),
            1_700_000_000 | (123_456_789 << 34)
        );
    }

    #[test]
    fn lossy_round_trips() {
        // A 2038 mtime of 80000000:00000000 comes back as 80000000:ffffffff.
        assert_eq!(round_trip(0x8000_0000), 0xffff_ffff_8000_0000);
        // -1 (ffffffff:ffffffff) becomes 7fffffff:00000003.
        assert_eq!(round_trip(u64::MAX), 0x3_7fff_ffff);
        // atime f4865700:77359400 → f4865700:ffffffff.
        assert_eq!(round_trip(0x7735_9400_f486_5700), 0xffff_ffff_f486_5700);
        // Ordinary times survive.
        let t = 1_700_000_000u64 | (5u64 << 34);
        assert_eq!(round_trip(t), t);
    }
}
