//! The hash index: open-addressing tables of 8-byte slots, one table per shard.
//!
//! A slot packs 9 bits of the key's hash (the tag, to skip most key comparisons without
//! touching the heap), the *active* bit (the item was read since it was linked here: what
//! eviction keeps), the item's last access (16 bits, seconds since its segment opened, see
//! `layout::encode_access`) and its heap byte offset plus one (38 bits: 256 GiB):
//!
//! ```text
//! 63..55 tag | 54 active | 53..38 last access | 37..0 heap offset + 1
//! ```
//! Empty is 0 (no item has offset field 0), a deleted slot is all ones in the offset
//! field and zeros elsewhere (a tombstone, so lookups keep probing past it; an item there
//! would start 2 bytes before the end of a 256 GiB heap, and none is that small).
//!
//! Slots are atomics: a reader holding the shard's read lock raises the access field and
//! sets the active bit (`mark_read`, a compare-exchange that never lowers the one nor
//! clears the other); tag and offset change only under the write lock. A slot written for
//! an item (`insert`, `replace`) starts inactive: a new item, or an item eviction just
//! copied forward, must be read again to count as read.

use std::sync::atomic::{AtomicU64, Ordering};

const TAG_SHIFT: u32 = 55;
/// Read since linked at this offset (see the module doc).
const ACTIVE: u64 = 1 << 54;
const ACCESS_SHIFT: u32 = 38;
const OFF_MASK: u64 = (1 << ACCESS_SHIFT) - 1;
const ACCESS_MASK: u64 = 0xffff << ACCESS_SHIFT;
const EMPTY: u64 = 0;
const TOMBSTONE: u64 = OFF_MASK;
const MIN_CAPACITY: usize = 256;
/// Largest heap the slots can address.
pub(crate) const HEAP_MAX: usize = 1 << ACCESS_SHIFT;

/// Number of shards is `1 << SHARD_BITS`; the top bits of the hash pick the shard.
pub(crate) const SHARD_BITS: u32 = 8;

pub(crate) fn shard_of(h: u64) -> usize {
    (h >> (64 - SHARD_BITS)) as usize
}

fn tag(h: u64) -> u64 {
    (h >> 41) & 0x1ff
}

fn slot(h: u64, heap_off: usize, access: u16) -> u64 {
    debug_assert!((heap_off as u64) < OFF_MASK - 1);
    tag(h) << TAG_SHIFT | u64::from(access) << ACCESS_SHIFT | (heap_off as u64 + 1)
}

fn heap_off(s: u64) -> usize {
    ((s & OFF_MASK) - 1) as usize
}

fn access(s: u64) -> u16 {
    ((s & ACCESS_MASK) >> ACCESS_SHIFT) as u16
}

fn active(s: u64) -> bool {
    s & ACTIVE != 0
}

fn occupied(s: u64) -> bool {
    s != EMPTY && s != TOMBSTONE
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
    slots: Box<[AtomicU64]>,
    /// Occupied slots plus tombstones: what decides when to rebuild.
    used: usize,
    /// Linked items in this shard (memcached's curr_items).
    pub(crate) items: usize,
    /// Heap bytes of those items.
    pub(crate) bytes: usize,
}

fn empty_slots(n: usize) -> Vec<u64> {
    vec![EMPTY; n]
}

fn into_atomic(v: Vec<u64>) -> Box<[AtomicU64]> {
    // Same size and alignment: collected in place, without a second allocation.
    v.into_iter().map(AtomicU64::new).collect()
}

