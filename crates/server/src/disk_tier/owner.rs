//! The bookkeeping between the store and the disk, both ways, with no IO on either.
//!
//! - [`Releaser`] is the store's `ColdTier`: when the store drops an external item
//!   (overwrite, delete, expiry, eviction, flush) it releases the record's bytes on its
//!   page, under the item's shard lock.
//! - [`StoreOwner`] is the disk's compaction `Owner`: for each record on a page being
//!   compacted it asks the store, under the key's shard write lock, whether the key still
//!   points there, and if so rewrites the record and re-points the item.
//!
//! Lock order, always store (shard) then disk (bucket writer, page table): the disk calls
//! the owner holding none of its locks, and the store's calls into the disk take only the
//! disk's own short locks.

use super::{record_len, RecordMeta};
use disk::{DiskHandle, Fate, Found, Location, Mover, Owner};
use store::{ColdTier, Relocated, Store};

/// Releases the disk bytes of external items the store drops.
#[derive(Debug)]
pub struct Releaser(pub DiskHandle);

impl ColdTier for Releaser {
    fn forget(&self, location: u64, key: &[u8], value_len: usize) {
        self.0.release(
            Location::from_bits(location),
            record_len(key.len(), value_len),
        );
    }
}

/// Answers the disk's compaction from the store.
#[derive(Clone, Copy)]
pub struct StoreOwner(pub &'static Store);

impl Owner for StoreOwner {
    fn compacting(&self, found: &Found<'_>, mover: &mut Mover<'_>) -> Fate {
        let record = found.record;
        // A record whose metadata is not ours cannot be a live item's.
        if RecordMeta::decode(record.meta()).is_none() {
            return Fate::Dead;
        }
        let relocated =
            self.0
                .relocate(record.key(), found.at.to_bits(), found.drop_unread, || {
                    mover.rewrite().ok().map(Location::to_bits)
                });
        match relocated {
            Relocated::Moved => Fate::Rescued,
            Relocated::Dead => Fate::Dead,
            Relocated::Dropped => Fate::Skipped,
            Relocated::Lost => Fate::Lost,
        }
    }
}
