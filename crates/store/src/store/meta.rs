//! The meta protocol's read-modify-write operations (`mg` with its options, `md`, `ma`),
//! with memcached 1.6.18's counting. Kept apart from the classic operations they share
//! their machinery with.

use super::derive::{DeriveError, Plan};
use super::lookup::Dead;
use super::{CommitOptions, Store, StoreMode, StoreOutcome};
use crate::cold::External;
use crate::config::StoreError;
use crate::item::ItemRef;
use crate::layout::WIN;
use crate::stats::bump;
use crate::{exptime, index, numeric};

/// How `mg` reads an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaRead {
    /// Record the access (last access time, fetched mark); false for `u`.
    pub bump: bool,
    /// `T`: set this exptime on a hit (then counted as a touch, as memcached does).
    pub touch: Option<i64>,
    /// `N` (with `E`): on a miss create an empty placeholder with this exptime (and CAS),
    /// whose win token the caller holds; counted as a hit, not a miss.
    pub vivify: Option<(i64, Option<u64>)>,
}

/// What `md` does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaDelete {
    /// `C`: act only if the item's CAS is this.
    pub compare_cas: Option<u64>,
    /// `I`: keep the item, marked stale, with a new CAS and a fresh win token.
    pub invalidate: bool,
    /// `T` (with `I` or `x`): the kept item's new exptime.
    pub exptime: Option<i64>,
    /// `E`: the kept item's new CAS.
    pub new_cas: Option<u64>,
    /// `x`: keep the item with an empty value.
    pub remove_value: bool,
}

/// What `md` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaDeleteOutcome {
    Deleted,
    /// Invalidated or emptied, not removed; the item's new CAS.
    Kept {
        cas: u64,
    },
    NotFound,
    /// `compare_cas` did not match.
    Exists,
}

/// What `ma` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaDelta {
    pub incr: bool,
    pub delta: u64,
    /// `C`.
    pub compare_cas: Option<u64>,
    /// `E`.
    pub new_cas: Option<u64>,
    /// `T`: new exptime on a hit.
    pub exptime: Option<i64>,
    /// `N` with `J`: on a miss create the item with this exptime and initial value.
    pub vivify: Option<(i64, u64)>,
}

/// What `ma` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaDeltaOutcome {
    /// The new value (or the initial one when `created`), its CAS and remaining TTL.
    Value {
        value: u64,
        cas: u64,
        ttl: i64,
        created: bool,
    },
    NotFound,
    NonNumeric,
    Exists,
    /// The new value could not be allocated.
    NoMemory,
    /// The value is in the disk tier: read it, [`Store::recache`] it, try again.
    OnDisk(External),
}

enum DeltaAbort {
    OnDisk(External),
    NonNumeric,
    Exists,
}

impl Store {
    /// `mg`: a lookup counted as memcached counts it (a hit with `touch` as a touch hit,
    /// anything else as a get), touching the item in place when asked.
    /// The flag is true when this call created the item (`vivify`).
    pub fn meta_get(&self, key: &[u8], read: MetaRead) -> Option<(ItemRef<'_>, bool)> {
        match self.meta_lookup(key, read, read.vivify.is_none()) {
            Some(item) => Some((item, false)),
            None => {
                let (exptime, cas) = read.vivify?;
                let created = match self.vivify_with(key, exptime, cas) {
                    Ok(created) => created,
                    Err(_) => {
                        self.count_miss(key);
                        return None;
                    }
                };
                // The placeholder (or whatever a racing writer put there) is read as a hit.
                let item = self.meta_lookup(key, read, true)?;
                Some((item, created))
            }
        }
    }

    fn count_miss(&self, key: &[u8]) {
        let c = self.counters(key);
        bump(&c.get_misses);
    }

