//! Counters, named as memcached's `stats` names them.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// One block of event counters. The store keeps one per shard so that threads
        /// working on different keys do not fight over a cache line.
        #[derive(Default)]
        #[repr(align(128))]
        pub(crate) struct Counters {
            $(pub(crate) $name: AtomicU64,)*
        }

        impl Counters {
            pub(crate) fn add_into(&self, s: &mut StoreStats) {
                $(s.$name += self.$name.load(Ordering::Relaxed);)*
            }

            pub(crate) fn reset(&self) {
                $(self.$name.store(0, Ordering::Relaxed);)*
            }
        }

        /// A snapshot of the store's statistics. Field names are memcached's `stats` names.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct StoreStats {
            $($(#[$doc])* pub $name: u64,)*
            /// Items currently linked and not known to be dead.
            pub curr_items: u64,
            /// Bytes held by live items (memcached counts its own item sizes; we count ours).
            pub bytes: u64,
            /// `-m` in bytes.
            pub limit_maxbytes: u64,
            /// Outstanding `ItemRef`s.
            pub pinned_items: u64,
            /// Outstanding `Reservation`s.
            pub open_reservations: u64,
            /// Heap segments in total.
            pub total_segments: u64,
            /// Heap segments holding data (open or sealed).
            pub used_segments: u64,
            /// Heap segments whose pages are resident (their bytes count in RSS).
            pub resident_segments: u64,
            /// Bytes of the hash index (outside the heap).
            pub index_bytes: u64,
        }
    };
}

counters! {
    /// Items stored since start (or reset).
    total_items,
    get_hits,
    get_misses,
    /// Misses because the item had expired.
    get_expired,
    /// Misses because the item was hidden by flush_all.
    get_flushed,
    touch_hits,
    touch_misses,
    delete_hits,
    delete_misses,
    incr_hits,
    incr_misses,
    decr_hits,
    decr_misses,
    cas_hits,
    cas_misses,
    cas_badval,
    /// Live items removed to make room.
    evictions,
    /// Evicted items that had never been fetched.
    evicted_unfetched,
    /// Evicted items that were active (read since linked where they were, so eviction
    /// would have kept them) when there was no room left to keep them (memcached's
    /// meaning: evicted with `ITEM_ACTIVE` set).
    evicted_active,
    /// Items eviction kept: active, so copied forward instead of evicted (memcached's
    /// nearest count is of active items rescued from the COLD tail to WARM).
    moves_to_warm,
    /// Expired items reclaimed before anyone fetched them.
    expired_unfetched,
    /// Dead (expired or flushed) items whose memory was reclaimed.
    reclaimed,
    /// Stores refused as too large.
    store_too_large,
    /// Stores refused for lack of memory.
    store_no_memory,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
