//! The caller-facing handles: a pinned item to read, a reservation to fill.

use crate::cold::External;
use crate::exptime;
use crate::layout::{ItemPtr, WIN};
use crate::store::{CommitOptions, Store, StoreMode, StoreOutcome};
use std::sync::atomic::Ordering;

/// A live item, pinned: its bytes stay valid (its segment is not reused) until this is
/// dropped, even if the key is overwritten, deleted or evicted meanwhile.
///
/// What can change in a linked item (its deadline, its last access) is captured at lookup,
/// under the index shard's lock: a pin alone does not make those fields safe to read.
pub struct ItemRef<'s> {
    pub(crate) store: &'s Store,
    pub(crate) it: ItemPtr,
    pub(crate) heap_off: usize,
    pub(crate) shard: usize,
    pub(crate) now: u64,
    pub(crate) fetched_before: bool,
    /// Declared long-lived with `hold`.
    pub(crate) held: bool,
    /// The slot's last-access field before this lookup (see `layout::encode_access`).
    pub(crate) access: u16,
    /// The item's deadline field (seconds since the store's epoch, 0 = never).
    pub(crate) deadline: u32,
    /// An external item's location in the cold tier, read under the shard lock at lookup
    /// (compaction of the cold tier moves it in place); 0 for an item holding its value.
    pub(crate) location: u64,
}

// SAFETY: an ItemRef is a read-only view of heap bytes kept valid by its pin; the pin is
// released through atomics, so any thread may hold, read or drop it.
unsafe impl Send for ItemRef<'_> {}
// SAFETY: as above; shared access only reads immutable bytes, the atomic bits byte, or the
// ItemRef's own captured fields.
unsafe impl Sync for ItemRef<'_> {}

impl ItemRef<'_> {
    pub fn key(&self) -> &[u8] {
        // SAFETY: pinned for the lifetime of self.
        unsafe { self.it.key() }
    }

    /// The value. Empty for an item whose value is in the cold tier: check
    /// [`ItemRef::external`] first.
    pub fn value(&self) -> &[u8] {
        if self.it.is_external() {
            debug_assert!(false, "value() of an external item");
            return &[];
        }
        // SAFETY: pinned for the lifetime of self.
        unsafe { self.it.value() }
    }

    /// Where the value is when it is not in RAM (the disk tier), and its length.
    pub fn external(&self) -> Option<External> {
        self.it.is_external().then(|| External {
            location: self.location,
            value_len: self.it.vlen(),
        })
    }

    pub fn flags(&self) -> u32 {
        self.it.flags()
    }

    pub fn cas(&self) -> u64 {
        self.it.cas_value()
    }

    /// Seconds until expiry, -1 when the item never expires (meta `t`).
    pub fn ttl_remaining(&self) -> i64 {
        exptime::remaining(self.store.abs_deadline(self.deadline), self.now)
    }

    /// Seconds since the access before this one (meta `l`).
    pub fn last_access_ago(&self) -> u64 {
        // The segment is pinned, so its opening time cannot change.
        self.now
            .saturating_sub(self.store.access_time(self.heap_off, self.access))
    }

    /// When the item expires, in the store clock's seconds (Unix time with the system
    /// clock); None when it never does (`lru_crawler metadump`'s `exp`).
    pub fn expires_at(&self) -> Option<u64> {
        let d = self.store.abs_deadline(self.deadline);
        (d != exptime::NEVER).then_some(d)
    }

    /// When the item was last accessed (stored or fetched) before this access, in the
    /// store clock's seconds (metadump's `la`).
    pub fn last_access(&self) -> u64 {
        self.store.access_time(self.heap_off, self.access)
    }

    /// The value's length, also for an item whose value is in the cold tier.
    pub fn value_len(&self) -> usize {
        self.it.vlen()
    }

    /// Bytes the item takes in the heap: header, key and value (metadump's `size`).
    pub fn footprint(&self) -> usize {
        self.it.size()
    }

    /// Whether the item had been fetched before this access (meta `h`).
    pub fn fetched_before(&self) -> bool {
        self.fetched_before
    }

    /// Declares that this pin will be held a while (a reply queued for a client that may
    /// be slow). False, with nothing declared, while half the heap's segments hold such
    /// pins: the caller should copy the value and drop this instead, so that slow readers
    /// can never pin the whole heap and leave eviction no victim.
    pub fn hold(&mut self) -> bool {
        if !self.held {
            self.held = self.store.hold(self.heap_off);
        }
        self.held
    }

    /// Whether the item was invalidated (meta `X`).
    pub fn is_stale(&self) -> bool {
        self.it.is_stale()
    }

    /// Whether a win token was already handed out for this item (meta `Z`).
    pub fn win_claimed(&self) -> bool {
        // SAFETY: pinned.
        unsafe { self.it.bits().load(Ordering::Acquire) & WIN != 0 }
    }
}

impl Drop for ItemRef<'_> {
    fn drop(&mut self) {
        if self.held {
            self.store.release_hold(self.heap_off);
        }
        self.store.unpin_at(self.heap_off);
        self.store.item_released(self.shard);
    }
}

/// Space for a value, written straight into the heap, invisible to readers until committed;
/// dropping it leaves no trace (the bytes become garbage reclaimed with their segment).
pub struct Reservation<'s> {
    pub(crate) store: &'s Store,
    pub(crate) it: ItemPtr,
    pub(crate) heap_off: usize,
    pub(crate) hash: u64,
    pub(crate) shard: usize,
    /// When it was reserved, the item's last access once committed (as the store always
    /// counted it; the segment's last write is that time too), as the slot's access field:
    /// relative to the item's segment, which is pinned, so its opening cannot change.
    pub(crate) access: u16,
    /// Set when a commit linked this very item (not a copy): otherwise its room is
    /// garbage once the reservation is dropped.
    pub(crate) linked: std::cell::Cell<bool>,
}

// SAFETY: the reservation exclusively owns its unpublished bytes; its pin is released
// through atomics, so it may be filled and committed on any thread.
unsafe impl Send for Reservation<'_> {}

impl Reservation<'_> {
    /// The key it was reserved for.
    pub fn key(&self) -> &[u8] {
        // SAFETY: written at reservation and never changed; pinned for the lifetime of self.
        unsafe { self.it.key() }
    }

    /// Exactly the reserved number of bytes, to be filled by the caller. Initially holds
    /// arbitrary old heap bytes.
    pub fn value_mut(&mut self) -> &mut [u8] {
        // SAFETY: unpublished and pinned; `&mut self` makes the borrow exclusive.
        unsafe { self.it.value_mut() }
    }

    /// Makes the value visible, applying the mode's rules against the current item.
    pub fn commit(self, mode: StoreMode) -> StoreOutcome {
        self.commit_with(mode, CommitOptions::default())
    }

    /// `commit` with the meta protocol's extras: compare CAS, explicit new CAS, invalidate.
    pub fn commit_with(self, mode: StoreMode, opts: CommitOptions) -> StoreOutcome {
        self.store.commit_reserved(&self, mode, opts, false)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.store
            .reservation_closed(self.shard, self.heap_off, self.linked.get());
    }
}
