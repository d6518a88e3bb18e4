//! The store: segments in one heap, a sharded hash index, memcached's rules on top.
//!
//! This module holds the [`Store`] itself (its parts, its construction, the helpers every
//! operation uses) and the vocabulary of its API (modes and outcomes). The operations live
//! in child modules, one seam each, all `impl Store` blocks:
//!
//! - `lookup`: finding a key and judging whether its item is alive (expired, flushed);
//!   get, peek, touch, gat.
//! - `commit`: reserve, fill and publish new items (set/add/replace/cas), delete, vivify.
//! - `derive`: read-modify-write of a linked item (append/prepend, incr/decr, invalidate).
//! - `alloc`: room for an item: the open segment of its TTL bucket, else a free segment,
//!   else compaction or eviction.
//! - `reuse`: room for a large item in a hole a dead large item left (tried first).
//! - `sweep`: reclaiming dead segments (expired, flushed, all garbage), `flush_all`, and
//!   the segment clearing that eviction and compaction share.
//! - `report`: `stats` and its reset, the segment census.
//! - `meta`: the meta protocol's own operations (`mg`, `md`, `ma`).
//! - `reattach`: after a warm restart, the cold tier's verdict on the external items kept.
//!
//! Children import from this module, and from one another in one direction only (`commit`,
//! `external` and `reuse` use `alloc::Placed`, `commit` and `external` `alloc::Place`,
//! `sweep` and `meta` use `lookup::Dead`, `meta` uses `derive`'s plan); this module
//! imports none of them, so no module imports one that
//! imports it back (`scripts/module-cycles crates/store` checks).

use crate::clock::{Clock, SystemClock};
use crate::cold::External;
use crate::config::{StoreConfig, StoreError};
use crate::exptime::{Deadline, NEVER};
use crate::heap::Heap;
use crate::holes::Roomy;
use crate::index::{self, Table};
use crate::layout::{self, ItemPtr};
use crate::segments::{Pool, Segment};
use crate::stats::Counters;
use crate::ttl;
use parking_lot::{Mutex, RwLock};
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

mod alloc;
mod commit;
mod derive;
pub(crate) mod external;
mod image;
mod lookup;
pub(crate) mod meta;
mod reattach;
pub(crate) mod report;
pub(crate) mod restart;
mod reuse;
mod sweep;
pub mod walk;

/// How a stored value meets the item already under its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    /// Store only if the current item's CAS equals this.
    Cas(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored {
        cas: u64,
    },
    NotStored,
    Exists,
    NotFound,
    /// Append/prepend to an item whose value is in the disk tier: the caller reads it,
    /// brings it back ([`Store::recache`]) and tries again.
    OnDisk(External),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaOutcome {
    Value {
        value: u64,
        cas: u64,
    },
    NotFound,
    NonNumeric,
    /// The value is in the disk tier: read it, [`Store::recache`] it, try again.
    OnDisk(External),
}

/// Meta-protocol extras for a commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitOptions {
    /// Store only if the current item's CAS equals this (meta `C`); a missing item is NotFound.
    pub compare_cas: Option<u64>,
    /// Give the new item this CAS instead of a fresh one (meta `E`).
    pub new_cas: Option<u64>,
    /// Meta `I` on a set: when `compare_cas` is older than the item's CAS the value is still
    /// stored, marked stale (keeping the old item's handed-out win token), instead of
    /// failing with Exists.
    pub invalidate: bool,
    /// Meta `ms` with `N` in append/prepend mode: on a miss, store the value as a new item
    /// (with the reservation's own flags and expiry) instead of answering NotStored.
    pub vivify_on_miss: bool,
}

/// What `invalidate` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidateOutcome {
    /// Marked stale, CAS bumped to this.
    Invalidated {
        cas: u64,
    },
    NotFound,
    /// compare_cas did not match.
    Exists,
}

/// Deadlines are stored as u32 seconds since this long before the store started, so that
/// "already expired" has a representation in the past and ~2^32 s of future remain.
const EPOCH_LEAD: u64 = 1 << 24;