    fn meta_lookup(&self, key: &[u8], read: MetaRead, count_miss: bool) -> Option<ItemRef<'_>> {
        let now = self.clock.now();
        self.tick(now);
        let h = index::hash(self.seed, key);
        let c = &self.shards[index::shard_of(h)].counters;
        let touch = read.touch.map(|e| exptime::deadline(e, now));
        match self.lookup(key, h, now, read.bump, touch) {
            Ok(item) => {
                match read.touch {
                    Some(_) => {
                        bump(&c.touch_hits);
                    }
                    None => {
                        bump(&c.get_hits);
                    }
                }
                Some(item)
            }
            Err(_) if !count_miss => None,
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

    /// [`Store::vivify`] with meta `E`: the placeholder gets `new_cas` as its CAS.
    pub fn vivify_with(
        &self,
        key: &[u8],
        exptime: i64,
        new_cas: Option<u64>,
    ) -> Result<bool, StoreError> {
        let r = self.reserve_with(key, 0, 0, exptime, new_cas)?;
        let opts = CommitOptions {
            new_cas,
            ..CommitOptions::default()
        };
        let out = self.commit_reserved(&r, StoreMode::Add, opts, true);
        Ok(matches!(out, StoreOutcome::Stored { .. }))
    }

    /// `md`: delete, or (with `invalidate`/`remove_value`) keep the item changed. Counts
    /// `delete_hits` for a removal, `delete_misses` for a miss or a CAS mismatch, nothing
    /// for an invalidation, as memcached 1.6.18 does.
    pub fn meta_delete(&self, key: &[u8], d: MetaDelete) -> MetaDeleteOutcome {
        let now = self.clock.now();
        self.tick(now);
        let c = self.counters(key);
        if !d.invalidate && !d.remove_value {
            return self.delete_compare(key, d.compare_cas, now);
        }
        let res = self.derive(
            key,
            now,
            |old, snap| {
                if d.compare_cas.is_some_and(|want| want != old.cas_value()) {
                    return Err(());
                }
                let deadline = match d.exptime {
                    Some(e) => exptime::deadline(e, now),
                    None => snap.deadline,
                };
                Ok(Plan {
                    vlen: if d.remove_value { 0 } else { old.vlen() },
                    flags: old.flags(),
                    deadline,
                    access: snap.access,
                    fetched: snap.fetched,
                    stale: d.invalidate,
                    cas: d.new_cas.unwrap_or_else(|| self.new_cas()),
                })
            },
            |old, out| {
                if !out.is_empty() {
                    // SAFETY: `old` is pinned by derive.
                    out.copy_from_slice(unsafe { old.value() });
                }
            },
        );
        match res {
            Ok(cas) => {
                if d.remove_value && !d.invalidate {
                    bump(&c.delete_hits);
                }
                MetaDeleteOutcome::Kept { cas }
            }
            Err(DeriveError::Abort(())) => {
                bump(&c.delete_misses);
                MetaDeleteOutcome::Exists
            }
            Err(DeriveError::Missing | DeriveError::NoMemory) => {
                bump(&c.delete_misses);
                MetaDeleteOutcome::NotFound
            }
        }
    }

    fn delete_compare(&self, key: &[u8], compare: Option<u64>, now: u64) -> MetaDeleteOutcome {
        let h = index::hash(self.seed, key);
        let shard = &self.shards[index::shard_of(h)];
        let mut t = shard.table.write();
        let found = t.find(h, |o| self.key_matches(o, key));
        let outcome = match found {
            Some((pos, off)) if self.dead(&t, pos, off, now).is_none() => {
                let it = self.item(off);
                if compare.is_some_and(|want| want != it.cas_value()) {
                    MetaDeleteOutcome::Exists
                } else {
                    t.remove(pos);
                    t.items -= 1;
                    let size = it.size();
                    t.bytes -= size;
                    // Before the room can become a hole another writer takes.
                    self.forgotten(it);
                    self.unlinked(off, size);
                    MetaDeleteOutcome::Deleted
                }
            }
            _ => MetaDeleteOutcome::NotFound,
        };
        drop(t);
        bump(if outcome == MetaDeleteOutcome::Deleted {
            &shard.counters.delete_hits
        } else {
            &shard.counters.delete_misses
        });
        outcome
    }

    /// `ma`: incr/decr with meta's options. Counts like `incr`/`decr`, except that a miss
    /// that vivifies and a CAS mismatch count nothing (memcached 1.6.18).
    pub fn meta_delta(&self, key: &[u8], m: MetaDelta) -> MetaDeltaOutcome {
        let now = self.clock.now();
        self.tick(now);
        let c = self.counters(key);
        loop {
            let result = std::cell::Cell::new(0u64);
            let grew = std::cell::Cell::new(false);
            let token_out = std::cell::Cell::new(false);
            let ttl = std::cell::Cell::new(-1i64);
            let res = self.derive(
                key,
                now,
                |old, snap| {
                    if m.compare_cas.is_some_and(|want| want != old.cas_value()) {
                        return Err(DeltaAbort::Exists);
                    }
                    // The value is on disk: the caller reads it back first.
                    if let Some(ext) = snap.external {
                        return Err(DeltaAbort::OnDisk(ext));
                    }
                    // SAFETY: `old` is pinned by derive.
                    let v = unsafe { old.value() };
                    let n = numeric::parse_value(v).ok_or(DeltaAbort::NonNumeric)?;
                    result.set(if m.incr {
                        n.wrapping_add(m.delta)
                    } else {
                        n.saturating_sub(m.delta)
                    });
                    let vlen = numeric::Digits::new(result.get()).stored_len(v.len());
                    grew.set(vlen > v.len());
                    // memcached rewrites a number that still fits in place, keeping the
                    // item's stale mark and handed-out token; a longer one is a new item.
                    let in_place = !grew.get();
                    token_out.set(in_place && old.shape() & WIN != 0);
                    let deadline = match m.exptime {
                        Some(e) => exptime::deadline(e, now),
                        None => snap.deadline,
                    };
                    ttl.set(exptime::remaining(deadline, now));
                    // memcached's ma bumps the item: its last access becomes now.
                    Ok(Plan {
                        vlen,
                        flags: old.flags(),
                        deadline,
                        access: now,
                        fetched: snap.fetched,
                        stale: in_place && old.is_stale(),
                        cas: m.new_cas.unwrap_or_else(|| self.new_cas()),
                    })
                },
                |_old, out| numeric::Digits::new(result.get()).write_padded(out),
            );
            return match res {
                Ok(cas) => {
                    if token_out.get() {
                        // Only this version: a newer one has its own token.
                        if let Some(item) = self.peek(key).filter(|i| i.cas() == cas) {
                            self.claim_win(&item);
                        }
                    }
                    bump(if m.incr { &c.incr_hits } else { &c.decr_hits });
                    if grew.get() {
                        bump(&c.total_items);
                    }
                    MetaDeltaOutcome::Value {
                        value: result.get(),
                        cas,
                        ttl: ttl.get(),
                        created: false,
                    }
                }
                Err(DeriveError::Abort(DeltaAbort::NonNumeric)) => MetaDeltaOutcome::NonNumeric,
                Err(DeriveError::Abort(DeltaAbort::OnDisk(ext))) => MetaDeltaOutcome::OnDisk(ext),
                Err(DeriveError::Abort(DeltaAbort::Exists)) => MetaDeltaOutcome::Exists,
                Err(DeriveError::NoMemory) => {
                    bump(&c.store_no_memory);
                    MetaDeltaOutcome::NoMemory
                }
                Err(DeriveError::Missing) => match m.vivify {
                    None => {
                        bump(if m.incr {
                            &c.incr_misses
                        } else {
                            &c.decr_misses
                        });
                        MetaDeltaOutcome::NotFound
                    }
                    Some((exptime, initial)) => {
                        let digits = numeric::Digits::new(initial);
                        let value = digits.as_bytes();
                        let mut r = match self.reserve_with(key, value.len(), 0, exptime, m.new_cas)
                        {
                            Ok(r) => r,
                            Err(_) => return MetaDeltaOutcome::NoMemory,
                        };
                        r.value_mut().copy_from_slice(value);
                        let opts = CommitOptions {
                            new_cas: m.new_cas,
                            ..CommitOptions::default()
                        };
                        match r.commit_with(StoreMode::Add, opts) {
                            StoreOutcome::Stored { cas } => MetaDeltaOutcome::Value {
                                value: initial,
                                cas,
                                ttl: exptime::remaining(exptime::deadline(exptime, now), now),
                                created: true,
                            },
                            // Someone created it meanwhile: apply the delta to theirs.
                            _ => continue,
                        }
                    }
                },
            };
        }
    }
}
