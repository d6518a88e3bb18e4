//! Warm restart, the store's side. With `-e FILE` the heap is a shared mapping of FILE;
//! [`Store::save`] (a clean stop) writes what a restart needs to `FILE.meta`, and
//! [`Store::open_memory_file`] takes everything back when the settings match and every
//! checksum agrees, or starts empty and says why (the [`Refusal`] is the log line).
//!
//! ```no_run
//! use std::sync::Arc;
//! use store::{Restore, Store, StoreConfig, SystemClock};
//!
//! let path = std::path::Path::new("/dev/shm/corvid");
//! let (store, opened) =
//!     Store::open_memory_file(StoreConfig::default(), Arc::new(SystemClock::new()), path, &[])?;
//! if let Restore::Empty(why) = &opened.restore {
//!     eprintln!("{why}");
//! }
//! // ... serve; then, once every worker has stopped:
//! store.save(&[])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The promise: a clean stop brings every live item back (keys, values, flags, deadlines
//! on the same clock, CAS values, last-access times, the eviction order, a pending
//! `flush_all`), with new CAS values above every old one. Anything else starts empty: no
//! restart data, a running store's marker (a crash: the marker is written before the heap
//! is first touched and replaced only by a clean stop), other settings, or data that fails
//! a checksum or a consistency check (the heap's segments are checksummed too, so a
//! changed memory file is caught as well). Nothing here runs on a request path.

use super::image::{self, Expect, Image, Lists, SegRecord, State};
use super::{geometry, Shard, Store, MIN_SEGMENTS_FOR_SPARE};
use crate::clock::Clock;
use crate::config::{StoreConfig, StoreError};
use crate::heap::Heap;
use crate::holes::Roomy;
use crate::layout;
use crate::memory_file::{self, Filesystem};
use crate::restart_data::{ExtraSection, Refusal, Writer, COLD_TIER_SECTION, RUNNING, STORE_TAGS};
use crate::segments::{Pool, Segment, FREE, OPEN, RECLAIMING, SEALED};
use crate::ttl;
use parking_lot::Mutex;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// What `open_memory_file` found.
#[derive(Debug)]
pub struct Opened {
    pub restore: Restore,
    /// What the memory file is on: warn when it is not memory (`Filesystem::is_slow`).
    pub filesystem: Filesystem,
}

/// Whether the cache came back.
#[derive(Debug)]
pub enum Restore {
    /// Every live item of the last clean stop is back.
    Restored {
        /// Items and bytes back (items that expired while stopped are not counted once
        /// their segments are reclaimed, which the first sweep does at once for segments
        /// whose newest item expired).
        items: u64,
        bytes: u64,
        /// From the call to the store being ready, checksums included.
        took: Duration,
        /// Sections saved for someone else (`ExtraSection`), in the order written.
        extra: Vec<ExtraSection>,
        /// Items whose value was in the disk tier, dropped because the tier's index was
        /// not saved (or the caller does not take `DISK`). When both are there they are
        /// kept until the tier's verdict instead (`Store::external_pending`).
        dropped_external: u64,
    },
    /// The store starts empty, for this reason.
    Empty(Refusal),
}

/// What `save` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub items: u64,
    pub bytes: u64,
    /// Size of `FILE.meta`.
    pub meta_bytes: u64,
    pub took: Duration,
}

/// Why `save` wrote nothing (the restart data stays a running marker, so the next start
/// is empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaveError {
    #[error("the store has no memory file (-e)")]
    NoMemoryFile,
    #[error("the store is still in use ({0}); stop every worker before saving")]
    Busy(String),
    #[error("extra section {0:?}: {1}")]
    BadSection(String, &'static str),
    #[error("cannot write the restart data {0}")]
    Io(String),
}

