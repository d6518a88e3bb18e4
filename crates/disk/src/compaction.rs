//! The maintenance thread: frees emptied pages, drops the oldest page when a group of
//! pages has none free, and compacts fragmented pages by asking the owner, record by
//! record, whether each is still live where it lies.
//!
//! ```
//! use disk::{Fate, Found, Mover, Owner};
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//!
//! /// An owner keeping key -> location in a map.
//! struct MapOwner(Mutex<HashMap<Vec<u8>, disk::Location>>);
//!
//! impl Owner for MapOwner {
//!     fn compacting(&self, found: &Found<'_>, mover: &mut Mover<'_>) -> Fate {
//!         // Hold the lock across the check and the update: the key cannot move between.
//!         let mut map = self.0.lock().unwrap();
//!         match map.get_mut(found.record.key()) {
//!             Some(loc) if *loc == found.at => match mover.rewrite() {
//!                 Ok(new) => { *loc = new; Fate::Rescued }
//!                 Err(_) => { map.remove(found.record.key()); Fate::Lost }
//!             },
//!             _ => Fate::Dead,
//!         }
//!     }
//! }
//! # let _ = MapOwner(Mutex::new(HashMap::new()));
//! ```
//!
//! Compaction reads a page one write-buffer-sized region at a time (the region's
//! records, then its zeroed tail), so it needs one buffer of `ext_wbuf_size` however
//! large pages are. Survivors go to the compaction bucket's pages: objects that
//! survived once tend to survive again, and keeping them together keeps those pages
//! full. When the whole page has been walked it is closed and freed.

use crate::config::Bucket;
use crate::engine::{Object, Shared, WriteError};
use crate::location::Location;
use crate::page_header::{PageHeader, PAGE_HEADER};
use crate::pages::Candidate;
use crate::record::{Record, Records};
use crate::stats::Counters;
use channel::Outcome;
use std::sync::atomic::Ordering::Relaxed;

/// Pages compacted per wake-up at most, so that a configuration where compaction gains
/// little (pages that can never be more than `max_frag` full) cannot spin.
const PAGES_PER_PASS: usize = 16;

/// What a record found by compaction turned out to be, as the owner answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Not the live copy (overwritten, deleted, expired): nothing to do.
    Dead,
    /// Live and rewritten with [`Mover::rewrite`]; the owner now points at the new
    /// location (`extstore_compact_rescues`).
    Rescued,
    /// Live but dropped because unread ([`Found::drop_unread`]); the owner unlinked it
    /// (`extstore_compact_skipped`).
    Skipped,
    /// Live, but the rewrite failed; the owner unlinked it (`extstore_compact_lost`).
    Lost,
}

/// A record compaction found.
#[derive(Debug)]
pub struct Found<'a> {
    /// The record (key, metadata, value), checksum verified.
    pub record: Record<'a>,
    /// Where it lies.
    pub at: Location,
    /// Compaction may drop live objects the owner has not read lately
    /// (`ext_drop_unread`, with few pages free).
    pub drop_unread: bool,
}

/// Rewrites a found record into the compaction bucket.
#[derive(Debug)]
pub struct Mover<'a> {
    shared: &'a Shared,
    record: &'a [u8],
    moved: Option<(Location, u64)>,
}

impl Mover<'_> {
    /// Copies the record to a new place and returns it. Call it while holding whatever
    /// lock makes "still live at `at`" and "now at the new place" one step for the
    /// owner. Waits briefly if write buffers are busy.
    pub fn rewrite(&mut self) -> Result<Location, WriteError> {
        let loc = self
            .shared
            .write_patiently(Bucket::Compact, Object::Encoded(self.record))?;
        self.moved = Some((loc, self.record.len() as u64));
        Ok(loc)
    }
}

/// Whoever keeps the locations (the cache): compaction asks it about each record.
pub trait Owner: Send + Sync + 'static {
    /// Called for each record on a page being compacted, on the maintenance thread, with
    /// no engine lock held. If the owner still points at `found.at` and wants to keep
    /// the object, it calls `mover.rewrite()` and points at the returned location. A
    /// rewrite followed by any answer but `Rescued` is undone by the engine.
    fn compacting(&self, found: &Found<'_>, mover: &mut Mover<'_>) -> Fate;
}

/// The maintenance thread's loop.
pub(crate) fn run(shared: &Shared, owner: &dyn Owner) {
    let mut region = Vec::new();
    while !shared.stopping.load(Relaxed) {
        shared.maintenance_sleep();
        for _ in 0..PAGES_PER_PASS {
            if shared.stopping.load(Relaxed) {
                return;
            }
            let candidate = {
                let mut pages = shared.pages.lock();
                pages.sweep();
                for (id, seq) in pages.starved() {
                    pages.evict(id, seq);
                }
                pages.candidate(shared.tuning.thresholds())
            };
            let Some(candidate) = candidate else {
                break;
            };
            if region.is_empty() {
                region = vec![0u8; shared.wbuf_size];
            }
            compact(shared, owner, candidate, &mut region);
        }
    }
}

/// Walks one page, offering each record to the owner, then closes the page.
fn compact(shared: &Shared, owner: &dyn Owner, c: Candidate, region: &mut [u8]) {
    let (mut rescues, mut lost, mut skipped) = (0, 0, 0);
    let mut start = 0u64;
    let mut walked = true;
    while start < shared.page_size {
        if shared.stopping.load(Relaxed) {
            walked = false; // leave the page as it is for a restart to find
            break;
        }
        let Some((file, base)) = shared.pages.lock().pin_for_compaction(c.page, c.seq) else {
            walked = false; // dropped meanwhile: nothing left to save
            break;
        };
        let outcome = shared.files[usize::from(file)].read_exact_at(region, base + start);
        shared.pages.lock().unpin(c.page);
        let readable = matches!(outcome, Outcome::Done(_))
            && (start > 0 || PageHeader::decode(region).is_some_and(|h| h.seq == c.seq));
        if !readable {
            // The page cannot be walked: drop it rather than try again forever.
            Counters::add(&shared.counters.read_errors, 1);
            shared.pages.lock().evict(c.page, c.seq);
            walked = false;
            break;
        }
        let first = if start == 0 { PAGE_HEADER } else { 0 };
        for (offset, record) in Records::new(region, first) {
            let Ok(record) = record else {
                break;
            };
            if shared.stopping.load(Relaxed) {
                // A rewrite would fail now and the owner would drop a live object.
                walked = false;
                break;
            }
            let found = Found {
                record,
                at: Location::new(c.page, c.seq, start + offset as u64),
                drop_unread: c.drop_unread,
            };
            match offer(shared, owner, &found) {
                Fate::Dead => {}
                Fate::Rescued => rescues += 1,
                Fate::Skipped => skipped += 1,
                Fate::Lost => lost += 1,
            }
        }
        start += shared.wbuf_size as u64;
    }
    let c_ = &shared.counters;
    Counters::add(&c_.compact_rescues, rescues);
    Counters::add(&c_.compact_lost, lost);
    Counters::add(&c_.compact_skipped, skipped);
    if walked {
        shared.pages.lock().close(c.page, c.seq);
    }
}

fn offer(shared: &Shared, owner: &dyn Owner, found: &Found<'_>) -> Fate {
    let record: Record<'_> = found.record;
    let mut mover = Mover {
        shared,
        record: record.bytes(),
        moved: None,
    };
    let fate = owner.compacting(found, &mut mover);
    if fate != Fate::Rescued {
        if let Some((loc, len)) = mover.moved {
            shared.pages.lock().release(loc, len);
        }
    }
    fate
}