impl Table {
    pub(crate) fn new() -> Table {
        Table {
            slots: into_atomic(empty_slots(MIN_CAPACITY)),
            used: 0,
            items: 0,
            bytes: 0,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn load(&self, pos: usize) -> u64 {
        // Relaxed: tag and offset change only under the write lock, which orders them with
        // this reader's lock; the access field is a hint raised by racing readers.
        self.slots[pos].load(Ordering::Relaxed)
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
            let s = self.load(pos);
            if s == EMPTY {
                return None;
            }
            if s >> TAG_SHIFT == t && s != TOMBSTONE && is_key(heap_off(s)) {
                return Some((pos, heap_off(s)));
            }
            pos = (pos + 1) & mask;
        }
        None
    }

    /// Finds the slot pointing exactly at `off` (for unlinking a known item).
    pub(crate) fn find_at(&self, h: u64, off: usize) -> Option<usize> {
        let want = slot(h, off, 0);
        let mask = self.mask();
        let mut pos = h as usize & mask;
        for _ in 0..self.slots.len() {
            let s = self.load(pos);
            if s == EMPTY {
                return None;
            }
            if s & !(ACCESS_MASK | ACTIVE) == want {
                return Some(pos);
            }
            pos = (pos + 1) & mask;
        }
        None
    }

    /// The last-access field of an occupied slot.
    pub(crate) fn access(&self, pos: usize) -> u16 {
        access(self.load(pos))
    }

    /// The last-access field and the active bit of an occupied slot, from one load.
    #[inline]
    pub(crate) fn access_and_active(&self, pos: usize) -> (u16, bool) {
        let s = self.load(pos);
        (access(s), active(s))
    }

    /// Whether the item in an occupied slot was read since it was linked there.
    pub(crate) fn active(&self, pos: usize) -> bool {
        active(self.load(pos))
    }

    /// Raises the last-access field of an occupied slot to `a` (never lowers it). Safe
    /// under the read lock: readers race only on this field and the active bit, and each
    /// retries until the field is at least its value, so the largest wins.
    pub(crate) fn bump(&self, pos: usize, a: u16) {
        self.raise(pos, a, 0);
    }

    /// A read of the item in an occupied slot at access time `a`: raises the access field
    /// to `a` and sets the active bit, in one compare-exchange (the caller calls it only
    /// when one of them changes, so a hot item's slot is not written on every hit). Safe
    /// under the read lock, as `bump` is.
    pub(crate) fn mark_read(&self, pos: usize, a: u16) {
        self.raise(pos, a, ACTIVE);
    }

    fn raise(&self, pos: usize, a: u16, set: u64) {
        let slot = &self.slots[pos];
        let mut cur = slot.load(Ordering::Relaxed);
        while access(cur) < a || cur & set != set {
            let new = (cur & !ACCESS_MASK) | set | u64::from(a.max(access(cur))) << ACCESS_SHIFT;
            match slot.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => cur = seen,
            }
        }
    }

    /// Points an existing slot at a new item of the same key (or a copy of the item),
    /// inactive: it has not been read there yet.
    pub(crate) fn replace(&mut self, pos: usize, h: u64, off: usize, access: u16) {
        *self.slots[pos].get_mut() = slot(h, off, access);
    }

    /// Sets the active bit of an occupied slot (under the write lock: compaction moving an
    /// item keeps what it knew of its reads).
    pub(crate) fn set_active(&mut self, pos: usize) {
        *self.slots[pos].get_mut() |= ACTIVE;
    }

    pub(crate) fn remove(&mut self, pos: usize) {
        *self.slots[pos].get_mut() = TOMBSTONE;
    }

