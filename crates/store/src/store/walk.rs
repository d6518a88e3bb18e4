//! Walking every live item, for key dumps (`lru_crawler metadump`, `stats cachedump`):
//! shard by shard through the index, at most [`SLOTS_PER_LOCK`] slots per hold of a
//! shard's read lock, so a dump of millions of keys never makes a writer wait longer than
//! one short scan, and readers never wait at all.
//!
//! The walk sees each item linked for its whole duration once. An item stored, deleted or
//! moved while the walk runs may be seen once, twice (a table rebuilt under it moves
//! slots) or not at all, as memcached's crawler may miss or repeat what changes under it.

use super::Store;
use crate::item::ItemRef;
use crate::layout::FETCHED;
use std::sync::atomic::Ordering;

/// Index slots scanned per hold of a shard's read lock.
pub const SLOTS_PER_LOCK: usize = 64;

impl Store {
    /// Offers `f` every live item, each pinned for the call and not marked as accessed,
    /// until `f` answers false. Returns the items offered.
    pub fn walk(&self, mut f: impl FnMut(&ItemRef<'_>) -> bool) -> usize {
        let now = self.clock.now();
        let mut batch: Vec<ItemRef<'_>> = Vec::with_capacity(SLOTS_PER_LOCK);
        let mut offered = 0;
        for (si, shard) in self.shards.iter().enumerate() {
            let mut pos = 0;
            loop {
                {
                    let t = shard.table.read();
                    let end = (pos + SLOTS_PER_LOCK).min(t.capacity());
                    if pos >= end {
                        break;
                    }
                    for p in pos..end {
                        let Some(off) = t.occupant(p) else {
                            continue;
                        };
                        if self.dead(&t, p, off, now).is_some() {
                            continue;
                        }
                        let it = self.item(off);
                        // Pinned under the shard lock, as `lookup` pins: a reclaimer
                        // unlinks under the write lock before it looks at the pins.
                        self.seg_of(off).pins.fetch_add(1, Ordering::Relaxed);
                        shard.pinned.fetch_add(1, Ordering::Relaxed);
                        batch.push(ItemRef {
                            store: self,
                            it,
                            heap_off: off,
                            shard: si,
                            now,
                            fetched_before: it.shape() & FETCHED != 0,
                            held: false,
                            access: t.access(p),
                            // SAFETY: a linked item, under its shard lock.
                            deadline: unsafe { it.deadline() },
                            // SAFETY: as above; every move of the location holds it.
                            location: unsafe { it.location() },
                        });
                    }
                    pos = end;
                }
                // Unlocked: `f` may take as long as it likes (a slow client's buffer).
                // Dropping what is left of the batch unpins it.
                for item in batch.drain(..) {
                    offered += 1;
                    if !f(&item) {
                        return offered;
                    }
                }
            }
        }
        offered
    }
}

#[cfg(test)]
mod tests {
    use crate::{Store, StoreConfig, StoreMode, StoreOutcome};
    use std::collections::BTreeSet;

    fn set(store: &Store, key: &[u8], value: &[u8], exptime: i64) {
        let mut r = store
            .reserve(key, value.len(), 0, exptime)
            .expect("reserve");
        r.value_mut().copy_from_slice(value);
        assert!(matches!(
            r.commit(StoreMode::Set),
            StoreOutcome::Stored { .. }
        ));
    }

    #[test]
    fn every_live_item_once_and_none_dead() {
        let store = Store::new(StoreConfig::default()).expect("store");
        let mut want = BTreeSet::new();
        for i in 0..2_000 {
            let key = format!("key{i}");
            set(&store, key.as_bytes(), b"v", 0);
            want.insert(key.into_bytes());
        }
        set(&store, b"gone", b"v", 0);
        assert!(store.delete(b"gone"));
        set(&store, b"expired", b"v", -1);
        let mut seen = BTreeSet::new();
        let offered = store.walk(|item| {
            assert!(seen.insert(item.key().to_vec()), "twice");
            true
        });
        assert_eq!((offered, seen), (2_000, want));
        assert_eq!(store.pinned_items(), 0, "every pin released");
    }

    #[test]
    fn stopping_early_releases_the_rest() {
        let store = Store::new(StoreConfig::default()).expect("store");
        for i in 0..500 {
            set(&store, format!("k{i}").as_bytes(), b"v", 0);
        }
        let mut n = 0;
        assert_eq!(
            store.walk(|_| {
                n += 1;
                n < 10
            }),
            10
        );
        assert_eq!(store.pinned_items(), 0);
    }
}
