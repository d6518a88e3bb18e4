//! The store: segments in one heap, a sharded hash index, memcached's rules on top.

use crate::clock::{Clock, SystemClock};
use crate::config::{memcached_item_size, StoreConfig, StoreError, KEY_MAX};
use crate::exptime::{self, Deadline, NEVER};
use crate::heap::Heap;
use crate::index::{self, Table};
use crate::item::{ItemRef, Reservation};
use crate::layout::{self, Header, ItemPtr, FETCHED, WIN};
use crate::numeric;
use crate::segments::{Keep, Pool, Segment, FREE, OPEN, RECLAIMING, SEALED};
use crate::stats::{bump, Counters, StoreStats};
use crate::ttl;
use parking_lot::{Mutex, RwLock};

mod meta;
pub use meta::{MetaDelete, MetaDeleteOutcome, MetaDelta, MetaDeltaOutcome, MetaRead};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

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
    Stored { cas: u64 },
    NotStored,
    Exists,
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaOutcome {
    Value { value: u64, cas: u64 },
    NotFound,
    NonNumeric,
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

/// Why an item is invisible.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dead {
    Expired,
    Flushed,
}

/// Deadlines are stored as u32 seconds since this long before the store started, so that
/// "already expired" has a representation in the past and ~2^32 s of future remain.
const EPOCH_LEAD: u64 = 1 << 24;

/// Once the CAS counter is this close to 2^48, new items get an 8-byte CAS field up front,
/// so commits do not have to move them to a wider copy.
const WIDE_CAS_MARGIN: u64 = 1 << 32;

/// A sealed segment whose newest deadline passed is reclaimed this many seconds later, so a
/// touch racing with the sweep on another thread (reading a slightly older clock) is safe.
const SWEEP_MARGIN: u64 = 1;

/// Heaps smaller than this many segments do not keep a spare for eviction survivors.
const MIN_SEGMENTS_FOR_SPARE: usize = 16;

#[repr(align(128))]
struct Shard {
    table: RwLock<Table>,
    counters: Counters,
    pinned: AtomicUsize,
    reserved: AtomicUsize,
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
    /// The open segment of each TTL bucket.
    buckets: Box<[Mutex<Option<u32>>]>,
    shards: Box<[Shard]>,
    next_cas: AtomicU64,
    /// flush_all state, as memcached keeps it: items last accessed at or before
    /// `oldest_live` (once that moment has come), or with a CAS below `oldest_cas`, are gone.
    oldest_live: AtomicU64,
    oldest_cas: AtomicU64,
    last_sweep: AtomicU64,
    global: Counters,
}

/// What a read-modify-write sees of the current item beyond its immutable bytes: the
/// fields that change while it is linked, read under its shard lock.
struct Snap {
    deadline: Deadline,
    /// Last access, unix seconds.
    access: u64,
    fetched: bool,
}

/// What a read-modify-write derives from the current item.
struct Plan {
    vlen: usize,
    flags: u32,
    deadline: Deadline,
    access: u64,
    fetched: bool,
    stale: bool,
    cas: u64,
}

/// Where `alloc` put an item: its heap offset, and when its segment opened (what the
/// item's slot access field counts from).
struct Placed {
    off: usize,
    opened: u64,
}

/// What a commit does, beyond the reservation.
#[derive(Clone, Copy)]
struct Commit {
    compare: Option<u64>,
    mode: StoreMode,
    invalidate: bool,
    win: bool,
    now: u64,
}

enum DeriveError<R> {
    Missing,
    Abort(R),
    NoMemory,
}

impl Store {
    pub fn new(cfg: StoreConfig) -> Result<Store, StoreError> {
        Store::with_clock(cfg, Arc::new(SystemClock::new()))
    }

    pub fn with_clock(cfg: StoreConfig, clock: Arc<dyn Clock>) -> Result<Store, StoreError> {
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
        let heap = Heap::new(nsegs * seg_size)?;
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
        let buckets = (0..ttl::BUCKETS).map(|_| Mutex::new(None)).collect();
        let shards = (0..1usize << index::SHARD_BITS)
            .map(|_| Shard {
                table: RwLock::new(Table::new()),
                counters: Counters::default(),
                pinned: AtomicUsize::new(0),
                reserved: AtomicUsize::new(0),
            })
            .collect();
        let now = clock.now();
        let cfg = StoreConfig {
            segment_size: seg_size,
            ..cfg
        };
        Ok(Store {
            cfg,
            clock,
            epoch: now.saturating_sub(EPOCH_LEAD),
            seed: RandomState::new().hash_one(0x636f_7276_6964u64),
            heap,
            seg_size,
            segs,
            pool: Mutex::new(pool),
            buckets,
            shards,
            next_cas: AtomicU64::new(1),
            oldest_live: AtomicU64::new(0),
            oldest_cas: AtomicU64::new(0),
            held_segments: AtomicUsize::new(0),
            last_sweep: AtomicU64::new(now),
            global: Counters::default(),
        })
    }

    /// The configuration in effect (segment_size as raised to fit item_size_max).
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
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

    pub(crate) fn reservation_closed(&self, shard: usize, heap_off: usize) {
        self.shards[shard].reserved.fetch_sub(1, Ordering::Relaxed);
        self.unpin_at(heap_off);
    }

    /// Whether the linked item at `heap_off`, whose slot holds last access `a`, is
    /// invisible at `now`.
    ///
    /// The caller holds the item's shard lock.
    ///
    /// Why the coarse last access (`layout::encode_access`) cannot change what a flush
    /// hides. Every flush sets `oldest_live` (ol) to at least its own time minus one, and
    /// an item is flushed when ol has come and its last access is <= ol (or, with CAS, its
    /// CAS is below the one the flush saw). Stored access times differ from the true ones
    /// in two ways only:
    /// - *Rounded down* (a fetch more than 9.1 h after the segment opened). Writes are
    ///   always exact: `alloc` never appends to a segment opened that long ago. A fetch
    ///   only ever raises the field (`Table::bump`). So take a true access t stored as
    ///   t' <= t, and a flush with point ol. If t <= ol, both hide the item. If t > ol, the
    ///   fetch at t happened after ol had come (t <= now), so the item was alive then: its
    ///   stored access was already > ol, and the bump kept it there. (A fetch before ol
    ///   comes has t <= now < ol.) With -C the flush point is the flush's own second, so
    ///   accesses before the flush are <= ol either way; with CAS an immediate flush's
    ///   point is a second earlier, but everything stored before it fails the CAS test.
    /// - *Raised* to a segment's opening (an item copied by compaction or eviction into a
    ///   newer segment, or rebuilt by incr/append/...): raised to a time t'' <= now, and
    ///   only for an item alive at now. If ol has come, alive means its access is > ol, and
    ///   t'' is larger still. If ol is still ahead, t'' <= now < ol: hidden when ol comes,
    ///   as the true access would be. A later flush's point is >= its time - 1 >= now - 1:
    ///   with -C, >= now >= t''; with CAS, the copy keeps its old CAS, below the flush's.
    ///
    /// Either way a fetch or a flush racing on another thread whose clock is a second off
    /// can make the answer differ by that second, as it could before.
    #[inline]
    fn dead(&self, t: &Table, pos: usize, heap_off: usize, now: u64) -> Option<Dead> {
        // SAFETY: the caller holds the item's shard lock.
        let d = unsafe { self.item(heap_off).deadline() };
        self.judge(heap_off, || t.access(pos), d, now)
    }