impl Store {
    /// A store whose heap is a shared mapping of the memory file `path` (`-e`), taking back
    /// the cache of the last clean stop when it can. `known_sections`: the tags of extra
    /// sections the caller will take (a required one not listed refuses the restart).
    ///
    /// Errors only when the file cannot be used at all (cannot be opened, is locked by
    /// another process, does not fit its filesystem, or the running marker cannot be
    /// written); every reason not to restore starts empty instead, in `Opened::restore`.
    pub fn open_memory_file(
        cfg: StoreConfig,
        clock: Arc<dyn Clock>,
        path: &Path,
        known_sections: &[[u8; 4]],
    ) -> Result<(Store, Opened), StoreError> {
        let start = Instant::now();
        let (seg_size, nsegs) = geometry(&cfg)?;
        let len = seg_size * nsegs;
        let file = memory_file::open(path)?;
        let filesystem = memory_file::filesystem(&file, path);
        let settings = image::settings(&cfg, seg_size, nsegs);
        let expect = Expect {
            settings: &settings,
            seg_size,
            nsegs,
            known_extra: known_sections,
        };
        let found = read_restart_data(path, &file, len, &expect);
        let (heap, found) = match found {
            Ok(img) => {
                memory_file::check_room(&file, path, len)?;
                let heap = Heap::shared(file, len)?;
                match verify_heap(&heap, seg_size, cfg.cas_enabled, &img) {
                    Ok(external) => (heap, Ok((img, external))),
                    Err(why) => (fresh_heap(heap.into_file(), path, len)?, Err(why)),
                }
            }
            Err(why) => (fresh_heap(Some(file), path, len)?, Err(why)),
        };
        // From here on the heap may change: a crash must not be taken for a clean stop.
        mark_running(path)?;
        let memory_file = Some(path.to_path_buf());
        let (store, restore) = match found {
            Ok((img, external)) => {
                let (store, extra) = Store::restored(cfg, clock, heap, seg_size, img, memory_file);
                // Items whose value is on disk wait for the disk tier's verdict when it
                // saved its index and the caller takes it (`reattach`); otherwise they go
                // now, before anyone can ask the tier for them.
                let tier_saved = extra.iter().any(|x| x.tag == COLD_TIER_SECTION);
                let dropped_external = if tier_saved && known_sections.contains(&COLD_TIER_SECTION)
                {
                    store
                        .external_pending
                        .store(!external.is_empty(), Ordering::Relaxed);
                    0
                } else {
                    store.drop_external_at(&external)
                };
                // Segments whose items all expired (or were flushed) while stopped go now.
                store.sweep_at(store.clock.now());
                let s = store.stats();
                let restore = Restore::Restored {
                    items: s.curr_items,
                    bytes: s.bytes,
                    took: start.elapsed(),
                    extra,
                    dropped_external,
                };
                (store, restore)
            }
            Err(why) => (
                Store::empty(cfg, clock, heap, seg_size, nsegs, memory_file),
                Restore::Empty(why),
            ),
        };
        Ok((
            store,
            Opened {
                restore,
                filesystem,
            },
        ))
    }

