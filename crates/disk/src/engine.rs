//! The state every engine thread shares, and the write side: objects copied into the
//! open write buffer of their bucket, full buffers written out by the flusher thread.
//!
//! Lock order, always: a bucket's writer lock, then the page table, then a write
//! buffer's bytes. The flusher and the IO threads take the page table alone, or a
//! buffer's bytes alone, never both at once; no engine lock is held while the owner's
//! compaction callback runs.

use crate::config::{Bucket, DiskConfig, FileSpec};
use crate::location::Location;
use crate::page_header::{PageHeader, PAGE_HEADER};
use crate::pages::PageTable;
use crate::read_buf::ReadPool;
use crate::record::{record_len, Record};
use crate::stats::{Counters, DiskStats};
use crate::tuning::Tuning;
use crate::write_buffer::{Region, WriteBuffer, WriteBufferPool};
use channel::{FileChannel, Outcome};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Why an object was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The record would not fit in one write buffer.
    #[error("object larger than a write buffer")]
    TooLarge,
    /// A key of 0 or more than 255 bytes, or metadata over 255.
    #[error("key or metadata length out of range")]
    BadKey,
    /// Every write buffer is on its way to disk, or no page can be freed right now
    /// (the one being dropped still has reads in flight). Try again shortly.
    #[error("no write buffer or page free right now")]
    Busy,
    /// The engine is stopping.
    #[error("the disk engine is shutting down")]
    ShuttingDown,
}

/// What to write: an object's parts, or a record already encoded (compaction).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Object<'a> {
    Parts {
        key: &'a [u8],
        meta: &'a [u8],
        value: &'a [u8],
    },
    Encoded(&'a [u8]),
}

impl Object<'_> {
    fn len(&self) -> u64 {
        match self {
            Object::Parts { key, meta, value } => record_len(key.len(), meta.len(), value.len()),
            Object::Encoded(bytes) => bytes.len() as u64,
        }
    }

    fn encode(&self, dst: &mut [u8]) {
        match self {
            Object::Parts { key, meta, value } => Record::encode(dst, key, meta, value),
            Object::Encoded(bytes) => dst.copy_from_slice(bytes),
        }
    }
}

/// The page a bucket is filling.
#[derive(Debug)]
struct OpenPage {
    page: u16,
    seq: u64,
    /// Page offset of the next write buffer to take.
    next_region: u64,
    current: Option<Current>,
}

/// The write buffer being filled.
#[derive(Debug)]
struct Current {
    buf: Arc<WriteBuffer>,
    start: u64,
    fill: usize,
}

#[derive(Debug, Default)]
struct FlushState {
    queue: VecDeque<Region>,
    in_flight: usize,
    closed: bool,
}

/// Everything the engine's threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) files: Vec<FileChannel>,
    /// The `ext_path` each file came from (a restart checks them).
    pub(crate) specs: Vec<FileSpec>,
    pub(crate) page_size: u64,
    pub(crate) wbuf_size: usize,
    pub(crate) pages: Mutex<PageTable>,
    writers: [Mutex<Option<OpenPage>>; 4],
    wbufs: WriteBufferPool,
    flush: Mutex<FlushState>,
    flush_work: Condvar,
    flush_idle: Condvar,
    pub(crate) read_pool: Arc<ReadPool>,
    pub(crate) counters: Counters,
    pub(crate) tuning: Tuning,
    pub(crate) stopping: AtomicBool,
    poked: Mutex<bool>,
    poke: Condvar,
    pub(crate) run: u64,
}

impl Shared {
    /// The engine's state over `files`, with `pages` (fresh, or restored) and the run id
    /// new page headers carry.
    pub(crate) fn new(
        config: &DiskConfig,
        files: Vec<FileChannel>,
        pages: PageTable,
        run: u64,
    ) -> Shared {
        let quarter = (pages.len() / 4) as u32;
        let tuning = Tuning::new(
            config.compact_under.unwrap_or(quarter),
            config.drop_under.unwrap_or(quarter),
            config.max_frag,
            config.drop_unread,
        );
        tuning.set_max_sleep_us(u32::try_from(config.max_sleep.as_micros()).unwrap_or(u32::MAX));
        Shared {
            files,
            specs: config.files.clone(),
            page_size: config.page_size,
            wbuf_size: config.wbuf_size as usize,
            pages: Mutex::new(pages),
            writers: Default::default(),
            wbufs: WriteBufferPool::new(
                config.wbuf_size as usize,
                config.wbufs_per_bucket.max(1) * Bucket::ALL.len(),
            ),
            flush: Mutex::new(FlushState::default()),
            flush_work: Condvar::new(),
            flush_idle: Condvar::new(),
            read_pool: ReadPool::new(usize::try_from(config.read_mem).unwrap_or(usize::MAX)),
            counters: Counters::default(),
            tuning,
            stopping: AtomicBool::new(false),
            poked: Mutex::new(false),
            poke: Condvar::new(),
            run,
        }
    }

