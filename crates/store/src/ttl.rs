//! TTL buckets: items whose remaining lifetimes are close share segments, so a segment's
//! items die at about the same time and the whole segment can be reclaimed at once.
//!
//! Bucket 0 holds items that never expire. Then the width grows with the TTL (like Pelikan's
//! segcache): 8 s wide up to 2048 s, 128 s up to 32768 s, 2048 s up to 2^19 s, 32768 s
//! beyond (30 days and absolute times fall in the last buckets).

const STEPS: [(u64, u64); 4] = [(2048, 3), (32_768, 7), (524_288, 11), (u64::MAX, 15)];

/// Number of buckets.
pub(crate) const BUCKETS: usize = 1 + 256 + 240 + 240 + 256;
/// Open segments the store keeps: one per bucket for items holding their value, as many
/// again for external items (their value in the disk tier: `store/alloc.rs`).
pub(crate) const OPEN_BUCKETS: usize = BUCKETS * 2;

/// The bucket for an item living `ttl` more seconds (`None` = never expires).
pub(crate) fn bucket(ttl: Option<u64>) -> usize {
    let Some(ttl) = ttl else { return 0 };
    let mut base = 1usize;
    let mut lo = 0u64;
    for (hi, shift) in STEPS {
        if ttl < hi {
            let i = ((ttl - lo) >> shift) as usize;
            let width = ((hi.min(lo + (256 << shift)) - lo) >> shift) as usize;
            return base + i.min(width.saturating_sub(1));
        }
        base += ((hi - lo) >> shift) as usize;
        lo = hi;
    }
    BUCKETS - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_bounded() {
        assert_eq!(bucket(None), 0);
        assert_eq!(bucket(Some(0)), 1);
        assert_eq!(bucket(Some(7)), 1);
        assert_eq!(bucket(Some(8)), 2);
        assert_eq!(bucket(Some(2047)), 256);
        assert_eq!(bucket(Some(2048)), 257);
        let mut last = 0;
        for ttl in (0..10_000_000u64).step_by(997) {
            let b = bucket(Some(ttl));
            assert!(b >= last && b < BUCKETS, "{ttl} -> {b}");
            last = b;
        }
        assert!(bucket(Some(u64::MAX / 2)) < BUCKETS);
    }
}