    /// The clean stop: writes the restart data for the memory file, with `extra` sections
    /// carried for someone else, after syncing the heap. Call it once every thread using
    /// the store has stopped, as the last thing done with the store: a change after it
    /// makes the next start's checksums fail (and start empty). It takes every lock while
    /// it reads, so a straggler waits instead of tearing the snapshot.
    pub fn save(&self, extra: &[ExtraSection]) -> Result<Saved, SaveError> {
        let start = Instant::now();
        let path = self.memory_file.as_deref().ok_or(SaveError::NoMemoryFile)?;
        for x in extra {
            let name = String::from_utf8_lossy(&x.tag).into_owned();
            if STORE_TAGS.contains(&x.tag) || &x.tag == b"END " {
                return Err(SaveError::BadSection(name, "the store's own tag"));
            }
            if !x.tag.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                return Err(SaveError::BadSection(name, "not four ASCII characters"));
            }
        }
        // Every lock a writer takes, in an order no operation contradicts: buckets, then
        // the shards, then the holes of each bucket, then the pool (allocation takes a
        // bucket then the pool; an unlink, a shard then a bucket's holes then the pool;
        // none holds a shard while taking a bucket, or the pool while taking anything).
        let buckets: Vec<_> = self.buckets.iter().map(|b| b.lock()).collect();
        let tables: Vec<_> = self.shards.iter().map(|s| s.table.write()).collect();
        let _roomy: Vec<_> = self.roomy.iter().map(|r| r.lock()).collect();
        let pool = self.pool.lock();
        if let Some(i) = self
            .segs
            .iter()
            .position(|s| s.state.load(Ordering::Acquire) == RECLAIMING)
        {
            return Err(SaveError::Busy(format!("segment {i} is being reclaimed")));
        }
        let spans: Vec<(usize, usize)> = self
            .segs
            .iter()
            .enumerate()
            .map(|(i, s)| match s.state.load(Ordering::Acquire) {
                OPEN | SEALED => (i * self.seg_size, s.write_off.load(Ordering::Acquire)),
                _ => (i * self.seg_size, 0),
            })
            .collect();
        let crcs = checksums(&self.heap, &spans);
        let segs: Vec<SegRecord> = self
            .segs
            .iter()
            .zip(crcs)
            .map(|(s, crc)| {
                let state = s.state.load(Ordering::Relaxed);
                SegRecord {
                    state,
                    warm: s.warm.load(Ordering::Relaxed),
                    bucket: s.bucket.load(Ordering::Relaxed),
                    opened: s.opened.load(Ordering::Relaxed),
                    write_off: s.write_off.load(Ordering::Relaxed),
                    max_deadline: s.max_deadline.load(Ordering::Relaxed),
                    last_write: s.last_write.load(Ordering::Relaxed),
                    max_cas: s.max_cas.load(Ordering::Relaxed),
                    // A free segment's counters are stale leftovers.
                    live: if state == FREE {
                        0
                    } else {
                        s.live.load(Ordering::Relaxed)
                    },
                    live_bytes: if state == FREE {
                        0
                    } else {
                        s.live_bytes.load(Ordering::Relaxed)
                    },
                    crc,
                }
            })
            .collect();
        let lists = Lists {
            // Segments still draining are free once the process is gone: no pin survives.
            free: pool.free.iter().chain(&pool.draining).copied().collect(),
            sealed: pool.sealed.iter().copied().collect(),
            spare: pool.spare,
            open: buckets
                .iter()
                .enumerate()
                .filter_map(|(b, open)| open.map(|s| (b, s)))
                .collect(),
        };
        let state = State {
            epoch: self.epoch,
            seed: self.seed,
            next_cas: self.next_cas.load(Ordering::Relaxed),
            oldest_live: self.oldest_live.load(Ordering::Relaxed),
            oldest_cas: self.oldest_cas.load(Ordering::Relaxed),
            saved_at: self.clock.now(),
        };
        let io = |what: &str, e: std::io::Error| SaveError::Io(format!("{what}: {e}"));
        self.heap
            .sync()
            .map_err(|e| io(&format!("(syncing {})", path.display()), e))?;
        let settings = image::settings(&self.cfg, self.seg_size, self.segs.len());
        let refs: Vec<&crate::index::Table> = tables.iter().map(|t| &**t).collect();
        let meta = memory_file::meta_path(path);
        let meta_bytes = memory_file::replace(&meta, |w| {
            image::write(w, &settings, &state, &segs, &lists, &refs, extra)
        })
        .map_err(|e| io(&meta.display().to_string(), e))?;
        let (items, bytes) = refs
            .iter()
            .fold((0, 0), |(i, b), t| (i + t.items as u64, b + t.bytes as u64));
        Ok(Saved {
            items,
            bytes,
            meta_bytes,
            took: start.elapsed(),
        })
    }

    /// Unlinks the restored items at `offsets` (checked by `verify_heap`: each the start of
    /// an indexed external item) and answers how many went. Before the store serves.
    pub(super) fn drop_external_at(&self, offsets: &[usize]) -> u64 {
        let mut dropped = 0;
        for &off in offsets {
            let it = self.item(off);
            // SAFETY: `verify_heap` found a whole external item here, linked in the index,
            // and nothing else uses the store yet.
            let (key, location) = unsafe { (it.key(), it.location()) };
            dropped += u64::from(self.unlink_external(key, location));
        }
        dropped
    }

    /// The store that restart data describes, and the extra sections it carried.
    fn restored(
        cfg: StoreConfig,
        clock: Arc<dyn Clock>,
        heap: Heap,
        seg_size: usize,
        img: Image,
        memory_file: Option<std::path::PathBuf>,
    ) -> (Store, Vec<ExtraSection>) {
        let Image {
            state,
            segs: records,
            lists,
            tables,
            extra,
            entries: _,
        } = img;
        let segs: Box<[Segment]> = records
            .iter()
            .map(|r| {
                let s = Segment::default();
                s.state.store(r.state, Ordering::Relaxed);
                s.warm.store(r.warm, Ordering::Relaxed);
                s.bucket.store(r.bucket, Ordering::Relaxed);
                s.opened.store(r.opened, Ordering::Relaxed);
                s.write_off.store(r.write_off, Ordering::Relaxed);
                s.max_deadline.store(r.max_deadline, Ordering::Relaxed);
                s.last_write.store(r.last_write, Ordering::Relaxed);
                s.max_cas.store(r.max_cas, Ordering::Relaxed);
                s.live.store(r.live, Ordering::Relaxed);
                s.live_bytes.store(r.live_bytes, Ordering::Relaxed);
                s
            })
            .collect();
        let mut pool = Pool {
            free: lists.free,
            sealed: lists.sealed.into(),
            draining: Vec::new(),
            spare: lists.spare,
        };
        // -M may have changed: only an evicting store keeps a spare.
        let wants_spare = cfg.evict && segs.len() >= MIN_SEGMENTS_FOR_SPARE;
        match pool.spare {
            Some(s) if !wants_spare => {
                pool.free.push(s);
                pool.spare = None;
            }
            None if wants_spare => pool.spare = pool.free.pop(),
            _ => {}
        }
        let buckets: Box<[Mutex<Option<u32>>]> =
            (0..ttl::OPEN_BUCKETS).map(|_| Mutex::new(None)).collect();
        for (b, s) in lists.open {
            *buckets[b].lock() = Some(s);
        }
        let shards = tables.into_iter().map(Shard::new).collect();
        // New CAS values above every old one, whatever the counter said.
        let max_cas = records.iter().map(|r| r.max_cas).max().unwrap_or(0);
        let now = clock.now();
        let store = Store {
            cfg: StoreConfig {
                segment_size: seg_size,
                ..cfg
            },
            clock,
            epoch: state.epoch,
            seed: state.seed,
            heap,
            seg_size,
            segs,
            pool: Mutex::new(pool),
            buckets,
            // Holes are not kept: dead large items' room is garbage until their segment
            // is compacted or reclaimed, as any other dead item's.
            roomy: (0..ttl::OPEN_BUCKETS)
                .map(|_| Mutex::new(Roomy::default()))
                .collect(),
            shards,
            next_cas: AtomicU64::new(state.next_cas.max(max_cas.saturating_add(1)).max(1)),
            oldest_live: AtomicU64::new(state.oldest_live),
            oldest_cas: AtomicU64::new(state.oldest_cas),
            held_segments: AtomicUsize::new(0),
            last_sweep: AtomicU64::new(now),
            cold: OnceLock::new(),
            external_pending: std::sync::atomic::AtomicBool::new(false),
            eviction_watch: OnceLock::new(),
            memory_file,
        };
        (store, extra)
    }
}

