//! The caller-facing handles: a pinned item to read, a reservation to fill.

use crate::store::{Entry, Store};
use crate::{exptime, CommitOptions, StoreMode, StoreOutcome};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A live item, pinned: its bytes stay valid until this is dropped.
pub struct ItemRef<'s> {
    pub(crate) store: &'s Store,
    pub(crate) entry: Arc<Entry>,
    pub(crate) now: u64,
    pub(crate) fetched_before: bool,
    pub(crate) last_access: u64,
}

impl ItemRef<'_> {
    pub fn key(&self) -> &[u8] {
        &self.entry.key
    }

    pub fn value(&self) -> &[u8] {
        &self.entry.value
    }

    pub fn flags(&self) -> u32 {
        self.entry.flags
    }

    pub fn cas(&self) -> u64 {
        self.entry.cas
    }

    /// Seconds until expiry, -1 when the item never expires (meta `t`).
    pub fn ttl_remaining(&self) -> i64 {
        exptime::remaining(self.entry.deadline.load(Ordering::Relaxed), self.now)
    }

    /// Seconds since the access before this one (meta `l`).
    pub fn last_access_ago(&self) -> u64 {
        self.now.saturating_sub(self.last_access)
    }

    /// Whether the item had been fetched before this access (meta `h`).
    pub fn fetched_before(&self) -> bool {
        self.fetched_before
    }

    /// Whether the item was invalidated (meta `X`).
    pub fn is_stale(&self) -> bool {
        self.entry.stale
    }

    /// Whether a win token was already handed out for this item (meta `Z`).
    pub fn win_claimed(&self) -> bool {
        self.entry.win.load(Ordering::Acquire)
    }
}

impl Drop for ItemRef<'_> {
    fn drop(&mut self) {
        self.store.unpin();
    }
}

/// Space for a value, invisible to readers until committed; dropping it leaves no trace.
pub struct Reservation<'s> {
    pub(crate) store: &'s Store,
    pub(crate) key: Box<[u8]>,
    pub(crate) value: Vec<u8>,
    pub(crate) flags: u32,
    pub(crate) deadline: exptime::Deadline,
}

impl Reservation<'_> {
    /// Exactly the reserved number of bytes, to be filled by the caller.
    pub fn value_mut(&mut self) -> &mut [u8] {
        &mut self.value
    }

    /// Makes the value visible, applying the mode's rules against the current item.
    pub fn commit(self, mode: StoreMode) -> StoreOutcome {
        self.commit_with(mode, CommitOptions::default())
    }

    /// `commit` with the meta protocol's extras: compare CAS, explicit new CAS, invalidate.
    pub fn commit_with(mut self, mode: StoreMode, opts: CommitOptions) -> StoreOutcome {
        let value = std::mem::take(&mut self.value);
        let key = std::mem::take(&mut self.key);
        self.store
            .commit_owned(mode, key, value, self.flags, self.deadline, opts)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.store.unreserve();
    }
}
