//! The hash index: open-addressing tables of 8-byte slots, one table per shard.
//!
//! A slot packs 16 bits of the key's hash (the tag, to skip most key comparisons without
//! touching the heap), an occupied bit and the item's heap offset in 4-byte units (47 bits):
//!
//! ```text
//! 63..48 tag | 47 occupied | 46..0 heap offset / 4
//! ```
//! Empty is 0, a deleted slot is 1 (a tombstone, so lookups keep probing past it).

const EMPTY: u64 = 0;
const TOMBSTONE: u64 = 1;
const OCCUPIED: u64 = 1 << 47;
const LOC_MASK: u64 = OCCUPIED - 1;
const MIN_CAPACITY: usize = 256;

/// Number of shards is `1 << SHARD_BITS`; the top bits of the hash pick the shard.
pub(crate) const SHARD_BITS: u32 = 8;

pub(crate) fn shard_of(h: u64) -> usize {
    (h >> (64 - SHARD_BITS)) as usize
}

fn tag(h: u64) -> u64 {
    (h >> 40) & 0xffff
}

fn slot(h: u64, heap_off: usize) -> u64 {
    debug_assert!(heap_off & 3 == 0 && (heap_off as u64 / 4) <= LOC_MASK);
    tag(h) << 48 | OCCUPIED | (heap_off as u64 / 4)
}

fn heap_off(s: u64) -> usize {
    ((s & LOC_MASK) * 4) as usize
}

fn occupied(s: u64) -> bool {
    s & OCCUPIED != 0
}

/// A keyed 64-bit hash: 8 bytes per round, then a full avalanche. The seed is random per
/// store so clients cannot aim many keys at one shard or probe chain.
pub(crate) fn hash(seed: u64, key: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(K);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ v).wrapping_mul(K).rotate_left(31);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(K).rotate_left(31);
    }
    // murmur3's finaliser
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// One shard's table, plus the gauges that change with it (guarded by the same lock).
pub(crate) struct Table {
    slots: Vec<u64>,
    /// Occupied slots plus tombstones: what decides when to rebuild.
    used: usize,
    /// Linked items in this shard (memcached's curr_items).
    pub(crate) items: usize,
    /// Heap bytes of those items.
    pub(crate) bytes: usize,
}

impl Table {
    pub(crate) fn new() -> Table {
        Table {
            slots: vec![EMPTY; MIN_CAPACITY],
            used: 0,
            items: 0,
            bytes: 0,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Finds the slot whose item satisfies `is_key`, testing only slots with the same tag.
    /// Returns the slot position and the item's heap offset.
    pub(crate) fn find(
        &self,
        h: u64,
        mut is_key: impl FnMut(usize) -> bool,
    ) -> Option<(usize, usize)> {
        let mask = self.mask();
        let mut pos = h as usize & mask;
        let t = tag(h);
        // Bounded by the table size: a rebuild keeps at least a quarter of the slots empty.
        for _ in 0..self.slots.len() {
            let s = self.slots[pos];
            if s == EMPTY {
                return None;
            }
            if occupied(s) && s >> 48 == t && is_key(heap_off(s)) {
                return Some((pos, heap_off(s)));
            }
            pos = (pos + 1) & mask;
        }
        None
    }

    /// Finds the slot pointing exactly at `off` (for unlinking a known item).
    pub(crate) fn find_at(&self, h: u64, off: usize) -> Option<usize> {
        let want = slot(h, off);
        let mask = self.mask();
        let mut pos = h as usize & mask;
        for _ in 0..self.slots.len() {
            let s = self.slots[pos];
            if s == EMPTY {
                return None;
            }
            if s == want {
                return Some(pos);
            }
            pos = (pos + 1) & mask;
        }
        None
    }

    /// Points an existing slot at a new item of the same key.
    pub(crate) fn replace(&mut self, pos: usize, h: u64, off: usize) {
        self.slots[pos] = slot(h, off);
    }

    pub(crate) fn remove(&mut self, pos: usize) {
        self.slots[pos] = TOMBSTONE;
    }

    /// Adds a key known to be absent. `rehash` gives the hash of the item at a heap offset,
    /// needed when the table is rebuilt (slots keep only 16 bits of it).
    pub(crate) fn insert(&mut self, h: u64, off: usize, rehash: impl Fn(usize) -> u64) {
        if (self.used + 1) * 4 > self.slots.len() * 3 {
            self.rebuild(&rehash);
        }
        let mask = self.mask();
        let mut pos = h as usize & mask;
        loop {
            let s = self.slots[pos];
            if !occupied(s) {
                if s == EMPTY {
                    self.used += 1;
                }
                self.slots[pos] = slot(h, off);
                return;
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Rebuilds without tombstones, doubling when more than half full of live entries.
    fn rebuild(&mut self, rehash: &impl Fn(usize) -> u64) {
        let live: Vec<u64> = self
            .slots
            .iter()
            .copied()
            .filter(|&s| occupied(s))
            .collect();
        let mut cap = self.slots.len().max(MIN_CAPACITY);
        while live.len() * 2 >= cap {
            cap *= 2;
        }
        self.slots = vec![EMPTY; cap];
        self.used = live.len();
        let mask = cap - 1;
        for s in live {
            let h = rehash(heap_off(s));
            let mut pos = h as usize & mask;
            while self.slots[pos] != EMPTY {
                pos = (pos + 1) & mask;
            }
            self.slots[pos] = s;
        }
    }

    /// Bytes the slot array occupies.
    pub(crate) fn footprint(&self) -> usize {
        self.slots.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn insert_find_remove_grow() {
        // Offsets stand in for items; the "heap" maps offset -> key.
        let seed = 42;
        let mut heap: HashMap<usize, Vec<u8>> = HashMap::new();
        let mut t = Table::new();
        for i in 0..10_000usize {
            let k = format!("key{i}").into_bytes();
            let off = i * 4;
            heap.insert(off, k.clone());
            let h = hash(seed, &k);
            assert!(t.find(h, |o| heap[&o] == k).is_none());
            t.insert(h, off, |o| hash(seed, &heap[&o]));
        }
        for i in (0..10_000usize).step_by(2) {
            let k = format!("key{i}").into_bytes();
            let h = hash(seed, &k);
            let (pos, off) = t.find(h, |o| heap[&o] == k).expect("present");
            assert_eq!(off, i * 4);
            assert_eq!(t.find_at(h, off), Some(pos));
            t.remove(pos);
        }
        for i in 0..10_000usize {
            let k = format!("key{i}").into_bytes();
            let h = hash(seed, &k);
            assert_eq!(t.find(h, |o| heap[&o] == k).is_some(), i % 2 == 1, "{i}");
        }
        // Reinserting over tombstones keeps working and rebuilds stay bounded.
        for i in (0..10_000usize).step_by(2) {
            let k = format!("key{i}").into_bytes();
            t.insert(hash(seed, &k), i * 4, |o| hash(seed, &heap[&o]));
        }
        assert!(t.footprint() <= 32_768 * 8);
    }

    #[test]
    fn hash_spreads_shards() {
        let mut seen = vec![0u32; 1 << SHARD_BITS];
        for i in 0..100_000 {
            seen[shard_of(hash(7, format!("memtier-{i}").as_bytes()))] += 1;
        }
        let (min, max) = (seen.iter().min().unwrap(), seen.iter().max().unwrap());
        assert!(*min > 250 && *max < 550, "{min}..{max}");
    }
}
