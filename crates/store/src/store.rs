//! The store: sharded maps of owned items (first, simple engine).

use crate::clock::{Clock, SystemClock};
use crate::config::{memcached_item_size, StoreConfig, StoreError, KEY_MAX};
use crate::exptime::{self, Deadline};
use crate::item::{ItemRef, Reservation};
use crate::numeric;
use crate::stats::{bump, Counters, StoreStats};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

const SHARDS: usize = 64;

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
    /// stored, marked stale, instead of failing with Exists.
    pub invalidate: bool,
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

pub(crate) struct Entry {
    pub(crate) key: Box<[u8]>,
    pub(crate) value: Box<[u8]>,
    pub(crate) flags: u32,
    pub(crate) cas: u64,
    pub(crate) deadline: AtomicU64,
    pub(crate) last_access: AtomicU64,
    pub(crate) fetched: AtomicBool,
    pub(crate) win: AtomicBool,
    pub(crate) stale: bool,
}

impl Entry {
    fn size(&self) -> usize {
        memcached_item_size(self.key.len(), self.value.len(), self.flags, true)
    }
}

struct Shard {
    map: Mutex<HashMap<Box<[u8]>, Arc<Entry>>>,
    counters: Counters,
}

#[derive(Default)]
struct Flush {
    oldest_live: u64,
    oldest_cas: u64,
}

/// The cache. `Send + Sync`; every worker shares one.
pub struct Store {
    cfg: StoreConfig,
    clock: Arc<dyn Clock>,
    hasher: RandomState,
    shards: Box<[Shard]>,
    next_cas: AtomicU64,
    bytes: AtomicUsize,
    items: AtomicUsize,
    pins: AtomicUsize,
    reservations: AtomicUsize,
    flush: Mutex<Flush>,
    flush_cmds: Counters,
}

enum Lookup {
    Live(Arc<Entry>),
    Missing,
    Expired,
    Flushed,
}

impl Store {
    pub fn new(cfg: StoreConfig) -> Result<Store, StoreError> {
        Store::with_clock(cfg, Arc::new(SystemClock::new()))
    }

    pub fn with_clock(cfg: StoreConfig, clock: Arc<dyn Clock>) -> Result<Store, StoreError> {
        if cfg.memory_limit == 0 {
            return Err(StoreError::Config("memory_limit must be > 0".into()));
        }
        if cfg.item_size_max < 1024 {
            return Err(StoreError::Config("item_size_max must be >= 1024".into()));
        }
        let shards = (0..SHARDS)
            .map(|_| Shard {
                map: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            })
            .collect();
        Ok(Store {
            cfg,
            clock,
            hasher: RandomState::new(),
            shards,
            next_cas: AtomicU64::new(1),
            bytes: AtomicUsize::new(0),
            items: AtomicUsize::new(0),
            pins: AtomicUsize::new(0),
            reservations: AtomicUsize::new(0),
            flush: Mutex::new(Flush::default()),
            flush_cmds: Counters::default(),
        })
    }

    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    fn shard(&self, key: &[u8]) -> &Shard {
        let h = self.hasher.hash_one(key);
        &self.shards[(h as usize) % SHARDS]
    }

    fn new_cas(&self) -> u64 {
        if self.cfg.cas_enabled {
            self.next_cas.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        }
    }

    fn is_flushed(&self, e: &Entry, now: u64) -> bool {
        let f = self.flush.lock();
        if f.oldest_live == 0 || f.oldest_live > now {
            return false;
        }
        e.last_access.load(Ordering::Relaxed) <= f.oldest_live
            || (f.oldest_cas != 0 && e.cas != 0 && e.cas < f.oldest_cas)
    }