    /// The largest record one write buffer holds (the first buffer of a page also
    /// holds the page header).
    pub(crate) fn max_record(&self) -> u64 {
        (self.wbuf_size - PAGE_HEADER) as u64
    }

    /// Copies an object into its bucket's open write buffer.
    pub(crate) fn write(&self, bucket: Bucket, object: Object<'_>) -> Result<Location, WriteError> {
        if let Object::Parts { key, meta, .. } = object {
            if !Record::fits(key, meta) {
                return Err(WriteError::BadKey);
            }
        }
        let len = object.len();
        if len > self.max_record() {
            return Err(WriteError::TooLarge);
        }
        if self.stopping.load(Relaxed) {
            return Err(WriteError::ShuttingDown);
        }
        let mut writer = self.writers[bucket.index()].lock();
        loop {
            let open = match writer.as_mut() {
                Some(open) => open,
                None => writer.insert(self.open_page(bucket)?),
            };
            if open.current.is_none() {
                if open.next_region >= self.page_size {
                    self.pages.lock().seal(open.page);
                    *writer = None;
                    continue;
                }
                let buf = self.wbufs.take().ok_or(WriteError::Busy)?;
                let start = open.next_region;
                open.next_region += self.wbuf_size as u64;
                let mut fill = 0;
                if start == 0 {
                    let (file, _) = self.pages.lock().place(open.page);
                    let header = PageHeader {
                        page: open.page,
                        file,
                        seq: open.seq,
                        page_size: self.page_size,
                        wbuf_size: self.wbuf_size as u32,
                        bucket: bucket as u8,
                        run: self.run,
                    };
                    buf.data.write()[..PAGE_HEADER].copy_from_slice(&header.encode());
                    fill = PAGE_HEADER;
                }
                self.pages.lock().push_region(Region {
                    page: open.page,
                    start,
                    buf: buf.clone(),
                });
                open.current = Some(Current { buf, start, fill });
            }
            let Some(cur) = open.current.as_mut() else {
                continue;
            };
            let fill = cur.fill;
            if fill as u64 + len <= self.wbuf_size as u64 {
                let end = fill + len as usize;
                object.encode(&mut cur.buf.data.write()[fill..end]);
                cur.fill = end;
                let loc = Location::new(open.page, open.seq, cur.start + fill as u64);
                self.pages.lock().add_object(open.page, len);
                return Ok(loc);
            }
            // Full: zero the tail (a zero marker ends the buffer's records) and send it.
            if let Some(full) = open.current.take() {
                full.buf.data.write()[full.fill..].fill(0);
                self.submit(Region {
                    page: open.page,
                    start: full.start,
                    buf: full.buf,
                });
            }
        }
    }

    fn open_page(&self, bucket: Bucket) -> Result<OpenPage, WriteError> {
        let mut pages = self.pages.lock();
        let got = match pages.allocate(bucket) {
            Some(got) => Some(got),
            None if pages.evict_for(bucket) => pages.allocate(bucket),
            None => None,
        };
        drop(pages);
        let (page, seq) = got.ok_or(WriteError::Busy)?;
        self.wake_maintenance();
        Ok(OpenPage {
            page,
            seq,
            next_region: 0,
            current: None,
        })
    }

    /// Like [`Shared::write`], waiting a little while buffers are busy (compaction's
    /// rewrites: a lost rescue is a miss later, a short wait costs nothing).
    pub(crate) fn write_patiently(
        &self,
        bucket: Bucket,
        object: Object<'_>,
    ) -> Result<Location, WriteError> {
        let mut tries = 0;
        loop {
            match self.write(bucket, object) {
                Err(WriteError::Busy) if tries < 50 && !self.stopping.load(Relaxed) => {
                    tries += 1;
                    self.wbufs.wait(Duration::from_millis(2));
                    self.pages.lock().sweep();
                }
                other => return other,
            }
        }
    }

    fn submit(&self, region: Region) {
        self.flush.lock().queue.push_back(region);
        self.flush_work.notify_one();
    }