/// Once the CAS counter is this close to 2^48, new items get an 8-byte CAS field up front,
/// so commits do not have to move them to a wider copy.
const WIDE_CAS_MARGIN: u64 = 1 << 32;

/// Heaps smaller than this many segments do not keep a spare for eviction survivors.
const MIN_SEGMENTS_FOR_SPARE: usize = 16;

#[repr(align(128))]
struct Shard {
    table: RwLock<Table>,
    counters: Counters,
    pinned: AtomicUsize,
    reserved: AtomicUsize,
}

impl Shard {
    fn new(table: Table) -> Shard {
        Shard {
            table: RwLock::new(table),
            counters: Counters::default(),
            pinned: AtomicUsize::new(0),
            reserved: AtomicUsize::new(0),
        }
    }
}

/// The segment size and count for a configuration, after checking it.
fn geometry(cfg: &StoreConfig) -> Result<(usize, usize), StoreError> {
    if cfg.memory_limit == 0 {
        return Err(StoreError::Config("memory_limit must be > 0".into()));
    }
    if cfg.item_size_max < 1024 || cfg.item_size_max > 1 << 30 {
        return Err(StoreError::Config(
            "item_size_max must be between 1 KiB and 1 GiB".into(),
        ));
    }
    if cfg.segment_size == 0 {
        return Err(StoreError::Config("segment_size must be > 0".into()));
    }
    // Our item header is smaller than memcached's, so an item that passes the
    // item_size_max check always fits a segment of item_size_max bytes.
    let seg_size = cfg
        .segment_size
        .max(cfg.item_size_max)
        .next_multiple_of(4096);
    let nsegs = (cfg.memory_limit / seg_size).max(1);
    if nsegs.saturating_mul(seg_size) > index::HEAP_MAX {
        return Err(StoreError::Config(format!(
            "memory_limit of {} MiB is above the {} GiB the index can address (38-bit \
             heap offsets)",
            cfg.memory_limit >> 20,
            index::HEAP_MAX >> 30
        )));
    }
    Ok((seg_size, nsegs))
}

/// The cache. `Send + Sync`; every worker shares one.
pub struct Store {
    /// Segments with held pins (`ItemRef::hold`), counted by 0 <-> 1 transitions of
    /// `Segment::held`; touched only by large replies, never by the common get.
    held_segments: AtomicUsize,
    cfg: StoreConfig,
    clock: Arc<dyn Clock>,
    epoch: u64,
    seed: u64,
    heap: Heap,
    seg_size: usize,
    segs: Box<[Segment]>,
    pool: Mutex<Pool>,
    /// The open segment of each TTL bucket: `ttl::BUCKETS` for items holding their value,
    /// as many again for external items (`alloc::alloc_for`).
    buckets: Box<[Mutex<Option<u32>>]>,
    /// Each TTL bucket's segments with holes that dead large items left (`holes`). Lock
    /// order: a shard lock, then one of these, then a segment's holes, then the pool.
    roomy: Box<[Mutex<Roomy>]>,
    shards: Box<[Shard]>,
    next_cas: AtomicU64,
    /// flush_all state, as memcached keeps it: items last accessed at or before
    /// `oldest_live` (once that moment has come), or with a CAS below `oldest_cas`, are gone.
    oldest_live: AtomicU64,
    oldest_cas: AtomicU64,
    last_sweep: AtomicU64,
    /// Where values sent out of RAM went (the disk tier), told of every such item the
    /// store drops (`external.rs`).
    cold: OnceLock<Arc<dyn crate::cold::ColdTier>>,
    /// A warm restart kept external items whose locations wait for the cold tier's
    /// verdict (`reattach`): it takes them back or they are dropped.
    external_pending: AtomicBool,
    /// Told of each evicted item while it wants to be (`watch evictions`).
    eviction_watch: OnceLock<Arc<dyn crate::evictions::EvictionWatch>>,
    /// `-e FILE`: the heap is a shared mapping of this file (warm restart).
    memory_file: Option<PathBuf>,
}

