//! The page table: every page's state, allocation number and live counts, in RAM, under
//! one lock. Releasing an object is a few arithmetic operations here, never IO.
//!
//! A page's life:
//!
//! ```text
//! Free --allocate--> Open --seal--> Sealed --evict / close--> Closed --last reader--> Free
//!                                      \--last object released, nothing in flight--> Free
//! ```
//!
//! `Open`: a bucket's writer is filling it. `Sealed`: full; once its last write buffer
//! is on disk it is *inactive* and may be compacted or evicted. `Closed`: evicted (its
//! objects become misses) or compacted (its live objects were rewritten elsewhere);
//! reads already reading it finish, new ones are refused, and it is freed when the last
//! one is done. Every location carries the page's allocation number (its low bits), so
//! a location into a page freed and allocated again is refused as stale.

use crate::config::{Bucket, DiskConfig};
use crate::location::Location;
use crate::page_header::PAGE_HEADER;
use crate::restart::SavedPage;
use crate::write_buffer::{Region, WriteBuffer};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Free,
    Open,
    Sealed,
    Closed,
}

#[derive(Debug)]
pub(crate) struct Page {
    file: u16,
    file_offset: u64,
    free_bucket: Bucket,
    state: State,
    seq: u64,
    bucket: Bucket,
    objects: u64,
    bytes: u64,
    readers: u32,
    /// Write buffers of this page not yet on disk (the open one included).
    regions: Vec<Region>,
}

impl Page {
    fn inactive_sealed(&self) -> bool {
        self.state == State::Sealed && self.regions.is_empty()
    }
}

/// Where a read finds its bytes.
#[derive(Debug)]
pub(crate) enum Source {
    /// In a write buffer, at this offset in it.
    Memory(Arc<WriteBuffer>, usize),
    /// In a file, at this position; the page is pinned until `unpin`.
    File { file: u16, pos: u64 },
}

/// Totals kept under the page-table lock.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    pub(crate) page_allocs: u64,
    pub(crate) page_evictions: u64,
    pub(crate) page_reclaims: u64,
    pub(crate) objects_evicted: u64,
    pub(crate) bytes_evicted: u64,
    pub(crate) objects_written: u64,
    pub(crate) bytes_written: u64,
    pub(crate) objects_used: u64,
    pub(crate) bytes_used: u64,
}

/// One page as `stats extstore` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageData {
    /// Allocation number; 0 when free.
    pub version: u64,
    /// Live bytes.
    pub bytes_used: u64,
    /// Bucket written to (0 unless it holds live objects).
    pub bucket: u8,
    /// Bucket whose writes take this page first (from its file).
    pub free_bucket: u8,
    /// Being written to, or holding write buffers not yet on disk.
    pub active: bool,
}

/// What compaction should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) page: u16,
    pub(crate) seq: u64,
    pub(crate) drop_unread: bool,
}

/// The compaction tunables at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thresholds {
    pub(crate) compact_under: u64,
    pub(crate) drop_under: u64,
    pub(crate) max_frag: f64,
    pub(crate) drop_unread: bool,
}

#[derive(Debug)]
pub(crate) struct PageTable {
    pages: Vec<Page>,
    /// Free page ids per free bucket, popped from the end.
    free: [Vec<u16>; 4],
    next_seq: u64,
    page_size: u64,
    wbuf_size: u64,
    pub(crate) totals: Totals,
}

impl PageTable {
    /// Every page free. Pages are dealt to files in turn (page 0 from the first file,
    /// page 1 from the second, ...) so consecutive allocations spread over devices.
    pub(crate) fn new(config: &DiskConfig) -> PageTable {
        let mut left = config.pages_per_file();
        let mut next_offset = vec![0u64; left.len()];
        let mut pages = Vec::new();
        let mut file = 0;
        while left.iter().any(|&n| n > 0) {
            if left[file] > 0 {
                left[file] -= 1;
                pages.push(Page {
                    file: file as u16,
                    file_offset: next_offset[file],
                    free_bucket: config.files[file].free_bucket,
                    state: State::Free,
                    seq: 0,
                    bucket: Bucket::Default,
                    objects: 0,
                    bytes: 0,
                    readers: 0,
                    regions: Vec::new(),
                });
                next_offset[file] += config.page_size;
            }
            file = (file + 1) % left.len();
        }
        let mut table = PageTable {
            pages,
            free: Default::default(),
            next_seq: 1,
            page_size: config.page_size,
            wbuf_size: config.wbuf_size,
            totals: Totals::default(),
        };
        table.rebuild_free_lists();
        table
    }

