//! The cache engine every worker thread shares: items (key, value, flags, expiry, CAS) in a
//! memory budget of `-m` bytes, with memcached's semantics for storing, expiring, evicting,
//! counting and flushing.
//!
//! It must never do IO, parse or compose protocol bytes, block on anything but its own
//! short critical sections, panic on anything a client sent, or let a reader see bytes
//! that are being written or reused (see `segments` for the pin rules).
//!
//! Shape: one mmap'd heap cut into segments (`heap`, `segments`), items appended to the
//! open segment of their TTL bucket (`ttl`, `layout`), large items written into the holes
//! dead large items left when one fits (`holes`), a sharded index of 8-byte slots
//! (`index`), memcached's rules in `store`, one module per seam: `store::lookup` (reads and
//! what is alive), `store::commit` (reserve and publish, delete), `store::derive`
//! (read-modify-write), `store::alloc` (allocation, compaction, eviction), `store::reuse`
//! (holes), `store::sweep` (reclaiming dead segments, `flush_all`), `store::report` (stats,
//! the segment census), `store::meta` (meta commands). docs/store.md has the design and
//! the numbers.
//!
//! Meta-protocol primitives: [`CommitOptions`] on [`Reservation::commit_with`] (compare CAS,
//! explicit new CAS, store-invalidated), [`Store::invalidate`] (mark stale and bump CAS),
//! [`Store::claim_win`] (one winner per item version) and [`Store::vivify`] (placeholder on
//! a miss whose creator wins), and in `store::meta` the meta commands' own operations:
//! [`Store::meta_get`], [`Store::meta_delete`], [`Store::meta_delta`].

mod clock;
mod cold;
mod config;
mod exptime;
mod heap;
mod holes;
mod index;
mod item;
mod layout;
mod memory_file;
mod numeric;
mod restart_data;
mod segments;
mod stats;
mod store;
mod ttl;

pub use clock::{Clock, ManualClock, SystemClock};
pub use cold::{ColdTier, External};
pub use config::{memcached_item_size, StoreConfig, StoreError, KEY_MAX};
pub use exptime::RELATIVE_MAX;
pub use item::{ItemRef, Reservation};
pub use memory_file::Filesystem;
pub use restart_data::{ExtraSection, Refusal};
pub use stats::StoreStats;
pub use store::external::{Relocated, Room};
pub use store::meta::{MetaDelete, MetaDeleteOutcome, MetaDelta, MetaDeltaOutcome, MetaRead};
pub use store::report::SegmentCensus;
pub use store::restart::{Opened, Restore, SaveError, Saved};
pub use store::{CommitOptions, DeltaOutcome, InvalidateOutcome, Store, StoreMode, StoreOutcome};