impl Store {
    pub fn new(cfg: StoreConfig) -> Result<Store, StoreError> {
        Store::with_clock(cfg, Arc::new(SystemClock::new()))
    }

    pub fn with_clock(cfg: StoreConfig, clock: Arc<dyn Clock>) -> Result<Store, StoreError> {
        let (seg_size, nsegs) = geometry(&cfg)?;
        let heap = Heap::new(nsegs * seg_size)?;
        Ok(Store::empty(cfg, clock, heap, seg_size, nsegs, None))
    }

    /// A store with nothing in it, on `heap` (`nsegs` segments of `seg_size` bytes).
    fn empty(
        cfg: StoreConfig,
        clock: Arc<dyn Clock>,
        heap: Heap,
        seg_size: usize,
        nsegs: usize,
        memory_file: Option<PathBuf>,
    ) -> Store {
        let segs: Box<[Segment]> = (0..nsegs).map(|_| Segment::default()).collect();
        let mut pool = Pool {
            free: (0..nsegs as u32).rev().collect(),
            ..Pool::default()
        };
        if cfg.evict && nsegs >= MIN_SEGMENTS_FOR_SPARE {
            // The last segment: the stack hands out the others first.
            pool.spare = pool.free.first().copied();
            pool.free.remove(0);
        }
        // The second half holds external items (alloc.rs: eviction spares them); their
        // holes, if any, are kept apart from the others' as their open segments are.
        let buckets = (0..ttl::OPEN_BUCKETS).map(|_| Mutex::new(None)).collect();
        let roomy = (0..ttl::OPEN_BUCKETS)
            .map(|_| Mutex::new(Roomy::default()))
            .collect();
        let shards = (0..1usize << index::SHARD_BITS)
            .map(|_| Shard::new(Table::new()))
            .collect();
        let now = clock.now();
        let cfg = StoreConfig {
            segment_size: seg_size,
            ..cfg
        };
        Store {
            cfg,
            clock,
            epoch: now.saturating_sub(EPOCH_LEAD),
            seed: RandomState::new().hash_one(0x636f_7276_6964u64),
            heap,
            seg_size,
            segs,
            pool: Mutex::new(pool),
            buckets,
            roomy,
            shards,
            next_cas: AtomicU64::new(1),
            oldest_live: AtomicU64::new(0),
            oldest_cas: AtomicU64::new(0),
            held_segments: AtomicUsize::new(0),
            last_sweep: AtomicU64::new(now),
            cold: OnceLock::new(),
            external_pending: AtomicBool::new(false),
            eviction_watch: OnceLock::new(),
            memory_file,
        }
    }

    /// The configuration in effect (segment_size as raised to fit item_size_max).
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// The memory file of `-e`, when the heap is one (`stats settings` shows it).
    pub fn memory_file(&self) -> Option<&Path> {
        self.memory_file.as_deref()
    }

    /// Connects the eviction watch (once; false if one is connected already).
    pub fn set_eviction_watch(&self, watch: Arc<dyn crate::evictions::EvictionWatch>) -> bool {
        self.eviction_watch.set(watch).is_ok()
    }

    /// The eviction watch, if connected and wanting to hear now.
    pub(crate) fn eviction_watch(&self) -> Option<&dyn crate::evictions::EvictionWatch> {
        self.eviction_watch
            .get()
            .map(|w| &**w)
            .filter(|w| w.wanted())
    }

    /// The store's clock, in unix seconds.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Brings the store's clock up to date (see [`SystemClock::ticked`]); the server calls
    /// it a few times a second.
    pub fn refresh_clock(&self) {
        self.clock.refresh();
    }

    // ----- time and item helpers

    fn rel_deadline(&self, d: Deadline) -> u32 {
        if d == NEVER {
            0
        } else {
            d.saturating_sub(self.epoch).clamp(1, u64::from(u32::MAX)) as u32
        }
    }

    pub(crate) fn abs_deadline(&self, d: u32) -> Deadline {
        match d {
            0 => NEVER,
            d => self.epoch + u64::from(d),
        }
    }