    /// Finds the live item under `key`, unlinking it if it is dead.
    fn lookup(
        &self,
        map: &mut HashMap<Box<[u8]>, Arc<Entry>>,
        counters: &Counters,
        key: &[u8],
        now: u64,
    ) -> Lookup {
        let Some(e) = map.get(key) else {
            return Lookup::Missing;
        };
        let expired = exptime::is_expired(e.deadline.load(Ordering::Relaxed), now);
        let flushed = !expired && self.is_flushed(e, now);
        if !expired && !flushed {
            return Lookup::Live(e.clone());
        }
        if let Some(e) = map.remove(key) {
            self.unaccount(&e);
            bump(&counters.reclaimed);
            if expired && !e.fetched.load(Ordering::Relaxed) {
                bump(&counters.expired_unfetched);
            }
        }
        if expired {
            Lookup::Expired
        } else {
            Lookup::Flushed
        }
    }

    fn unaccount(&self, e: &Entry) {
        self.bytes.fetch_sub(e.size(), Ordering::Relaxed);
        self.items.fetch_sub(1, Ordering::Relaxed);
    }

    fn pin<'s>(&'s self, e: Arc<Entry>, now: u64, mark: bool) -> ItemRef<'s> {
        let (fetched_before, last_access) = if mark {
            (
                e.fetched.swap(true, Ordering::Relaxed),
                e.last_access.swap(now, Ordering::Relaxed),
            )
        } else {
            (
                e.fetched.load(Ordering::Relaxed),
                e.last_access.load(Ordering::Relaxed),
            )
        };
        self.pins.fetch_add(1, Ordering::Relaxed);
        ItemRef {
            store: self,
            entry: e,
            now,
            fetched_before,
            last_access,
        }
    }

    pub(crate) fn unpin(&self) {
        self.pins.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn unreserve(&self) {
        self.reservations.fetch_sub(1, Ordering::Relaxed);
    }

    /// Looks up `key`, counting a hit or miss, marking the item fetched and accessed.
    pub fn get(&self, key: &[u8]) -> Option<ItemRef<'_>> {
        self.fetch(key, None, true)
    }

    /// Looks up `key` without counting or touching anything.
    pub fn peek(&self, key: &[u8]) -> Option<ItemRef<'_>> {
        let now = self.clock.now();
        let shard = self.shard(key);
        let e = shard.map.lock().get(key).cloned()?;
        if exptime::is_expired(e.deadline.load(Ordering::Relaxed), now) || self.is_flushed(&e, now)
        {
            return None;
        }
        Some(self.pin(e, now, false))
    }

    /// Sets a new expiry on `key`; true if the item was there.
    pub fn touch(&self, key: &[u8], exptime: i64) -> bool {
        self.fetch(key, Some(exptime), false).is_some()
    }

    /// gat: fetch and set a new expiry. Counted as memcached 1.6.18 counts gat: touch_hits
    /// or touch_misses and cmd_touch, not get_* nor cmd_get.
    pub fn get_and_touch(&self, key: &[u8], exptime: i64) -> Option<ItemRef<'_>> {
        self.fetch(key, Some(exptime), false)
    }

    fn fetch(&self, key: &[u8], touch: Option<i64>, is_get: bool) -> Option<ItemRef<'_>> {
        // `is_get` is false for touch and gat, which count only touch_* and cmd_touch.
        let now = self.clock.now();
        let shard = self.shard(key);
        let c = &shard.counters;
        if is_get {
            bump(&c.cmd_get);
        }
        if touch.is_some() {
            bump(&c.cmd_touch);
        }
        let mut map = shard.map.lock();
        let found = self.lookup(&mut map, c, key, now);
        drop(map);
        match found {
            Lookup::Live(e) => {
                if let Some(t) = touch {
                    e.deadline
                        .store(exptime::deadline(t, now), Ordering::Relaxed);
                    bump(&c.touch_hits);
                } else {
                    bump(&c.get_hits);
                }
                Some(self.pin(e, now, true))
            }
            other => {
                if touch.is_some() {
                    bump(&c.touch_misses);
                } else {
                    bump(&c.get_misses);
                }
                if is_get && touch.is_none() {
                    match other {
                        Lookup::Expired => bump(&c.get_expired),
                        Lookup::Flushed => bump(&c.get_flushed),
                        _ => {}
                    }
                }
                None
            }
        }
    }

    fn check_size(&self, key: &[u8], value_len: usize, flags: u32) -> Result<(), StoreError> {
        if key.is_empty() || key.len() > KEY_MAX {
            return Err(StoreError::KeyLength);
        }
        if memcached_item_size(key.len(), value_len, flags, self.cfg.cas_enabled)
            > self.cfg.item_size_max
        {
            bump(&self.shard(key).counters.store_too_large);
            return Err(StoreError::TooLarge);
        }
        Ok(())
    }

    /// Space for a value of `value_len` bytes, invisible until commit, no trace if dropped.
    pub fn reserve(
        &self,
        key: &[u8],
        value_len: usize,
        flags: u32,
        exptime: i64,
    ) -> Result<Reservation<'_>, StoreError> {
        self.check_size(key, value_len, flags)?;
        let size = memcached_item_size(key.len(), value_len, flags, true);
        if size > self.cfg.memory_limit || !self.make_room(size) {
            bump(&self.shard(key).counters.store_no_memory);
            return Err(StoreError::OutOfMemory);
        }
        self.reservations.fetch_add(1, Ordering::Relaxed);
        Ok(Reservation {
            store: self,
            key: key.into(),
            value: vec![0; value_len],
            flags,
            deadline: exptime::deadline(exptime, self.clock.now()),
        })
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

    /// Makes room for `size` more bytes, evicting if allowed.
    fn make_room(&self, size: usize) -> bool {
        if self.bytes.load(Ordering::Relaxed) + size <= self.cfg.memory_limit {
            return true;
        }
        if !self.cfg.evict {
            return false;
        }
        for shard in self.shards.iter() {
            let mut map = shard.map.lock();
            let victims: Vec<Box<[u8]>> = map.keys().take(16).cloned().collect();
            for k in victims {
                if let Some(e) = map.remove(&k) {
                    self.unaccount(&e);
                    bump(&shard.counters.evictions);
                    if e.fetched.load(Ordering::Relaxed) {
                        bump(&shard.counters.evicted_active);
                    } else {
                        bump(&shard.counters.evicted_unfetched);
                    }
                }
                if self.bytes.load(Ordering::Relaxed) + size <= self.cfg.memory_limit {
                    return true;
                }
            }
        }
        self.bytes.load(Ordering::Relaxed) + size <= self.cfg.memory_limit
    }

    pub(crate) fn commit_owned(
        &self,
        mode: StoreMode,
        key: Box<[u8]>,
        value: Vec<u8>,
        flags: u32,
        deadline: Deadline,
        opts: CommitOptions,
    ) -> StoreOutcome {
        let now = self.clock.now();
        let shard = self.shard(&key);
        let c = &shard.counters;
        bump(&c.cmd_set);
        let compare = match mode {
            StoreMode::Cas(v) => Some(v),
            _ => opts.compare_cas,
        };
        // Decided under the lock, built outside it when a merge with the old value is needed.
        let mut map = shard.map.lock();
        let old = match self.lookup(&mut map, c, &key, now) {
            Lookup::Live(e) => Some(e),
            _ => None,
        };
        if let Some(want) = compare {
            match &old {
                None => {
                    bump(&c.cas_misses);
                    return StoreOutcome::NotFound;
                }
                // A meta `I` set with an older CAS is stored, but marked stale.
                Some(e) if e.cas != want && !(opts.invalidate && want < e.cas) => {
                    bump(&c.cas_badval);
                    return StoreOutcome::Exists;
                }
                Some(_) => bump(&c.cas_hits),
            }
        }
        let (value, flags, deadline) = match (mode, &old) {
            (StoreMode::Add, Some(e)) => {
                // memcached bumps the existing item on a failed add.
                e.last_access.store(now, Ordering::Relaxed);
                return StoreOutcome::NotStored;
            }
            (StoreMode::Replace | StoreMode::Append | StoreMode::Prepend, None) => {
                return StoreOutcome::NotStored;
            }
            (StoreMode::Append, Some(e)) => {
                let mut v = Vec::with_capacity(e.value.len() + value.len());
                v.extend_from_slice(&e.value);
                v.extend_from_slice(&value);
                (v, e.flags, e.deadline.load(Ordering::Relaxed))
            }
            (StoreMode::Prepend, Some(e)) => {
                let mut v = Vec::with_capacity(e.value.len() + value.len());
                v.extend_from_slice(&value);
                v.extend_from_slice(&e.value);
                (v, e.flags, e.deadline.load(Ordering::Relaxed))
            }
            _ => (value, flags, deadline),
        };
        if matches!(mode, StoreMode::Append | StoreMode::Prepend)
            && memcached_item_size(key.len(), value.len(), flags, self.cfg.cas_enabled)
                > self.cfg.item_size_max
        {
            bump(&c.store_too_large);
            return StoreOutcome::NotStored;
        }
        let cas = opts.new_cas.unwrap_or_else(|| self.new_cas());
        let entry = Entry {
            key,
            value: value.into_boxed_slice(),
            flags,
            cas,
            deadline: AtomicU64::new(deadline),
            last_access: AtomicU64::new(now),
            fetched: AtomicBool::new(false),
            win: AtomicBool::new(false),
            stale: opts.invalidate && matches!((compare, &old), (Some(w), Some(e)) if w < e.cas),
        };
        let size = entry.size();
        if let Some(e) = &old {
            if let Some(e) = map.remove(&*e.key) {
                self.unaccount(&e);
            }
        }
        drop(map);
        if !self.make_room(size) {
            bump(&c.store_no_memory);
            return StoreOutcome::NotStored;
        }
        let mut map = shard.map.lock();
        self.bytes.fetch_add(size, Ordering::Relaxed);
        self.items.fetch_add(1, Ordering::Relaxed);
        bump(&c.total_items);
        if let Some(prev) = map.insert(entry.key.clone(), Arc::new(entry)) {
            self.unaccount(&prev);
        }
        StoreOutcome::Stored { cas }
    }

    /// Removes `key`; true if a live item was there.
    pub fn delete(&self, key: &[u8]) -> bool {
        let now = self.clock.now();
        let shard = self.shard(key);
        let mut map = shard.map.lock();
        match self.lookup(&mut map, &shard.counters, key, now) {
            Lookup::Live(_) => {
                if let Some(e) = map.remove(key) {
                    self.unaccount(&e);
                }
                bump(&shard.counters.delete_hits);
                true
            }
            _ => {
                bump(&shard.counters.delete_misses);
                false
            }
        }
    }

    /// incr (`incr` true) or decr by `delta` on a decimal value.
    pub fn delta(&self, key: &[u8], delta: u64, incr: bool) -> DeltaOutcome {
        let now = self.clock.now();
        let shard = self.shard(key);
        let c = &shard.counters;
        let mut map = shard.map.lock();
        let Lookup::Live(e) = self.lookup(&mut map, c, key, now) else {
            bump(if incr { &c.incr_misses } else { &c.decr_misses });
            return DeltaOutcome::NotFound;
        };
        let Some(n) = numeric::parse_value(&e.value) else {
            return DeltaOutcome::NonNumeric;
        };
        bump(if incr { &c.incr_hits } else { &c.decr_hits });
        let value = if incr {
            n.wrapping_add(delta)
        } else {
            n.saturating_sub(delta)
        };
        let bytes = numeric::render(value, e.value.len());
        let cas = self.new_cas();
        let entry = Entry {
            key: e.key.clone(),
            value: bytes.into_boxed_slice(),
            flags: e.flags,
            cas,
            deadline: AtomicU64::new(e.deadline.load(Ordering::Relaxed)),
            last_access: AtomicU64::new(now),
            fetched: AtomicBool::new(e.fetched.load(Ordering::Relaxed)),
            win: AtomicBool::new(false),
            stale: false,
        };
        let grow = entry.size().saturating_sub(e.size());
        self.bytes.fetch_add(grow, Ordering::Relaxed);
        self.bytes
            .fetch_sub(e.size().saturating_sub(entry.size()), Ordering::Relaxed);
        map.insert(entry.key.clone(), Arc::new(entry));
        DeltaOutcome::Value { value, cas }
    }

    /// memcached's `flush_all [delay]`: items last stored or touched before the flush moment
    /// become invisible once it arrives; 0 or negative flushes now.
    pub fn flush_all(&self, exptime: i64) {
        let now = self.clock.now();
        bump(&self.flush_cmds.cmd_flush);
        let new_oldest = if exptime > 0 {
            exptime::deadline(exptime, now)
        } else {
            now
        };
        let mut f = self.flush.lock();
        if self.cfg.cas_enabled {
            f.oldest_live = new_oldest.saturating_sub(1);
            if f.oldest_live <= now {
                f.oldest_cas = self.next_cas.load(Ordering::Relaxed);
            }
        } else {
            f.oldest_live = new_oldest;
        }
    }

    /// Meta `md I`/`mg` invalidation: marks the item stale and gives it a new CAS.
    pub fn invalidate(&self, key: &[u8], compare_cas: Option<u64>) -> InvalidateOutcome {
        let now = self.clock.now();
        let shard = self.shard(key);
        let mut map = shard.map.lock();
        let Lookup::Live(e) = self.lookup(&mut map, &shard.counters, key, now) else {
            return InvalidateOutcome::NotFound;
        };
        if let Some(want) = compare_cas {
            if want != e.cas {
                return InvalidateOutcome::Exists;
            }
        }
        let cas = self.new_cas();
        let entry = Entry {
            key: e.key.clone(),
            value: e.value.clone(),
            flags: e.flags,
            cas,
            deadline: AtomicU64::new(e.deadline.load(Ordering::Relaxed)),
            last_access: AtomicU64::new(e.last_access.load(Ordering::Relaxed)),
            fetched: AtomicBool::new(e.fetched.load(Ordering::Relaxed)),
            win: AtomicBool::new(false),
            stale: true,
        };
        map.insert(entry.key.clone(), Arc::new(entry));
        InvalidateOutcome::Invalidated { cas }
    }

    /// Hands out the item's win (recache) token: true for exactly one caller per item
    /// version (a replaced item starts with a fresh token).
    pub fn claim_win(&self, item: &ItemRef<'_>) -> bool {
        !item.entry.win.swap(true, Ordering::AcqRel)
    }

    /// Meta `mg N`: on a miss, creates an empty placeholder with `exptime` whose token is
    /// already claimed by the caller. Returns true if this call created it (the caller won);
    /// false if a live item already exists (look it up and `claim_win` as usual).
    pub fn vivify(&self, key: &[u8], exptime: i64) -> Result<bool, StoreError> {
        let r = self.reserve(key, 0, 0, exptime)?;
        match r.commit(StoreMode::Add) {
            StoreOutcome::Stored { .. } => {
                if let Some(item) = self.peek(key) {
                    item.entry.win.store(true, Ordering::Release);
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub fn stats(&self) -> StoreStats {
        let mut s = StoreStats::default();
        for shard in self.shards.iter() {
            shard.counters.add_into(&mut s);
        }
        self.flush_cmds.add_into(&mut s);
        s.curr_items = self.items.load(Ordering::Relaxed) as u64;
        s.bytes = self.bytes.load(Ordering::Relaxed) as u64;
        s.limit_maxbytes = self.cfg.memory_limit as u64;
        s.pinned_items = self.pinned_items() as u64;
        s.open_reservations = self.open_reservations() as u64;
        s
    }

    /// What `stats reset` resets: event counters, not the current-state gauges.
    pub fn reset_stats(&self) {
        for shard in self.shards.iter() {
            shard.counters.reset();
        }
        self.flush_cmds.reset();
    }

    pub fn pinned_items(&self) -> usize {
        self.pins.load(Ordering::Relaxed)
    }

    pub fn open_reservations(&self) -> usize {
        self.reservations.load(Ordering::Relaxed)
    }
}