    /// Adds a key known to be absent, inactive. `rehash` gives the hash of the item at a
    /// heap offset, needed when the table is rebuilt (slots keep only 9 bits of it).
    pub(crate) fn insert(
        &mut self,
        h: u64,
        off: usize,
        access: u16,
        rehash: impl Fn(usize) -> u64,
    ) {
        if (self.used + 1) * 4 > self.slots.len() * 3 {
            self.rebuild(&rehash);
        }
        let mask = self.mask();
        let mut pos = h as usize & mask;
        loop {
            let s = self.slots[pos].get_mut();
            if !occupied(*s) {
                if *s == EMPTY {
                    self.used += 1;
                }
                *s = slot(h, off, access);
                return;
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Rebuilds without tombstones, doubling when more than half full of live entries.
    fn rebuild(&mut self, rehash: &impl Fn(usize) -> u64) {
        let live: Vec<u64> = self
            .slots
            .iter_mut()
            .map(|s| *s.get_mut())
            .filter(|&s| occupied(s))
            .collect();
        let mut cap = self.slots.len().max(MIN_CAPACITY);
        while live.len() * 2 >= cap {
            cap *= 2;
        }
        let mut slots = empty_slots(cap);
        self.used = live.len();
        let mask = cap - 1;
        for s in live {
            let h = rehash(heap_off(s));
            let mut pos = h as usize & mask;
            while slots[pos] != EMPTY {
                pos = (pos + 1) & mask;
            }
            slots[pos] = s;
        }
        self.slots = into_atomic(slots);
    }

    /// The heap offset of the item in slot `pos`, if one is linked there.
    pub(crate) fn occupant(&self, pos: usize) -> Option<usize> {
        let s = self.load(pos);
        occupied(s).then(|| heap_off(s))
    }

    /// Bytes the slot array occupies.
    pub(crate) fn footprint(&self) -> usize {
        self.slots.len() * 8
    }

    /// The slots as they are, for the restart data (`from_raw` takes them back).
    pub(crate) fn raw(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.slots.len()).map(|pos| self.load(pos))
    }

    /// Slots in the table.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// A table from slots that `raw` gave, checked: a power-of-two size, `items` occupied
    /// slots, at least a quarter empty (so every probe ends), and every item's heap offset
    /// accepted by `offset_ok`. On failure, what is wrong.
    pub(crate) fn from_raw(
        slots: Vec<u64>,
        items: usize,
        bytes: usize,
        mut offset_ok: impl FnMut(usize) -> bool,
    ) -> Result<Table, String> {
        let cap = slots.len();
        if cap < MIN_CAPACITY || !cap.is_power_of_two() {
            return Err(format!("{cap} slots is not a table size"));
        }
        let mut used = 0;
        let mut occupied_n = 0;
        for &s in &slots {
            if s == EMPTY {
                continue;
            }
            used += 1;
            if occupied(s) {
                occupied_n += 1;
                let off = s & OFF_MASK;
                // Offset field 0 is never written (offsets are stored plus one).
                if off == 0 || !offset_ok(heap_off(s)) {
                    return Err(format!(
                        "a slot points at heap offset {}",
                        off.wrapping_sub(1)
                    ));
                }
            }
        }
        if occupied_n != items {
            return Err(format!("{occupied_n} items in the slots, {items} counted"));
        }
        if used * 4 > cap * 3 {
            return Err(format!("{used} of {cap} slots used"));
        }
        Ok(Table {
            slots: into_atomic(slots),
            used,
            items,
            bytes,
        })
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
            // Byte offsets, 0 included: items are byte-packed.
            let off = i * 7;
            heap.insert(off, k.clone());
            let h = hash(seed, &k);
            assert!(t.find(h, |o| heap[&o] == k).is_none());
            t.insert(h, off, (i * 13) as u16, |o| hash(seed, &heap[&o]));
        }
        for i in (0..10_000usize).step_by(2) {
            let k = format!("key{i}").into_bytes();
            let h = hash(seed, &k);
            let (pos, off) = t.find(h, |o| heap[&o] == k).expect("present");
            assert_eq!(off, i * 7);
            assert_eq!(t.access(pos), (i * 13) as u16, "survives rebuilds");
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
            t.insert(hash(seed, &k), i * 7, 0, |o| hash(seed, &heap[&o]));
        }
        assert!(t.footprint() <= 32_768 * 8);
    }

    #[test]
    fn slots_keep_tag_access_and_offset_apart() {
        for off in [0, 1, 4095, HEAP_MAX - 8] {
            for a in [0u16, 1, 0x7fff, 0x8000, u16::MAX] {
                for h in [0u64, u64::MAX, 0x1234_5678_9abc_def0] {
                    let s = slot(h, off, a);
                    assert!(occupied(s), "{off} {a} {h:x}");
                    assert_eq!(heap_off(s), off);
                    assert_eq!(access(s), a);
                    assert_eq!(s >> TAG_SHIFT, tag(h));
                    assert!(!active(s), "a new slot starts inactive");
                    let s = s | ACTIVE;
                    assert!(occupied(s) && active(s));
                    assert_eq!((heap_off(s), access(s)), (off, a));
                    assert_eq!(s >> TAG_SHIFT, tag(h));
                }
            }
        }
    }

    #[test]
    fn bump_only_raises_access_and_find_at_ignores_it() {
        let mut t = Table::new();
        let h = hash(1, b"k");
        t.insert(h, 100, 5, |_| h);
        let pos = t.find_at(h, 100).unwrap();
        t.bump(pos, 3);
        assert_eq!(t.access(pos), 5);
        t.bump(pos, 9);
        assert_eq!(t.access(pos), 9);
        assert_eq!(t.find_at(h, 100), Some(pos));
        assert_eq!(t.find(h, |o| o == 100), Some((pos, 100)));
        t.replace(pos, h, 200, 1);
        assert_eq!(t.find_at(h, 100), None);
        assert_eq!((t.find_at(h, 200), t.access(pos)), (Some(pos), 1));
    }

    #[test]
    fn mark_read_sets_active_and_raises_access_and_replace_clears_it() {
        let mut t = Table::new();
        let h = hash(1, b"k");
        t.insert(h, 100, 5, |_| h);
        let pos = t.find_at(h, 100).unwrap();
        assert_eq!(t.access_and_active(pos), (5, false), "inserted inactive");
        // A read in the same second still marks the item active.
        t.mark_read(pos, 5);
        assert_eq!(t.access_and_active(pos), (5, true));
        // An older access time never lowers the field; bump keeps the bit.
        t.mark_read(pos, 2);
        t.bump(pos, 7);
        assert_eq!(t.access_and_active(pos), (7, true));
        // Lookups ignore the bit.
        assert_eq!(t.find_at(h, 100), Some(pos));
        assert_eq!(t.find(h, |o| o == 100), Some((pos, 100)));
        // Active survives a rebuild (slots move as they are).
        for i in 0..1000usize {
            let k = i.to_le_bytes();
            t.insert(hash(1, &k), 1000 + i, 0, |o| {
                if o == 100 {
                    h
                } else {
                    hash(1, &(o - 1000).to_le_bytes())
                }
            });
        }
        let pos = t.find_at(h, 100).unwrap();
        assert!(t.active(pos));
        // A copy (or a new item) linked in its place starts inactive.
        t.replace(pos, h, 300, 7);
        assert_eq!(t.access_and_active(pos), (7, false));
        t.set_active(pos);
        assert_eq!(t.access_and_active(pos), (7, true));
    }

    #[test]
    fn raw_slots_come_back_checked() {
        let mut t = Table::new();
        for i in 0..1000usize {
            t.insert(hash(3, &i.to_le_bytes()), i * 10, i as u16, |o| {
                hash(3, &(o / 10).to_le_bytes())
            });
        }
        // The store keeps the gauges; here they are set by hand.
        t.items = 999;
        t.bytes = 12_345;
        let pos = t.find_at(hash(3, &7usize.to_le_bytes()), 70).unwrap();
        t.remove(pos);
        let raw: Vec<u64> = t.raw().collect();
        assert_eq!(raw.len(), t.capacity());
        let back = Table::from_raw(raw.clone(), t.items, t.bytes, |o| o % 10 == 0).unwrap();
        assert_eq!((back.used, back.items, back.bytes), (t.used, 999, 12_345));
        let k = 8usize.to_le_bytes();
        assert_eq!(
            back.find(hash(3, &k), |o| o == 80).map(|(_, o)| o),
            Some(80)
        );
        assert!(back
            .find(hash(3, &7usize.to_le_bytes()), |o| o == 70)
            .is_none());
        // Every check bites.
        assert!(
            Table::from_raw(raw.clone(), 1000, 0, |_| true).is_err(),
            "item count"
        );
        assert!(
            Table::from_raw(raw.clone(), 999, 0, |o| o != 80).is_err(),
            "offset"
        );
        assert!(
            Table::from_raw(raw[..100].to_vec(), 0, 0, |_| true).is_err(),
            "size"
        );
        let full = vec![slot(1, 1, 0); MIN_CAPACITY];
        assert!(
            Table::from_raw(full, MIN_CAPACITY, 0, |_| true).is_err(),
            "no empty slot"
        );
        let mut zero = vec![EMPTY; MIN_CAPACITY];
        zero[3] = 5 << TAG_SHIFT;
        assert!(
            Table::from_raw(zero, 1, 0, |_| true).is_err(),
            "offset field 0"
        );
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