    /// The deadline of a linked item.
    ///
    /// The caller holds the item's shard lock (read or write), or owns the unpublished item.
    #[inline]
    fn deadline_of(&self, it: ItemPtr) -> Deadline {
        // SAFETY: per the caller's lock; the deadline is written only under the write lock.
        self.abs_deadline(unsafe { it.deadline() })
    }

    /// Unix time of a slot's last-access field for the item at `heap_off`.
    #[inline]
    pub(crate) fn access_time(&self, heap_off: usize, a: u16) -> u64 {
        self.seg_of(heap_off).opened.load(Ordering::Relaxed) + layout::decode_access(a)
    }

    /// The slot's last-access field for the item at `heap_off` last accessed at `t`.
    fn access_field(&self, heap_off: usize, t: u64) -> u16 {
        layout::access_since(t, self.seg_of(heap_off).opened.load(Ordering::Relaxed))
    }

    /// Whether an item about to be allocated needs the 8-byte CAS field: for a CAS known
    /// in advance, when it does not fit 6 bytes; otherwise when the counter nears 2^48.
    fn wide_cas(&self, cas: Option<u64>) -> bool {
        self.cfg.cas_enabled
            && match cas {
                Some(c) => !layout::cas_fits(false, c),
                None => {
                    self.next_cas.load(Ordering::Relaxed)
                        >= layout::NARROW_CAS_END - WIDE_CAS_MARGIN
                }
            }
    }

    pub(crate) fn item(&self, heap_off: usize) -> ItemPtr {
        ItemPtr {
            p: self.heap.at(heap_off),
            cas: self.cfg.cas_enabled,
        }
    }

    #[inline]
    fn seg_of(&self, heap_off: usize) -> &Segment {
        &self.segs[heap_off / self.seg_size]
    }

    pub(crate) fn unpin_at(&self, heap_off: usize) {
        self.seg_of(heap_off).unpin();
    }

    /// The item at `off`, of `size` bytes, stopped being linked from the index: its
    /// segment holds fewer live bytes, and a large item's room becomes a hole. Called under
    /// its shard write lock.
    fn unlinked(&self, off: usize, size: usize) {
        let span = layout::span(size);
        self.seg_of(off).unlink(span);
        if span >= layout::LARGE {
            self.record_hole(off, span);
        }
    }

    /// Declares the pin on the item at `heap_off` long-lived, unless half the heap's
    /// segments are held already: then it answers false and the caller should copy the
    /// value instead. A pin holds its whole segment, and a heap of held segments would
    /// leave eviction no victim.
    pub(crate) fn hold(&self, heap_off: usize) -> bool {
        if self.held_segments.load(Ordering::Relaxed) * 2 >= self.segs.len() {
            return false;
        }
        if self.seg_of(heap_off).held.fetch_add(1, Ordering::Relaxed) == 0 {
            self.held_segments.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    pub(crate) fn release_hold(&self, heap_off: usize) {
        if self.seg_of(heap_off).held.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.held_segments.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Segments holding at least one long-lived pin (`ItemRef::hold`).
    pub fn held_segments(&self) -> usize {
        self.held_segments.load(Ordering::Relaxed)
    }

    pub(crate) fn item_released(&self, shard: usize) {
        self.shards[shard].pinned.fetch_sub(1, Ordering::Relaxed);
    }

    /// A reservation was dropped, its item `linked` (committed) or not; in the second
    /// case a large item's room is a hole at once (nobody ever saw it).
    pub(crate) fn reservation_closed(&self, shard: usize, heap_off: usize, linked: bool) {
        self.shards[shard].reserved.fetch_sub(1, Ordering::Relaxed);
        if !linked {
            let span = self.item(heap_off).span();
            if span >= layout::LARGE {
                self.record_hole(heap_off, span);
            }
        }
        self.unpin_at(heap_off);
    }

    fn new_cas(&self) -> u64 {
        if self.cfg.cas_enabled {
            self.next_cas.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        }
    }

    fn counters(&self, key: &[u8]) -> &Counters {
        &self.shards[index::shard_of(index::hash(self.seed, key))].counters
    }
}

#[cfg(test)]
mod tests;