/// Reads `FILE.meta` and checks it against this run and the memory file's size.
fn read_restart_data(
    path: &Path,
    file: &File,
    len: usize,
    expect: &Expect<'_>,
) -> Result<Image, Refusal> {
    let meta = memory_file::meta_path(path);
    let f = match File::open(&meta) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refusal::Missing),
        Err(e) => return Err(Refusal::Unreadable(format!("{}: {e}", meta.display()))),
    };
    let meta_len = f
        .metadata()
        .map_err(|e| Refusal::Unreadable(format!("{}: {e}", meta.display())))?
        .len();
    let img = image::read(BufReader::with_capacity(1 << 20, f), meta_len, expect)?;
    let have = file
        .metadata()
        .map_err(|e| Refusal::Unreadable(format!("{}: {e}", path.display())))?
        .len();
    if have != len as u64 {
        let what = format!(
            "the memory file {} is {have} bytes, the restart data describes {len}",
            path.display()
        );
        return Err(if have < len as u64 {
            Refusal::Truncated(what)
        } else {
            Refusal::Corrupt(what)
        });
    }
    Ok(img)
}

/// Checks the heap against the restart data before the store believes a byte of it: every
/// written segment matches its checksum, its items follow each other exactly up to its
/// write offset (each header read with bounds checks), and every index entry points at
/// the start of one of them. So whatever the files hold, no item read can leave its
/// segment. One sequential pass over the written bytes, on every core. Answers where the
/// indexed items whose value is in the disk tier are (heap offsets).
fn verify_heap(
    heap: &Heap,
    seg_size: usize,
    cas: bool,
    img: &Image,
) -> Result<Vec<usize>, Refusal> {
    let segs = &img.segs;
    let bad =
        |i: usize, what: &str| Refusal::Corrupt(format!("segment {i} of the memory file {what}"));
    // Per segment: the bytes of its indexed items (what the index counts), and where those
    // whose value is in the disk tier are.
    let check =
        |i: usize, r: &SegRecord, seen: &mut Vec<u64>, found: &mut Found| -> Result<(), Refusal> {
            if !matches!(r.state, OPEN | SEALED) || r.write_off == 0 {
                return Ok(());
            }
            // SAFETY: the store is not serving yet; nothing else maps the file (it is locked).
            let bytes = unsafe { heap.bytes(i * seg_size, r.write_off) };
            // Checksum first, then the walk: measured, two passes cost less CPU than one
            // that interleaves them (the checksum runs best over a whole segment at once).
            if crc32c::crc32c(bytes) != r.crc {
                return Err(bad(i, "does not match its checksum"));
            }
            seen.clear();
            seen.resize(r.write_off.div_ceil(64), 0);
            let mut at = 0;
            while at < r.write_off {
                let size = layout::checked_size(&bytes[at..], cas)
                    .ok_or_else(|| bad(i, &format!("has no whole item at byte {at}")))?;
                // A large item occupies whole granules; a filler (the unused end of a hole a
                // large item was written into) is walked over but never indexed.
                let span = layout::span(size);
                if span > r.write_off - at {
                    return Err(bad(i, &format!("has no whole item at byte {at}")));
                }
                if !layout::is_filler(&bytes[at..]) {
                    seen[at / 64] |= 1 << (at % 64);
                }
                at += span;
            }
            let mut spans = 0;
            for &e in img.entries.of(i) {
                let e = e as usize;
                if seen[e / 64] & (1 << (e % 64)) == 0 {
                    return Err(bad(i, &format!("has no item where the index points ({e})")));
                }
                // Checked by the walk above.
                let size = layout::checked_size(&bytes[e..], cas).unwrap_or(0);
                found.bytes += size;
                spans += layout::span(size);
                if layout::external_bits(bytes[e]) {
                    found.external.push(i * seg_size + e);
                }
            }
            if spans != r.live_bytes {
                return Err(bad(
                    i,
                    &format!(
                        "holds {spans} bytes of indexed items, its record says {}",
                        r.live_bytes
                    ),
                ));
            }
            Ok(())
        };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = segs.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let jobs: Vec<_> = segs
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                let check = &check;
                scope.spawn(move || {
                    let (mut seen, mut found) = (Vec::new(), Found::default());
                    part.iter()
                        .enumerate()
                        .try_for_each(|(j, r)| check(c * chunk + j, r, &mut seen, &mut found))
                        .map(|()| found)
                })
            })
            .collect();
        let mut all = Found::default();
        for j in jobs {
            let part = j
                .join()
                .unwrap_or_else(|_| Err(Refusal::Corrupt("a check panicked".into())))?;
            all.bytes += part.bytes;
            all.external.extend(part.external);
        }
        let counted: usize = img.tables.iter().map(|t| t.bytes).sum();
        if all.bytes != counted {
            return Err(Refusal::Corrupt(format!(
                "the index counts {counted} bytes of items, the heap holds {}",
                all.bytes
            )));
        }
        Ok(all.external)
    })
}