    /// The flusher thread: writes full buffers out, in order, then hands them back.
    pub(crate) fn run_flusher(&self) {
        loop {
            let region = {
                let mut state = self.flush.lock();
                loop {
                    if let Some(region) = state.queue.pop_front() {
                        state.in_flight += 1;
                        break region;
                    }
                    if state.closed {
                        return;
                    }
                    self.flush_work.wait(&mut state);
                }
            };
            let (file, base) = self.pages.lock().place(region.page);
            let outcome = {
                let data = region.buf.data.read();
                self.files[usize::from(file)].write_all_at(&data, base + region.start)
            };
            if !matches!(outcome, Outcome::Done(_)) {
                // Its objects will fail their checksums when read: misses, not garbage.
                Counters::add(&self.counters.write_errors, 1);
            }
            self.pages.lock().flushed(region.page, &region.buf);
            self.wbufs.give(region.buf);
            let mut state = self.flush.lock();
            state.in_flight -= 1;
            if state.queue.is_empty() && state.in_flight == 0 {
                self.flush_idle.notify_all();
            }
        }
    }

    /// Puts every object written so far into its file: partly filled buffers are written
    /// as far as they are filled (and again in full later), queued ones are waited for,
    /// and the files are synced. Used at shutdown (so a restart could find the data)
    /// and by tests that look at the file.
    pub(crate) fn sync(&self) {
        for writer in &self.writers {
            let writer = writer.lock();
            let Some(open) = writer.as_ref() else {
                continue;
            };
            if let Some(cur) = open.current.as_ref() {
                let (file, base) = self.pages.lock().place(open.page);
                let data = cur.buf.data.read();
                let outcome =
                    self.files[usize::from(file)].write_all_at(&data[..cur.fill], base + cur.start);
                if !matches!(outcome, Outcome::Done(_)) {
                    Counters::add(&self.counters.write_errors, 1);
                }
            }
        }
        let mut state = self.flush.lock();
        while !state.queue.is_empty() || state.in_flight > 0 {
            self.flush_idle.wait(&mut state);
        }
        drop(state);
        for file in &self.files {
            if !matches!(file.sync_data(), Outcome::Done(_)) {
                Counters::add(&self.counters.write_errors, 1);
            }
        }
    }

    /// Tells the flusher to finish what is queued and stop.
    pub(crate) fn close_flusher(&self) {
        self.flush.lock().closed = true;
        self.flush_work.notify_all();
    }

    /// Wakes the maintenance thread before its sleep is over.
    pub(crate) fn wake_maintenance(&self) {
        *self.poked.lock() = true;
        self.poke.notify_all();
    }

    /// Sleeps up to `ext_max_sleep` or until woken.
    pub(crate) fn maintenance_sleep(&self) {
        let mut poked = self.poked.lock();
        if !*poked && !self.stopping.load(Relaxed) {
            // `extstore max_sleep 0` must not make this thread spin.
            let sleep = self.tuning.max_sleep().max(Duration::from_micros(100));
            let _ = self.poke.wait_for(&mut poked, sleep);
        }
        *poked = false;
    }

    pub(crate) fn stats(&self, io_queue: u64) -> DiskStats {
        let (t, free, count) = {
            let pages = self.pages.lock();
            (pages.totals, pages.free_pages(), pages.len() as u64)
        };
        let c = &self.counters;
        let used = count - free;
        DiskStats {
            compact_lost: c.compact_lost.load(Relaxed),
            compact_rescues: c.compact_rescues.load(Relaxed),
            compact_skipped: c.compact_skipped.load(Relaxed),
            page_allocs: t.page_allocs,
            page_evictions: t.page_evictions,
            page_reclaims: t.page_reclaims,
            pages_free: free,
            pages_used: used,
            objects_evicted: t.objects_evicted,
            objects_read: c.objects_read.load(Relaxed),
            objects_written: t.objects_written,
            objects_used: t.objects_used,
            bytes_evicted: t.bytes_evicted,
            bytes_written: t.bytes_written,
            bytes_read: c.bytes_read.load(Relaxed),
            bytes_used: t.bytes_used,
            bytes_fragmented: (used * self.page_size).saturating_sub(t.bytes_used),
            limit_maxbytes: count * self.page_size,
            io_queue,
            write_errors: c.write_errors.load(Relaxed),
            read_errors: c.read_errors.load(Relaxed),
        }
    }

    /// Bytes of write buffers allocated so far.
    pub(crate) fn wbuf_bytes(&self) -> usize {
        self.wbufs.allocated_bytes()
    }
}