    /// `dead` for an item whose deadline field `d` the caller has read; `a` gives its slot's
    /// access field, needed only while a flush is pending or in effect.
    #[inline]
    fn judge(&self, heap_off: usize, a: impl FnOnce() -> u16, d: u32, now: u64) -> Option<Dead> {
        if exptime::is_expired(self.abs_deadline(d), now) {
            return Some(Dead::Expired);
        }
        let ol = self.oldest_live.load(Ordering::Relaxed);
        if ol != 0 && ol <= now {
            let oc = self.oldest_cas.load(Ordering::Relaxed);
            let cas = self.item(heap_off).cas_value();
            if self.access_time(heap_off, a()) <= ol || (oc != 0 && cas != 0 && cas < oc) {
                return Some(Dead::Flushed);
            }
        }
        None
    }

    fn key_matches(&self, off: usize, key: &[u8]) -> bool {
        let it = self.item(off);
        // SAFETY: called from Table::find under the shard lock, on linked items only.
        it.klen() == key.len() && unsafe { it.key() } == key
    }

    fn rehash(&self, off: usize) -> u64 {
        // SAFETY: called while rebuilding a table under its write lock; linked items only.
        index::hash(self.seed, unsafe { self.item(off).key() })
    }

    fn new_cas(&self) -> u64 {
        if self.cfg.cas_enabled {
            self.next_cas.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Removes a dead item found by a reader, if the index still points at it.
    fn unlink_dead(&self, h: u64, off: usize, now: u64) {
        let shard = &self.shards[index::shard_of(h)];
        let mut t = shard.table.write();
        let Some(pos) = t.find_at(h, off) else {
            return;
        };
        // Between the reader's lock and this one the item may have been unlinked and its
        // offset reused by a newer item with the same tag: judge what is there now.
        let it = self.item(off);
        let Some(why) = self.dead(&t, pos, off, now) else {
            return;
        };
        t.remove(pos);
        t.items -= 1;
        t.bytes -= it.size();
        self.seg_of(off).unlink(it.size());
        let fetched = it.shape() & FETCHED != 0;
        drop(t);
        bump(&shard.counters.reclaimed);
        if why == Dead::Expired && !fetched {
            bump(&shard.counters.expired_unfetched);
        }
    }

    /// Triggers the once-a-second sweep of dead segments from whichever call comes first.
    fn tick(&self, now: u64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now != last
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep_at(now);
        }
    }

    // ----- reads

    /// Finds and pins the live item for `key`. `mark` records the access (fetched, time);
    /// `touch` gives the item that deadline first (under the shard's write lock, the only
    /// lock under which a linked item's deadline may change).
    fn lookup(
        &self,
        key: &[u8],
        h: u64,
        now: u64,
        mark: bool,
        touch: Option<Deadline>,
    ) -> Result<ItemRef<'_>, Option<Dead>> {
        let si = index::shard_of(h);
        let shard = &self.shards[si];
        let found = match touch {
            None => self.lookup_locked(&shard.table.read(), key, h, si, now, mark, None),
            Some(d) => self.lookup_locked(&shard.table.write(), key, h, si, now, mark, Some(d)),
        };
        match found {
            Ok(item) => {
                shard.pinned.fetch_add(1, Ordering::Relaxed);
                Ok(item)
            }
            Err(None) => Err(None),
            Err(Some((why, off))) => {
                self.unlink_dead(h, off, now);
                Err(Some(why))
            }
        }
    }