    pub(crate) fn len(&self) -> usize {
        self.pages.len()
    }

    /// File and file position of a page (fixed for the engine's life).
    pub(crate) fn place(&self, page: u16) -> (u16, u64) {
        let p = &self.pages[usize::from(page)];
        (p.file, p.file_offset)
    }

    pub(crate) fn free_pages(&self) -> u64 {
        self.free.iter().map(|f| f.len() as u64).sum()
    }

    /// A free page for `bucket` (its own free pages first, then the default ones), now
    /// `Open` with a fresh allocation number.
    pub(crate) fn allocate(&mut self, bucket: Bucket) -> Option<(u16, u64)> {
        let id = match self.free[bucket.index()].pop() {
            Some(id) => id,
            None => self.free[Bucket::Default.index()].pop()?,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let page = &mut self.pages[usize::from(id)];
        page.state = State::Open;
        page.seq = seq;
        page.bucket = bucket;
        self.totals.page_allocs += 1;
        Some((id, seq))
    }

    /// No page is free for `bucket`: drops the oldest inactive page it could use. True
    /// if that freed a page now; false if none could be dropped or the dropped one (or
    /// one dropped before) still has reads in flight.
    pub(crate) fn evict_for(&mut self, bucket: Bucket) -> bool {
        let usable = |p: &Page| p.free_bucket == bucket || p.free_bucket == Bucket::Default;
        if self
            .pages
            .iter()
            .any(|p| p.state == State::Closed && usable(p))
        {
            return false; // one is already draining: wait for it rather than drop more
        }
        let oldest = self
            .pages
            .iter()
            .enumerate()
            .filter(|(_, p)| p.inactive_sealed() && usable(p))
            .min_by_key(|(_, p)| p.seq)
            .map(|(id, p)| (id as u16, p.seq));
        match oldest {
            Some((id, seq)) => self.evict(id, seq),
            None => false,
        }
    }

    /// Drops a page's objects (they become misses). True if it is free now.
    pub(crate) fn evict(&mut self, id: u16, seq: u64) -> bool {
        let page = &mut self.pages[usize::from(id)];
        if !page.inactive_sealed() || page.seq != seq {
            return false;
        }
        self.totals.page_evictions += 1;
        self.totals.objects_evicted += page.objects;
        self.totals.bytes_evicted += page.bytes;
        self.close_page(id)
    }

    /// Compaction is done with a page: its survivors live elsewhere now. True if freed.
    pub(crate) fn close(&mut self, id: u16, seq: u64) -> bool {
        let page = &self.pages[usize::from(id)];
        if !page.inactive_sealed() || page.seq != seq {
            return false;
        }
        self.close_page(id)
    }

    fn close_page(&mut self, id: u16) -> bool {
        let page = &mut self.pages[usize::from(id)];
        self.totals.objects_used -= page.objects;
        self.totals.bytes_used -= page.bytes;
        page.objects = 0;
        page.bytes = 0;
        page.state = State::Closed;
        self.maybe_free(id)
    }

    /// Frees a page nothing needs any more. True if it was freed.
    fn maybe_free(&mut self, id: u16) -> bool {
        let page = &mut self.pages[usize::from(id)];
        let unused = page.readers == 0 && page.regions.is_empty();
        let done =
            page.state == State::Closed || (page.state == State::Sealed && page.objects == 0);
        if !(unused && done) {
            return false;
        }
        self.totals.objects_used -= page.objects;
        self.totals.bytes_used -= page.bytes;
        page.objects = 0;
        page.bytes = 0;
        page.state = State::Free;
        page.seq = 0;
        page.bucket = Bucket::Default;
        self.totals.page_reclaims += 1;
        self.free[page.free_bucket.index()].push(id);
        true
    }

    /// Frees every page that can be (pages emptied by releases while still in flight).
    pub(crate) fn sweep(&mut self) {
        for id in 0..self.pages.len() {
            if matches!(self.pages[id].state, State::Sealed | State::Closed) {
                self.maybe_free(id as u16);
            }
        }
    }

    /// The writer stored `len` bytes on an open page.
    pub(crate) fn add_object(&mut self, id: u16, len: u64) {
        let page = &mut self.pages[usize::from(id)];
        page.objects += 1;
        page.bytes += len;
        let t = &mut self.totals;
        t.objects_written += 1;
        t.bytes_written += len;
        t.objects_used += 1;
        t.bytes_used += len;
    }

    fn live(&self, loc: Location) -> Option<&Page> {
        let page = self.pages.get(usize::from(loc.page()))?;
        let readable = matches!(page.state, State::Open | State::Sealed);
        (readable && loc.matches(page.seq)).then_some(page)
    }

    /// True if `loc` is in a page still holding what was written there.
    pub(crate) fn is_current(&self, loc: Location) -> bool {
        self.live(loc).is_some()
    }

    /// The owner forgot an object of `len` bytes. False if its page was since dropped
    /// or reused (nothing to do).
    pub(crate) fn release(&mut self, loc: Location, len: u64) -> bool {
        if self.live(loc).is_none() {
            return false;
        }
        let id = loc.page();
        let page = &mut self.pages[usize::from(id)];
        let objects = page.objects.min(1);
        let bytes = page.bytes.min(len);
        page.objects -= objects;
        page.bytes -= bytes;
        self.totals.objects_used -= objects;
        self.totals.bytes_used -= bytes;
        self.maybe_free(id);
        true
    }

    /// Where to read `len` bytes at `loc`, pinning the page for a file read. `None`: the
    /// location is stale (page reused, dropped or compacted) or out of bounds.
    pub(crate) fn pin(&mut self, loc: Location, len: u64) -> Option<Source> {
        let page_size = self.page_size;
        let page = self.live(loc)?;
        let offset = loc.offset();
        if offset.checked_add(len)? > page_size {
            return None;
        }
        let (file, file_offset) = (page.file, page.file_offset);
        let wbuf_size = self.wbuf_size;
        let in_memory = page
            .regions
            .iter()
            .find(|r| r.start <= offset && offset < r.start + wbuf_size);
        if let Some(r) = in_memory {
            // Records never cross a buffer's end; a location claiming one does is bogus.
            if offset + len > r.start + wbuf_size {
                return None;
            }
            return Some(Source::Memory(r.buf.clone(), (offset - r.start) as usize));
        }
        self.pages[usize::from(loc.page())].readers += 1;
        Some(Source::File {
            file,
            pos: file_offset + offset,
        })
    }

    /// Pins an inactive sealed page for compaction's read of `[offset, offset + len)`.
    pub(crate) fn pin_for_compaction(&mut self, id: u16, seq: u64) -> Option<(u16, u64)> {
        let page = self.pages.get_mut(usize::from(id))?;
        if !page.inactive_sealed() || page.seq != seq {
            return None;
        }
        page.readers += 1;
        Some((page.file, page.file_offset))
    }

    /// A file read of a pinned page finished.
    pub(crate) fn unpin(&mut self, id: u16) {
        let page = &mut self.pages[usize::from(id)];
        page.readers -= 1;
        self.maybe_free(id);
    }

    /// A write buffer of an open page now holds records.
    pub(crate) fn push_region(&mut self, region: Region) {
        self.pages[usize::from(region.page)].regions.push(region);
    }

    /// A write buffer is on disk: reads go to the file from now on.
    pub(crate) fn flushed(&mut self, id: u16, buf: &Arc<WriteBuffer>) {
        let page = &mut self.pages[usize::from(id)];
        page.regions.retain(|r| !Arc::ptr_eq(&r.buf, buf));
        self.maybe_free(id);
    }

    /// The writer is done with a page.
    pub(crate) fn seal(&mut self, id: u16) {
        let page = &mut self.pages[usize::from(id)];
        if page.state == State::Open {
            page.state = State::Sealed;
        }
        self.maybe_free(id);
    }

    /// Pages a maintenance pass must drop: for each group of pages sharing a free
    /// bucket, the oldest inactive page when the group has no free page left.
    pub(crate) fn starved(&self) -> Vec<(u16, u64)> {
        let mut out = Vec::new();
        for bucket in Bucket::ALL {
            let group = |p: &&Page| p.free_bucket == bucket;
            if !self.free[bucket.index()].is_empty() || !self.pages.iter().any(|p| group(&p)) {
                continue;
            }
            if self
                .pages
                .iter()
                .filter(group)
                .any(|p| p.state == State::Closed)
            {
                continue; // one is already draining
            }
            let oldest = self
                .pages
                .iter()
                .enumerate()
                .filter(|(_, p)| p.free_bucket == bucket && p.inactive_sealed())
                .min_by_key(|(_, p)| p.seq);
            if let Some((id, p)) = oldest {
                out.push((id as u16, p.seq));
            }
        }
        out
    }

    /// The page compaction should work on, as memcached picks it: in a group with fewer
    /// than `compact_under` free pages, the oldest inactive page whose live bytes are
    /// under `max_frag` of a page; failing that, with `drop_unread` and fewer than
    /// `drop_under` free, the oldest inactive page, dropping what its owner calls
    /// unread. Pages of the low-TTL bucket are left to expire.
    pub(crate) fn candidate(&self, t: Thresholds) -> Option<Candidate> {
        let frag_limit = (self.page_size as f64 * t.max_frag) as u64;
        for bucket in Bucket::ALL {
            let free = self.free[bucket.index()].len() as u64;
            let in_group: Vec<(usize, &Page)> = self
                .pages
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    p.free_bucket == bucket && p.inactive_sealed() && p.bucket != Bucket::LowTtl
                })
                .collect();
            if in_group.is_empty() || free == 0 || free >= t.compact_under {
                continue;
            }
            let fragmented = in_group
                .iter()
                .filter(|(_, p)| p.bytes < frag_limit)
                .min_by_key(|(_, p)| p.seq);
            if let Some((id, p)) = fragmented {
                return Some(Candidate {
                    page: *id as u16,
                    seq: p.seq,
                    drop_unread: false,
                });
            }
            if t.drop_unread && free < t.drop_under {
                if let Some((id, p)) = in_group.iter().min_by_key(|(_, p)| p.seq) {
                    return Some(Candidate {
                        page: *id as u16,
                        seq: p.seq,
                        drop_unread: true,
                    });
                }
            }
        }
        None
    }

    /// The allocation number the next page gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The pages a restart must find again: written to, not dropped, something live.
    pub(crate) fn in_use(&self) -> Vec<SavedPage> {
        self.pages
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p.state, State::Open | State::Sealed) && p.objects > 0)
            .map(|(id, p)| SavedPage {
                id: id as u16,
                seq: p.seq,
                bucket: p.bucket,
            })
            .collect()
    }

    /// Takes back the pages a clean stop saved, on a table with every page free: each is
    /// `Sealed` (its writer is gone: the part of an open page never written stays unused
    /// until the page is compacted or dropped), with nothing counted live yet
    /// ([`PageTable::count_live`]); allocation numbers go on from `next_seq`.
    pub(crate) fn restore(&mut self, saved: &[SavedPage], next_seq: u64) {
        for s in saved {
            let page = &mut self.pages[usize::from(s.id)];
            page.state = State::Sealed;
            page.seq = s.seq;
            page.bucket = s.bucket;
        }
        self.next_seq = self.next_seq.max(next_seq);
        self.rebuild_free_lists();
    }

    /// Counts a live object of `len` bytes at `loc` on a restored page. False (not
    /// counted) if `loc` is not a place a record could have been written on a page in use:
    /// the owner's later read of it is stale and its release does nothing.
    pub(crate) fn count_live(&mut self, loc: Location, len: u64) -> bool {
        let (page_size, wbuf_size) = (self.page_size, self.wbuf_size);
        let Some(page) = self.pages.get_mut(usize::from(loc.page())) else {
            return false;
        };
        let offset = loc.offset();
        let end = offset.saturating_add(len);
        let fits = len > 0
            && offset >= PAGE_HEADER as u64
            && end <= page_size
            && offset / wbuf_size == (end - 1) / wbuf_size;
        if page.state != State::Sealed || !loc.matches(page.seq) || !fits {
            return false;
        }
        page.objects += 1;
        page.bytes += len;
        self.totals.objects_used += 1;
        self.totals.bytes_used += len;
        true
    }

    /// After the counts: a restored page nothing points at is free again (not counted as
    /// a reclaim: this run never used it).
    pub(crate) fn free_unused(&mut self) {
        for page in &mut self.pages {
            if page.state == State::Sealed && page.objects == 0 {
                page.state = State::Free;
                page.seq = 0;
                page.bucket = Bucket::Default;
            }
        }
        self.rebuild_free_lists();
    }

    /// Free lists from the pages' states, lowest ids handed out first (as `new`).
    fn rebuild_free_lists(&mut self) {
        let mut free: [Vec<u16>; 4] = Default::default();
        for (id, page) in self.pages.iter().enumerate().rev() {
            if page.state == State::Free {
                free[page.free_bucket.index()].push(id as u16);
            }
        }
        self.free = free;
    }

    /// Every page for `stats extstore`.
    pub(crate) fn page_data(&self) -> Vec<PageData> {
        self.pages
            .iter()
            .map(|p| PageData {
                version: p.seq,
                bytes_used: p.bytes,
                bucket: if p.objects > 0 && p.state != State::Closed {
                    p.bucket as u8
                } else {
                    0
                },
                free_bucket: p.free_bucket as u8,
                active: p.state == State::Open || !p.regions.is_empty(),
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "pages_tests.rs"]
mod tests;
