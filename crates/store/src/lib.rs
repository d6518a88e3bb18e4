//! The cache engine every worker thread shares: items (key, value, flags, expiry, CAS) in a
//! memory budget of `-m` bytes, with memcached's semantics for storing, expiring, evicting,
//! counting and flushing.
//!
//! It must never do IO on a request path, parse or compose protocol bytes, block on
//! anything but its own short critical sections, panic on anything a client sent (or a
//! restart file held), or let a reader see bytes that are being written or reused (see
//! `segments` for the pin rules). Its only IO is the memory file of `-e`, at start and at
//! a clean stop.
//!
//! Shape: one mmap'd heap cut into segments (`heap`, `segments`), items appended to the
//! open segment of their TTL bucket (`ttl`, `layout`), large items written into the holes
//! dead large items left when one fits (`holes`), a sharded index of 8-byte slots
//! (`index`), memcached's rules in `store`, one module per seam: `store::lookup` (reads and
//! what is alive), `store::commit` (reserve and publish, delete), `store::derive`
//! (read-modify-write), `store::alloc` (allocation, compaction, eviction), `store::reuse`
//! (holes), `store::sweep` (reclaiming dead segments, `flush_all`), `store::report` (stats,
//! the segment census), `store::meta` (meta commands), `store::restart` (warm restart:
//! [`Store::open_memory_file`], [`Store::save`]) with `store::image` (its sections,
//! checked), `restart_data` (the framing of `FILE.meta`) and `memory_file` (the files
//! themselves). docs/store.md has the design and the numbers, docs/restart.md the warm
//! restart.
//!
//! Hand-written rather than taken from a crate: the heap, index and layout are the
//! product (a few bytes per item, reads without a global lock); the restart data is a few
//! checksummed sections that no serialization crate would make smaller or safer to read
//! (`crc32c` does the checksums).
//!
//! Meta-protocol primitives: [`CommitOptions`] on [`Reservation::commit_with`] (compare CAS,
//! explicit new CAS, store-invalidated), [`Store::invalidate`] (mark stale and bump CAS),
//! [`Store::claim_win`] (one winner per item version) and [`Store::vivify`] (placeholder on
//! a miss whose creator wins), and in `store::meta` the meta commands' own operations:
//! [`Store::meta_get`], [`Store::meta_delete`], [`Store::meta_delta`].

mod clock;
mod cold;
mod config;
mod evictions;
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
pub use evictions::{Evicted, EvictionWatch};
pub use exptime::RELATIVE_MAX;
pub use item::{ItemRef, Reservation};
pub use memory_file::Filesystem;
pub use restart_data::{ExtraSection, Refusal, COLD_TIER_SECTION};
pub use stats::StoreStats;
pub use store::external::{Relocated, Room};
pub use store::meta::{MetaDelete, MetaDeleteOutcome, MetaDelta, MetaDeltaOutcome, MetaRead};
pub use store::report::SegmentCensus;
pub use store::restart::{Opened, Restore, SaveError, Saved};
pub use store::walk::Cursor as WalkCursor;
pub use store::{CommitOptions, DeltaOutcome, InvalidateOutcome, Store, StoreMode, StoreOutcome};