/// What `verify_heap` found in the segments it checked.
#[derive(Default)]
struct Found {
    /// Bytes of the indexed items (their sizes, as the index counts them).
    bytes: usize,
    /// Heap offsets of the indexed items whose value is in the disk tier.
    external: Vec<usize>,
}

/// CRC32C of each heap span (0 for an empty one), on as many threads as there are cores:
/// a full 4 GiB heap is about 0.8 s of checksumming on one.
fn checksums(heap: &Heap, spans: &[(usize, usize)]) -> Vec<u32> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = spans.len().div_ceil(threads).max(1);
    let mut out = vec![0u32; spans.len()];
    std::thread::scope(|scope| {
        for (spans, out) in spans.chunks(chunk).zip(out.chunks_mut(chunk)) {
            scope.spawn(move || {
                for (&(off, len), crc) in spans.iter().zip(out) {
                    if len > 0 {
                        // SAFETY: nothing writes the heap meanwhile: at start it is not
                        // serving yet, at a clean stop `save` holds every lock and the
                        // caller has stopped every thread that could write.
                        *crc = crc32c::crc32c(unsafe { heap.bytes(off, len) });
                    }
                }
            });
        }
    });
    out
}

/// The memory file emptied (`len` bytes of holes) and mapped.
fn fresh_heap(file: Option<File>, path: &Path, len: usize) -> Result<Heap, StoreError> {
    let file = match file {
        Some(f) => f,
        None => memory_file::open(path)?,
    };
    memory_file::reset(&file, path, len)?;
    memory_file::check_room(&file, path, len)?;
    Heap::shared(file, len)
}

/// Replaces the restart data by a running store's marker.
fn mark_running(path: &Path) -> Result<(), StoreError> {
    let meta = memory_file::meta_path(path);
    memory_file::replace(&meta, |w| Ok(Writer::new(w, RUNNING)?.finish()?.1))
        .map(|_| ())
        .map_err(|e| {
            StoreError::MemoryFile(format!(
                "cannot write the running marker {}: {e}",
                meta.display()
            ))
        })
}

#[cfg(test)]
mod tests;