    /// `lookup` under the shard's lock `t`: a write lock when `touch` is given. A dead item
    /// is reported with its offset, for the caller to unlink once `t` is released.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn lookup_locked(
        &self,
        t: &Table,
        key: &[u8],
        h: u64,
        si: usize,
        now: u64,
        mark: bool,
        touch: Option<Deadline>,
    ) -> Result<ItemRef<'_>, Option<(Dead, usize)>> {
        let Some((pos, off)) = t.find(h, |o| self.key_matches(o, key)) else {
            return Err(None);
        };
        let access = t.access(pos);
        let it = self.item(off);
        // SAFETY: under the shard lock.
        let mut deadline = unsafe { it.deadline() };
        if let Some(why) = self.judge(off, || access, deadline, now) {
            return Err(Some((why, off)));
        }
        let seg = self.seg_of(off);
        // Pinned under the shard lock: a reclaimer removes the entry under the write lock
        // before it looks at the pin count, so it either sees this pin or we never got here.
        seg.pins.fetch_add(1, Ordering::Relaxed);
        let bits = it.shape();
        if let Some(d) = touch {
            deadline = self.rel_deadline(d);
            // SAFETY: the caller holds the shard's write lock when it passes `touch`, and
            // the item is linked.
            unsafe { it.set_deadline(deadline) };
            // The sweep judges a segment by its newest deadline; keep that an upper bound.
            seg.max_deadline
                .fetch_max(if d == NEVER { u64::MAX } else { d }, Ordering::Relaxed);
        }
        if mark {
            // Written only when they change (the access field once a second at most), so a
            // hot item's cache lines are not bounced between readers on every hit.
            if bits & FETCHED == 0 {
                // SAFETY: linked item under its shard lock.
                unsafe { it.bits().fetch_or(FETCHED, Ordering::Relaxed) };
            }
            let a = layout::access_since(now, seg.opened.load(Ordering::Relaxed));
            if a > access {
                t.bump(pos, a);
            }
        }
        Ok(ItemRef {
            store: self,
            it,
            heap_off: off,
            shard: si,
            now,
            fetched_before: bits & FETCHED != 0,
            held: false,
            access,
            deadline,
        })
    }

    /// Looks up `key`, counting a hit or miss, marking the item fetched and accessed.
    pub fn get(&self, key: &[u8]) -> Option<ItemRef<'_>> {
        let now = self.clock.now();
        self.tick(now);
        let h = index::hash(self.seed, key);
        let c = &self.shards[index::shard_of(h)].counters;
        bump(&c.cmd_get);
        match self.lookup(key, h, now, true, None) {
            Ok(item) => {
                bump(&c.get_hits);
                Some(item)
            }
            Err(why) => {
                bump(&c.get_misses);
                match why {
                    Some(Dead::Expired) => bump(&c.get_expired),
                    Some(Dead::Flushed) => bump(&c.get_flushed),
                    None => {}
                }
                None
            }
        }
    }

    /// Looks up `key` without counting or recording the access.
    pub fn peek(&self, key: &[u8]) -> Option<ItemRef<'_>> {
        let now = self.clock.now();
        self.tick(now);
        self.lookup(key, index::hash(self.seed, key), now, false, None)
            .ok()
    }

    /// Sets a new expiry on `key`; true if the item was there.
    pub fn touch(&self, key: &[u8], exptime: i64) -> bool {
        self.touch_item(key, exptime).is_some()
    }

    /// gat: fetch and set a new expiry. Counted as memcached 1.6.18 counts gat: touch_hits
    /// or touch_misses and cmd_touch, not get_* nor cmd_get.
    pub fn get_and_touch(&self, key: &[u8], exptime: i64) -> Option<ItemRef<'_>> {
        self.touch_item(key, exptime)
    }

    fn touch_item(&self, key: &[u8], exptime: i64) -> Option<ItemRef<'_>> {
        let now = self.clock.now();
        self.tick(now);
        let h = index::hash(self.seed, key);
        let c = &self.shards[index::shard_of(h)].counters;
        bump(&c.cmd_touch);
        let touch = Some(exptime::deadline(exptime, now));
        let Ok(item) = self.lookup(key, h, now, true, touch) else {
            bump(&c.touch_misses);
            return None;
        };
        bump(&c.touch_hits);
        Some(item)
    }

    fn counters(&self, key: &[u8]) -> &Counters {
        &self.shards[index::shard_of(index::hash(self.seed, key))].counters
    }

    // ----- writes

    fn check_size(&self, key: &[u8], value_len: usize, flags: u32) -> Result<(), StoreError> {
        if key.is_empty() || key.len() > KEY_MAX {
            return Err(StoreError::KeyLength);
        }
        if memcached_item_size(key.len(), value_len, flags, self.cfg.cas_enabled)
            > self.cfg.item_size_max
            || value_len > layout::VALUE_MAX
        {
            bump(&self.counters(key).store_too_large);
            return Err(StoreError::TooLarge);
        }
        Ok(())
    }

    /// Space for a value of `value_len` bytes, invisible until commit, no trace if dropped.
    #[inline]
    pub fn reserve(
        &self,
        key: &[u8],
        value_len: usize,
        flags: u32,
        exptime: i64,
    ) -> Result<Reservation<'_>, StoreError> {
        self.reserve_with(key, value_len, flags, exptime, None)
    }

    /// `reserve` for a commit that will give the item the explicit CAS `new_cas` (meta
    /// `E`): the item's CAS field is sized for it (8 bytes for a CAS of 2^48 or more, 6
    /// otherwise). Committing with another CAS still works; an item whose field turns out
    /// too narrow is moved to a wider copy at commit.
    pub fn reserve_with(
        &self,
        key: &[u8],
        value_len: usize,
        flags: u32,
        exptime: i64,
        new_cas: Option<u64>,
    ) -> Result<Reservation<'_>, StoreError> {
        self.check_size(key, value_len, flags)?;
        let now = self.clock.now();
        self.tick(now);
        let deadline = exptime::deadline(exptime, now);
        let h = index::hash(self.seed, key);
        let si = index::shard_of(h);
        let wide = self.wide_cas(new_cas);
        let at = self
            .write_item(key, value_len, flags, deadline, wide, now)
            .inspect_err(|_| bump(&self.shards[si].counters.store_no_memory))?;
        self.shards[si].reserved.fetch_add(1, Ordering::Relaxed);
        Ok(Reservation {
            store: self,
            it: self.item(at.off),
            heap_off: at.off,
            hash: h,
            shard: si,
            access: layout::access_since(now, at.opened),
        })
    }

    /// Allocates and pins room for an item and writes its header and key.
    fn write_item(
        &self,
        key: &[u8],
        vlen: usize,
        flags: u32,
        deadline: Deadline,
        wide_cas: bool,
        now: u64,
    ) -> Result<Placed, StoreError> {
        let size = layout::item_size(self.cfg.cas_enabled, wide_cas, key.len(), vlen, flags);
        let at = self.alloc(size, deadline, now)?;
        let it = self.item(at.off);
        // SAFETY: freshly allocated: `size` bytes inside one segment (items need no
        // alignment), pinned, and unreachable from the index.
        unsafe {
            it.init(&Header {
                key,
                vlen,
                flags,
                deadline: self.rel_deadline(deadline),
                wide_cas,
            });
        }
        Ok(at)
    }

    /// reserve + copy + commit.
    pub fn store(
        &self,
        mode: StoreMode,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: i64,
    ) -> Result<StoreOutcome, StoreError> {
        let mut r = self.reserve(key, value.len(), flags, exptime)?;
        r.value_mut().copy_from_slice(value);
        Ok(r.commit(mode))
    }

    /// Publishes a filled reservation (which still holds its pin; the caller releases it).
    pub(crate) fn commit_reserved(
        &self,
        r: &Reservation<'_>,
        mode: StoreMode,
        opts: CommitOptions,
        win: bool,
    ) -> StoreOutcome {
        let now = self.clock.now();
        let c = &self.shards[r.shard].counters;
        bump(&c.cmd_set);
        if matches!(mode, StoreMode::Append | StoreMode::Prepend) {
            return match self.concat(r, mode == StoreMode::Append, opts, now) {
                None => self.commit_reserved(
                    r,
                    StoreMode::Add,
                    CommitOptions {
                        compare_cas: None,
                        vivify_on_miss: false,
                        ..opts
                    },
                    win,
                ),
                Some(outcome) => outcome,
            };
        }
        let commit = Commit {
            compare: match mode {
                StoreMode::Cas(v) => Some(v),
                _ => opts.compare_cas,
            },
            mode,
            invalidate: opts.invalidate,
            win,
            now,
        };
        match self.try_commit(r, r.heap_off, r.access, opts.new_cas, commit) {
            Ok(outcome) => outcome,
            Err(misfit) => self.commit_widened(r, misfit, commit),
        }
    }

    /// `commit_reserved` for a reservation whose item turned out too narrow for the CAS it
    /// gets (only when the reservation did not know it): the value moves to a copy with a
    /// wide CAS field, which is published instead.
    #[cold]
    #[inline(never)]
    fn commit_widened(&self, r: &Reservation<'_>, mut cas: u64, k: Commit) -> StoreOutcome {
        let mut moved: Option<usize> = None;
        let outcome = loop {
            let wide = match self.widen(r, k.now) {
                Ok(wide) => wide,
                Err(_) => {
                    bump(&self.shards[r.shard].counters.store_no_memory);
                    break StoreOutcome::NotStored;
                }
            };
            if let Some(m) = moved.replace(wide.off) {
                self.unpin_at(m);
            }
            // Exact: the reservation's segment was young when it was reserved.
            let reserved_at = self.access_time(r.heap_off, r.access);
            let access = layout::access_since(reserved_at, wide.opened);
            match self.try_commit(r, wide.off, access, Some(cas), k) {
                Ok(outcome) => break outcome,
                // Cannot happen (a wide field takes any CAS); retrying is still correct.
                Err(misfit) => cas = misfit,
            }
        };
        if let Some(m) = moved {
            self.unpin_at(m);
        }
        outcome
    }

    /// One attempt at publishing the reservation `r` with its item at `off` (its own or a
    /// widened copy) and slot access field `access`. `Err(cas)` when the CAS it was to get
    /// does not fit the item: nothing was changed or counted, and the caller retries with
    /// a wide copy and that CAS.
    #[inline(always)]
    fn try_commit(
        &self,
        r: &Reservation<'_>,
        off: usize,
        access: u16,
        cas: Option<u64>,
        k: Commit,
    ) -> Result<StoreOutcome, u64> {
        let shard = &self.shards[r.shard];
        let c = &shard.counters;
        let it = self.item(off);
        // SAFETY: the reservation pins its item; the key is immutable.
        let key = unsafe { r.it.key() };
        let mut t = shard.table.write();
        let found = t.find(r.hash, |o| self.key_matches(o, key));
        let old = found.filter(|&(pos, o)| self.dead(&t, pos, o, k.now).is_none());
        let mut stale = false;
        let mut inherit_win = false;
        let mut inherit_deadline = None;
        // Counted once the outcome is final (a misfit retries).
        let mut hit = None;
        if let Some(want) = k.compare {
            match old {
                None => {
                    bump(&c.cas_misses);
                    return Ok(StoreOutcome::NotFound);
                }
                Some((_, o)) => {
                    let old_it = self.item(o);
                    let cur = old_it.cas_value();
                    // memcached never matches a CAS of 0 (nor any CAS under -C, where
                    // items carry none): such a cas is always EXISTS, counted as badval.
                    let comparable = want != 0 && self.cfg.cas_enabled;
                    if cur != want || !comparable {
                        if k.invalidate && want < cur {
                            stale = true;
                            // memcached keeps the token: whoever won the recache still
                            // holds it, so readers of the stale value see Z, not W.
                            inherit_win = old_it.shape() & WIN != 0;
                            // ...and the TTL: a late write must not outlive the data it
                            // was computed from.
                            // SAFETY: linked item, shard write lock held.
                            inherit_deadline = Some(unsafe { old_it.deadline() });
                            // memcached counts the stale store as a CAS hit.
                            hit = Some(&c.cas_hits);
                        } else {
                            bump(&c.cas_badval);
                            return Ok(StoreOutcome::Exists);
                        }
                    } else {
                        hit = Some(&c.cas_hits);
                    }
                }
            }
        }
        match (k.mode, old) {
            (StoreMode::Add, Some((pos, o))) => {
                // memcached bumps the existing item on a failed add.
                t.bump(pos, self.access_field(o, k.now));
                return Ok(StoreOutcome::NotStored);
            }
            (StoreMode::Replace, None) => return Ok(StoreOutcome::NotStored),
            _ => {}
        }
        let cas = cas.unwrap_or_else(|| self.new_cas());
        // SAFETY: the item is unpublished and exclusively ours (the reservation's, or the
        // widened copy this commit holds).
        unsafe {
            if !it.set_cas(cas) {
                return Err(cas);
            }
            if stale {
                it.set_stale();
            }
            if k.win || inherit_win {
                it.bits().fetch_or(WIN, Ordering::Relaxed);
            }
            if let Some(d) = inherit_deadline {
                it.set_deadline(d);
                let d = self.abs_deadline(d);
                // The sweep judges a segment by its newest deadline; keep that an upper bound.
                self.seg_of(off)
                    .max_deadline
                    .fetch_max(if d == NEVER { u64::MAX } else { d }, Ordering::Relaxed);
            }
        }
        self.publish(&mut t, r.hash, found, off, cas, access);
        drop(t);
        if let Some(hit) = hit {
            bump(hit);
        }
        bump(&c.total_items);
        Ok(StoreOutcome::Stored { cas })
    }

    /// A pinned copy of the reservation's item with an 8-byte CAS field; its offset.
    ///
    /// Its last access, the reservation's time, is raised to the copy's segment opening if
    /// that is later (see `dead`): if a flush came between reserve and this copy, the item
    /// is judged by the copy's time, as memcached judges an item by when it was linked.
    fn widen(&self, r: &Reservation<'_>, now: u64) -> Result<Placed, StoreError> {
        let it = r.it;
        // SAFETY: the reservation's item is unpublished, filled and ours.
        let (key, value, deadline) = unsafe { (it.key(), it.value(), it.deadline()) };
        let d = self.abs_deadline(deadline);
        let at = self.write_item(key, value.len(), it.flags(), d, true, now)?;
        // SAFETY: the copy is unpublished and ours; the two items are distinct allocations.
        unsafe { self.item(at.off).value_mut().copy_from_slice(value) };
        Ok(at)
    }

    /// Links the item at `off`, with slot access field `access` (`access_field`, computed
    /// by the caller before it took the lock), in place of `found` (dead or alive) or as a
    /// new entry.
    fn publish(
        &self,
        t: &mut Table,
        h: u64,
        found: Option<(usize, usize)>,
        off: usize,
        cas: u64,
        access: u16,
    ) {
        let seg = self.seg_of(off);
        seg.max_cas.fetch_max(cas, Ordering::Relaxed);
        let size = self.item(off).size();
        seg.link(size);
        match found {
            Some((pos, old)) => {
                let old_size = self.item(old).size();
                t.bytes -= old_size;
                self.seg_of(old).unlink(old_size);
                t.replace(pos, h, off, access);
            }
            None => {
                t.insert(h, off, access, |o| self.rehash(o));
                t.items += 1;
            }
        }
        t.bytes += size;
    }

    /// Replaces the live item under `key` by one derived from it, atomically with respect
    /// to other writers: if the key changed between reading and publishing, start over.
    fn derive<R>(
        &self,
        key: &[u8],
        now: u64,
        mut plan: impl FnMut(ItemPtr, &Snap) -> Result<Plan, R>,
        mut fill: impl FnMut(ItemPtr, &mut [u8]),
    ) -> Result<u64, DeriveError<R>> {
        let h = index::hash(self.seed, key);
        let shard = &self.shards[index::shard_of(h)];
        loop {
            let t = shard.table.read();
            let Some((pos, old_off)) = t.find(h, |o| self.key_matches(o, key)) else {
                return Err(DeriveError::Missing);
            };
            if self.dead(&t, pos, old_off, now).is_some() {
                drop(t);
                self.unlink_dead(h, old_off, now);
                return Err(DeriveError::Missing);
            }
            let old = self.item(old_off);
            let old_seg = self.seg_of(old_off);
            old_seg.pins.fetch_add(1, Ordering::Relaxed);
            // Read under the lock: with only a pin, a touch may be writing the deadline.
            let snap = Snap {
                deadline: self.deadline_of(old),
                access: self.access_time(old_off, t.access(pos)),
                fetched: old.shape() & FETCHED != 0,
            };
            drop(t);
            let p = match plan(old, &snap) {
                Ok(p) => p,
                Err(r) => {
                    old_seg.unpin();
                    return Err(DeriveError::Abort(r));
                }
            };
            let wide = self.wide_cas(Some(p.cas));
            let placed = match self.write_item(key, p.vlen, p.flags, p.deadline, wide, now) {
                Ok(at) => at,
                Err(_) => {
                    old_seg.unpin();
                    return Err(DeriveError::NoMemory);
                }
            };
            let new_off = placed.off;
            let new = self.item(new_off);
            // SAFETY: `new` is unpublished and ours, sized for `p.cas`; `old` is pinned.
            unsafe {
                fill(old, new.value_mut());
                let fits = new.set_cas(p.cas);
                debug_assert!(fits, "sized for its CAS");
                if p.stale {
                    new.set_stale();
                }
                if p.fetched {
                    new.bits().fetch_or(FETCHED, Ordering::Relaxed);
                }
            }
            let access = layout::access_since(p.access, placed.opened);
            let mut t = shard.table.write();
            let found = t.find(h, |o| self.key_matches(o, key));
            // The old item is still pinned, so its offset cannot have been reused: the same
            // offset means the same item. A touch since the snapshot changed its deadline,
            // which the plan may have copied: start over rather than lose the touch.
            let same = matches!(found, Some((_, off)) if off == old_off)
                && self.deadline_of(old) == snap.deadline;
            if same {
                self.publish(&mut t, h, found, new_off, p.cas, access);
            }
            drop(t);
            self.seg_of(new_off).unpin();
            old_seg.unpin();
            if same {
                return Ok(p.cas);
            }
        }
    }

    /// Append/prepend. None: the key is missing and the caller asked to vivify.
    fn concat(
        &self,
        r: &Reservation<'_>,
        append: bool,
        opts: CommitOptions,
        now: u64,
    ) -> Option<StoreOutcome> {
        // SAFETY: the reservation pins its item.
        let (key, extra) = unsafe { (r.it.key(), r.it.value()) };
        let c = &self.shards[r.shard].counters;
        let res = self.derive(
            key,
            now,
            |old, snap| {
                // memcached's simplified CAS check for append/prepend.
                if opts.compare_cas.is_some_and(|want| want != old.cas_value()) {
                    return Err(StoreOutcome::Exists);
                }
                let vlen = old.vlen() + extra.len();
                if memcached_item_size(key.len(), vlen, old.flags(), self.cfg.cas_enabled)
                    > self.cfg.item_size_max
                {
                    return Err(StoreOutcome::NotStored);
                }
                Ok(Plan {
                    vlen,
                    flags: old.flags(),
                    deadline: snap.deadline,
                    access: now,
                    fetched: false,
                    stale: false,
                    cas: opts.new_cas.unwrap_or_else(|| self.new_cas()),
                })
            },
            |old, out| {
                // SAFETY: `old` is pinned by derive.
                let v = unsafe { old.value() };
                if append {
                    out[..v.len()].copy_from_slice(v);
                    out[v.len()..].copy_from_slice(extra);
                } else {
                    out[..extra.len()].copy_from_slice(extra);
                    out[extra.len()..].copy_from_slice(v);
                }
            },
        );
        Some(match res {
            Ok(cas) => {
                bump(&c.total_items);
                StoreOutcome::Stored { cas }
            }
            // memcached 1.6.18 answers NOT_STORED and counts nothing when the result would
            // exceed -I; EXISTS for a CAS mismatch.
            Err(DeriveError::Abort(outcome)) => outcome,
            Err(DeriveError::NoMemory) => {
                bump(&c.store_no_memory);
                StoreOutcome::NotStored
            }
            Err(DeriveError::Missing) if opts.vivify_on_miss => return None,
            Err(DeriveError::Missing) => StoreOutcome::NotStored,
        })
    }

    /// Removes `key`; true if a live item was there. Counts `delete_hits`/`delete_misses`.
    pub fn delete(&self, key: &[u8]) -> bool {
        let (live, counters) = self.remove(key);
        bump(if live {
            &counters.delete_hits
        } else {
            &counters.delete_misses
        });
        live
    }

    /// Removes `key` without counting a delete: what memcached does to the old value of
    /// a `set` it refused (too large, out of memory), so no stale value outlives a write
    /// the client believes it attempted.
    pub fn unlink(&self, key: &[u8]) -> bool {
        self.remove(key).0
    }

    fn remove(&self, key: &[u8]) -> (bool, &Counters) {
        let now = self.clock.now();
        self.tick(now);
        let h = index::hash(self.seed, key);
        let shard = &self.shards[index::shard_of(h)];
        let mut t = shard.table.write();
        let found = t.find(h, |o| self.key_matches(o, key));
        let live = match found {
            Some((pos, off)) => {
                let it = self.item(off);
                let why = self.dead(&t, pos, off, now);
                t.remove(pos);
                t.items -= 1;
                t.bytes -= it.size();
                self.seg_of(off).unlink(it.size());
                if why.is_some() {
                    bump(&shard.counters.reclaimed);
                }
                why.is_none()
            }
            None => false,
        };
        drop(t);
        (live, &shard.counters)
    }

    /// incr (`incr` true) or decr by `delta` on a decimal value. The new value keeps the
    /// item's flags and expiry, gets a new CAS, and is padded with spaces to the old length
    /// when shorter (memcached rewrites in place).
    pub fn delta(&self, key: &[u8], delta: u64, incr: bool) -> DeltaOutcome {
        let now = self.clock.now();
        self.tick(now);
        let c = self.counters(key);
        let result = std::cell::Cell::new(0u64);
        let grew = std::cell::Cell::new(false);
        let res = self.derive(
            key,
            now,
            |old, snap| {
                // SAFETY: `old` is pinned by derive.
                let v = unsafe { old.value() };
                let n = numeric::parse_value(v).ok_or(())?;
                result.set(if incr {
                    n.wrapping_add(delta)
                } else {
                    n.saturating_sub(delta)
                });
                let vlen = numeric::Digits::new(result.get()).stored_len(v.len());
                grew.set(vlen > v.len());
                Ok(Plan {
                    vlen,
                    flags: old.flags(),
                    deadline: snap.deadline,
                    access: snap.access,
                    fetched: snap.fetched,
                    stale: false,
                    cas: self.new_cas(),
                })
            },
            |_old, out| numeric::Digits::new(result.get()).write_padded(out),
        );
        match res {
            Ok(cas) => {
                bump(if incr { &c.incr_hits } else { &c.decr_hits });
                // memcached links a new item (counted) only when the number outgrows the
                // old value; otherwise it rewrites in place.
                if grew.get() {
                    bump(&c.total_items);
                }
                DeltaOutcome::Value {
                    value: result.get(),
                    cas,
                }
            }
            Err(DeriveError::Abort(())) => DeltaOutcome::NonNumeric,
            // memcached answers a failed allocation here with an error line; a store that
            // cannot even fit a number is out of memory, and the old value stands.
            Err(DeriveError::NoMemory) => {
                bump(&c.store_no_memory);
                DeltaOutcome::NotFound
            }
            Err(DeriveError::Missing) => {
                bump(if incr { &c.incr_misses } else { &c.decr_misses });
                DeltaOutcome::NotFound
            }
        }
    }

    /// memcached's `flush_all [delay]`: items last stored or touched before the flush moment
    /// become invisible once it arrives; 0 or negative flushes now. With CAS on, an
    /// immediate flush hides exactly the items stored before it, even within the same second.
    pub fn flush_all(&self, exptime: i64) {
        let now = self.clock.now();
        bump(&self.global.cmd_flush);
        let new_oldest = if exptime > 0 {
            exptime::deadline(exptime, now)
        } else {
            now
        };
        if self.cfg.cas_enabled {
            let ol = new_oldest.saturating_sub(1);
            if ol <= now {
                self.oldest_cas
                    .store(self.next_cas.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            self.oldest_live.store(ol, Ordering::Relaxed);
        } else {
            self.oldest_live.store(new_oldest, Ordering::Relaxed);
        }
        // Let the next call sweep, whatever the second.
        self.last_sweep.store(0, Ordering::Relaxed);
    }

    /// Meta `md I` / `mg` invalidation: marks the item stale and gives it a new CAS.
    pub fn invalidate(&self, key: &[u8], compare_cas: Option<u64>) -> InvalidateOutcome {
        let now = self.clock.now();
        self.tick(now);
        let res = self.derive(
            key,
            now,
            |old, snap| {
                if compare_cas.is_some_and(|want| want != old.cas_value()) {
                    return Err(());
                }
                Ok(Plan {
                    vlen: old.vlen(),
                    flags: old.flags(),
                    deadline: snap.deadline,
                    access: snap.access,
                    fetched: snap.fetched,
                    stale: true,
                    cas: self.new_cas(),
                })
            },
            // SAFETY: `old` is pinned by derive.
            |old, out| out.copy_from_slice(unsafe { old.value() }),
        );
        match res {
            Ok(cas) => InvalidateOutcome::Invalidated { cas },
            Err(DeriveError::Abort(())) => InvalidateOutcome::Exists,
            Err(DeriveError::Missing | DeriveError::NoMemory) => InvalidateOutcome::NotFound,
        }
    }

    /// Hands out the item's win (recache) token: true for exactly one caller per item
    /// version (a replaced item starts with a fresh token).
    pub fn claim_win(&self, item: &ItemRef<'_>) -> bool {
        // SAFETY: `item` pins the item; the bits byte is atomic.
        unsafe { item.it.bits().fetch_or(WIN, Ordering::AcqRel) & WIN == 0 }
    }

    /// Meta `mg N`: on a miss, creates an empty placeholder with `exptime` whose win token is
    /// already taken by the caller. Returns true if this call created it (the caller won);
    /// false if a live item already exists (look it up and `claim_win` as usual).
    pub fn vivify(&self, key: &[u8], exptime: i64) -> Result<bool, StoreError> {
        let r = self.reserve(key, 0, 0, exptime)?;
        let out = self.commit_reserved(&r, StoreMode::Add, CommitOptions::default(), true);
        Ok(matches!(out, StoreOutcome::Stored { .. }))
    }

    // ----- segments

    /// Room for `size` bytes in the open segment of the deadline's TTL bucket, pinned.
    fn alloc(&self, size: usize, deadline: Deadline, now: u64) -> Result<Placed, StoreError> {
        if size > self.seg_size {
            return Err(StoreError::TooLarge);
        }
        let b = ttl::bucket((deadline != NEVER).then(|| deadline.saturating_sub(now)));
        for _ in 0..self.segs.len() * 2 + 8 {
            {
                let mut open = self.buckets[b].lock();
                if let Some(s) = *open {
                    let seg = &self.segs[s as usize];
                    let used = seg.write_off.load(Ordering::Relaxed);
                    // A segment opened too long ago for access times to be exact in index
                    // slots (9.1 hours: a slowly filled bucket) is sealed, so that the time
                    // an item is written is always exact (see `dead`).
                    let opened = seg.opened.load(Ordering::Relaxed);
                    let young = now.saturating_sub(opened) < layout::ACCESS_EXACT;
                    if used + size <= self.seg_size && young {
                        seg.write_off.store(used + size, Ordering::Relaxed);
                        // Pinned under the bucket lock, which sealing also takes.
                        seg.pins.fetch_add(1, Ordering::Relaxed);
                        seg.max_deadline.fetch_max(
                            if deadline == NEVER {
                                u64::MAX
                            } else {
                                deadline
                            },
                            Ordering::Relaxed,
                        );
                        seg.last_write.fetch_max(now, Ordering::Relaxed);
                        return Ok(Placed {
                            off: s as usize * self.seg_size + used,
                            opened,
                        });
                    }
                    *open = None;
                    self.seal(s);
                }
            }
            // None: an eviction left room in this bucket's open segment; just retry.
            let Some(s) = self.take_segment(now, b, size)? else {
                continue;
            };
            let mut open = self.buckets[b].lock();
            if open.is_none() {
                self.segs[s as usize].open(b, now);
                *open = Some(s);
            } else {
                drop(open);
                self.pool.lock().free.push(s);
            }
        }
        Err(StoreError::OutOfMemory)
    }

    /// Called with the segment's bucket lock held.
    fn seal(&self, s: u32) {
        self.segs[s as usize].state.store(SEALED, Ordering::Release);
        self.pool.lock().sealed.push_back(s);
    }

    /// A free segment for bucket `b`, which needs `need` bytes: from the pool, else
    /// reclaimed from the dead, else evicted. `None` when an eviction instead installed its
    /// survivors as `b`'s open segment with room for `need`.
    fn take_segment(&self, now: u64, b: usize, need: usize) -> Result<Option<u32>, StoreError> {
        for _ in 0..self.segs.len() * 2 + 8 {
            {
                let mut pool = self.pool.lock();
                if let Some(&s) = pool.free.last() {
                    // Faulting in cold memory costs more than moving the survivors of a
                    // mostly dead segment, and compacting keeps RSS near the live data.
                    let warm = self.segs[s as usize].warm.load(Ordering::Relaxed);
                    if warm || !self.cfg.evict || !self.worth_compacting(&pool) {
                        pool.free.pop();
                        drop(pool);
                        self.warm_up(s);
                        return Ok(Some(s));
                    }
                }
                if let Some(i) = pool
                    .draining
                    .iter()
                    .position(|&s| self.segs[s as usize].unpinned())
                {
                    return Ok(Some(pool.draining.swap_remove(i)));
                }
            }
            if self.sweep_at(now) > 0 {
                continue;
            }
            if !self.cfg.evict {
                return Err(StoreError::OutOfMemory);
            }
            // Compaction first: the unpinned sealed segment with the fewest live bytes,
            // if they fit in half a segment, has all its live items moved and nothing is
            // lost (an overwrite-heavy load otherwise evicts live data while most of the
            // heap is garbage). Else FIFO: the oldest unpinned one, keeping only what was
            // read since it was written.
            let (victim, compact) = {
                let mut pool = self.pool.lock();
                let emptiest = pool
                    .sealed
                    .iter()
                    .enumerate()
                    .filter(|(_, &s)| self.segs[s as usize].unpinned())
                    .map(|(i, &s)| (i, self.segs[s as usize].live_bytes()))
                    .min_by_key(|&(_, bytes)| bytes);
                match emptiest {
                    Some((i, bytes)) if bytes <= self.seg_size / 2 => (pool.sealed.remove(i), true),
                    _ => {
                        // Nothing worth compacting any more (a racing writer may have
                        // taken the candidate seen above): cold free memory comes before
                        // evicting anything live, and before giving up.
                        if let Some(s) = pool.free.pop() {
                            drop(pool);
                            self.warm_up(s);
                            return Ok(Some(s));
                        }
                        (
                            pool.sealed
                                .iter()
                                .position(|&s| self.segs[s as usize].unpinned())
                                .and_then(|i| pool.sealed.remove(i)),
                            false,
                        )
                    }
                }
            };
            match victim {
                Some(v) => {
                    let seg = &self.segs[v as usize];
                    seg.state.store(RECLAIMING, Ordering::Relaxed);
                    let bucket = seg.bucket.load(Ordering::Relaxed) as usize;
                    let spare = {
                        let mut pool = self.pool.lock();
                        // Compaction needs somewhere to move the survivors to.
                        match pool.spare.take() {
                            None if compact => pool.free.pop(),
                            spare => spare,
                        }
                    };
                    if let Some(sp) = spare {
                        self.warm_up(sp);
                    }
                    let mut keep = spare.map(|sp| {
                        self.segs[sp as usize].reset_for_copy(bucket, now);
                        Keep {
                            seg: sp,
                            off: 0,
                            limit: self.seg_size / 2,
                            all: compact,
                        }
                    });
                    self.clear(v, now, false, keep.as_mut());
                    match keep {
                        Some(k) if k.off > 0 => {
                            // Not folded into the guard: a false return has sealed the spare,
                            // which must not fall through to the arm below.
                            let placed = self.place_survivors(k, v, b, need);
                            if placed {
                                return Ok(None);
                            }
                        }
                        Some(k) => {
                            self.segs[k.seg as usize]
                                .state
                                .store(FREE, Ordering::Relaxed);
                            // Another evictor may have set a spare aside meanwhile;
                            // overwriting it would lose that segment for good.
                            let mut pool = self.pool.lock();
                            match pool.spare {
                                None => pool.spare = Some(k.seg),
                                Some(_) => pool.free.push(k.seg),
                            }
                        }
                        None if self.segs.len() >= MIN_SEGMENTS_FOR_SPARE => {
                            // The spare was used up (or its victim still pinned): set the
                            // segment just freed aside, and evict again.
                            let mut pool = self.pool.lock();
                            if pool.spare.is_none() {
                                pool.spare = pool.free.pop();
                            }
                        }
                        None => {}
                    }
                }
                None => {
                    if !self.steal_open() {
                        return Err(StoreError::OutOfMemory);
                    }
                }
            }
        }
        Err(StoreError::OutOfMemory)
    }

    /// After eviction of `v` copied survivors into the spare: the spare becomes the open
    /// segment of the bucket `b` that needed room (if it has none and `need` still fits),
    /// and `v`, now free, becomes the spare. Returns true in that case; otherwise the spare
    /// is sealed and `v` stays free for the caller.
    fn place_survivors(&self, k: Keep, v: u32, b: usize, need: usize) -> bool {
        let seg = &self.segs[k.seg as usize];
        let mut open = self.buckets[b].lock();
        if open.is_some() || k.off + need > self.seg_size {
            self.seal(k.seg);
            return false;
        }
        seg.bucket.store(b as u32, Ordering::Relaxed);
        seg.state.store(OPEN, Ordering::Release);
        *open = Some(k.seg);
        drop(open);
        let mut pool = self.pool.lock();
        // Only when no other evictor has set a spare aside meanwhile: replacing it would
        // lose that segment for good.
        if pool.spare.is_none() {
            if let Some(i) = pool.free.iter().rposition(|&x| x == v) {
                pool.free.swap_remove(i);
                pool.spare = Some(v);
            }
        }
        true
    }

    /// Seals some bucket's open segment so it can be evicted (every segment is open and the
    /// heap is full: many TTL buckets in use on a small heap).
    fn steal_open(&self) -> bool {
        for bucket in self.buckets.iter() {
            let mut open = bucket.lock();
            if let Some(s) = *open {
                if self.segs[s as usize].unpinned() {
                    *open = None;
                    self.seal(s);
                    return true;
                }
            }
        }
        false
    }

    /// Free segments kept with their pages resident: an eighth of the heap, at least 4.
    fn warm_reserve(&self) -> usize {
        (self.segs.len() / 8).max(4)
    }

    /// Whether an unpinned sealed segment is at most a quarter live: moving its survivors
    /// costs less than faulting in a cold free segment.
    fn worth_compacting(&self, pool: &Pool) -> bool {
        pool.sealed.iter().any(|&s| {
            let seg = &self.segs[s as usize];
            seg.unpinned() && seg.live_bytes() <= self.seg_size / 4
        })
    }

    /// Faults a segment's pages in at once (one madvise) unless they are resident already.
    fn warm_up(&self, s: u32) {
        let seg = &self.segs[s as usize];
        if !seg.warm.swap(true, Ordering::Relaxed) {
            self.heap
                .populate(s as usize * self.seg_size, self.seg_size);
        }
    }

    /// Whether every item in the segment is dead: garbage, expired or flushed (checked with
    /// the segment unpinned, so its counters are final).
    fn segment_dead(&self, seg: &Segment, now: u64) -> bool {
        // Everything in it overwritten or deleted.
        if seg.live.load(Ordering::Relaxed) == 0 && seg.write_off.load(Ordering::Relaxed) > 0 {
            return true;
        }
        let md = seg.max_deadline.load(Ordering::Relaxed);
        if md != 0 && md != u64::MAX && now >= md + SWEEP_MARGIN {
            return true;
        }
        let ol = self.oldest_live.load(Ordering::Relaxed);
        if ol != 0 && ol <= now {
            if seg.last_write.load(Ordering::Relaxed) <= ol {
                return true;
            }
            let oc = self.oldest_cas.load(Ordering::Relaxed);
            if self.cfg.cas_enabled && oc != 0 && seg.max_cas.load(Ordering::Relaxed) < oc {
                return true;
            }
        }
        false
    }

    /// Reclaims every segment whose items are all expired or flushed. Runs by itself once a
    /// second from whichever store call comes first; callable directly (tests, timers).
    /// Returns the number of segments reclaimed.
    pub fn sweep(&self) -> usize {
        self.sweep_at(self.clock.now())
    }

    fn sweep_at(&self, now: u64) -> usize {
        let mut n = 0;
        for (s, seg) in self.segs.iter().enumerate() {
            let state = seg.state.load(Ordering::Acquire);
            if state != OPEN && state != SEALED {
                continue;
            }
            if !seg.unpinned() || !self.segment_dead(seg, now) {
                continue;
            }
            let taken = if state == OPEN {
                let b = seg.bucket.load(Ordering::Relaxed) as usize;
                let mut open = self.buckets[b].lock();
                let ours = *open == Some(s as u32) && seg.unpinned() && self.segment_dead(seg, now);
                if ours {
                    *open = None;
                }
                ours
            } else {
                let mut pool = self.pool.lock();
                match pool.sealed.iter().position(|&x| x == s as u32) {
                    Some(i) if seg.unpinned() && self.segment_dead(seg, now) => {
                        pool.sealed.remove(i);
                        true
                    }
                    _ => false,
                }
            };
            if taken {
                seg.state.store(RECLAIMING, Ordering::Relaxed);
                self.clear(s as u32, now, true, None);
                n += 1;
            }
        }
        n
    }

    /// Unlinks every item of a segment taken out of circulation (no writer can hold a pin
    /// on it any more), then frees it, or parks it until readers drop their pins.
    ///
    /// With `keep`, live items read since the segment was last written to are copied into
    /// the spare segment (up to its limit) and stay linked there: eviction keeps what is
    /// being read, at the cost of one copy, and only while that is cheap.
    fn clear(&self, s: u32, now: u64, release: bool, mut keep: Option<&mut Keep>) {
        let seg = &self.segs[s as usize];
        let base = s as usize * self.seg_size;
        let end = seg.write_off.load(Ordering::Acquire);
        let written = seg.last_write.load(Ordering::Relaxed);
        let mut off = 0;
        while off < end {
            let at = base + off;
            let it = self.item(at);
            // SAFETY: every byte below write_off belongs to an item whose header was
            // written before its writer unpinned, and no writer is left.
            let (key, size) = unsafe { it.key_and_size() };
            let h = index::hash(self.seed, key);
            let shard = &self.shards[index::shard_of(h)];
            let mut t = shard.table.write();
            if let Some(pos) = t.find_at(h, at) {
                if let Some(k) = keep.as_deref_mut() {
                    if self.keep_item(&mut t, k, pos, h, at, size, written, now) {
                        seg.unlink(size);
                        off += size;
                        continue;
                    }
                }
                // Judged while still linked, under the lock: the slot holds its last access.
                let why = self.dead(&t, pos, at, now);
                t.remove(pos);
                t.items -= 1;
                t.bytes -= size;
                seg.unlink(size);
                drop(t);
                // The bits byte is atomic: a pinned reader may still be claiming a win.
                let fetched = it.shape() & FETCHED != 0;
                let c = &shard.counters;
                match why {
                    Some(why) => {
                        bump(&c.reclaimed);
                        if why == Dead::Expired && !fetched {
                            bump(&c.expired_unfetched);
                        }
                    }
                    None => {
                        bump(&c.evictions);
                        bump(if fetched {
                            &c.evicted_active
                        } else {
                            &c.evicted_unfetched
                        });
                    }
                }
            }
            off += size;
        }
        let mut pool = self.pool.lock();
        seg.state.store(FREE, Ordering::Relaxed);
        if seg.unpinned() {
            // Keep a reserve of warm free segments: giving pages back only to fault them in
            // again on the next write costs a fault per 4 KiB (measured: most of the
            // server's CPU with 64 KiB values overwritten in place). Beyond the reserve,
            // pages go back to the kernel so a flush or a mass expiry shrinks RSS.
            if release && pool.free.len() >= self.warm_reserve() {
                // Nobody can reach the segment: no entries, no pins, and only this thread
                // holds it (it is in no list).
                self.heap.release(base, self.seg_size);
                self.segs[s as usize].warm.store(false, Ordering::Relaxed);
            }
            pool.free.push(s);
        } else {
            pool.draining.push(s);
        }
    }

    /// Copies a linked item of an evicted segment into the spare if it was read since it
    /// was written there, and points its slot at the copy. Runs under the item's shard
    /// write lock, so no writer can replace the item meanwhile.
    ///
    /// The copy keeps every header byte (CAS, deadline, flags, bits). Its last access is
    /// clamped to the spare's opening when older: access times count from their segment's
    /// opening, and `dead` explains why raising one to a time no later than now is safe.
    #[allow(clippy::too_many_arguments)]
    fn keep_item(
        &self,
        t: &mut Table,
        k: &mut Keep,
        pos: usize,
        h: u64,
        src: usize,
        size: usize,
        written: u64,
        now: u64,
    ) -> bool {
        if k.off + size > k.limit || self.dead(t, pos, src, now).is_some() {
            return false;
        }
        let a = t.access(pos);
        let it = self.item(src);
        let bits = it.shape();
        let last = self.access_time(src, a);
        if !k.all && (bits & FETCHED == 0 || last <= written) {
            return false;
        }
        let dst_seg = &self.segs[k.seg as usize];
        let at = k.seg as usize * self.seg_size + k.off;
        let dst = self.item(at);
        // SAFETY: `dst` lies in the spare, which only this thread holds and no index entry
        // points into yet; `it` is linked and its bytes past the atomic bits byte change
        // only under the shard write lock we hold (the deadline) or never. Both are `size`
        // bytes long (items need no alignment), in different segments. The bits byte is
        // read and written atomically: a pinned reader may be claiming a win on `it`.
        unsafe {
            dst.bits().store(bits, Ordering::Relaxed);
            std::ptr::copy_nonoverlapping(it.p.add(1), dst.p.add(1), size - 1);
        }
        k.off += size;
        let d = self.deadline_of(it);
        dst_seg
            .max_deadline
            .fetch_max(if d == NEVER { u64::MAX } else { d }, Ordering::Relaxed);
        dst_seg.last_write.store(now, Ordering::Relaxed);
        dst_seg
            .max_cas
            .fetch_max(dst.cas_value(), Ordering::Relaxed);
        dst_seg.link(size);
        dst_seg.write_off.store(k.off, Ordering::Relaxed);
        t.replace(pos, h, at, self.access_field(at, last));
        true
    }

    // ----- stats

    pub fn stats(&self) -> StoreStats {
        let mut s = StoreStats::default();
        let mut footprint = 0;
        for shard in self.shards.iter() {
            shard.counters.add_into(&mut s);
            let t = shard.table.read();
            s.curr_items += t.items as u64;
            s.bytes += t.bytes as u64;
            footprint += t.footprint();
            s.pinned_items += shard.pinned.load(Ordering::Relaxed) as u64;
            s.open_reservations += shard.reserved.load(Ordering::Relaxed) as u64;
        }
        self.global.add_into(&mut s);
        s.limit_maxbytes = self.cfg.memory_limit as u64;
        s.total_segments = self.segs.len() as u64;
        let pool = self.pool.lock();
        s.used_segments = (self.segs.len() - pool.free.len()) as u64;
        s.resident_segments = self
            .segs
            .iter()
            .filter(|seg| seg.warm.load(Ordering::Relaxed))
            .count() as u64;
        s.index_bytes = footprint as u64;
        s
    }

    /// What `stats reset` resets: event counters, not the current-state gauges.
    pub fn reset_stats(&self) {
        for shard in self.shards.iter() {
            shard.counters.reset();
        }
        self.global.reset();
    }

    /// Outstanding `ItemRef`s.
    pub fn pinned_items(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.pinned.load(Ordering::Relaxed))
            .sum()
    }

    /// Outstanding `Reservation`s.
    pub fn open_reservations(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.reserved.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests;
