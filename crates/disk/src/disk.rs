//! The engine's front: open it, write objects, read them back on IO threads, release
//! them, watch its counters, stop it.
//!
//! ```
//! use disk::{Bucket, Disk, DiskConfig, FileSpec, Fate, Found, Mover, Owner, ReadResult};
//! use std::sync::{mpsc, Arc};
//!
//! struct NoOwner; // keeps nothing: compaction finds every record dead
//! impl Owner for NoOwner {
//!     fn compacting(&self, _: &Found<'_>, _: &mut Mover<'_>) -> Fate { Fate::Dead }
//! }
//!
//! let dir = std::env::temp_dir().join(format!("corvid-disk-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let spec = FileSpec::parse(&format!("{}/ext:64m", dir.display())).unwrap();
//! let disk: Disk<Box<dyn FnOnce(ReadResult) + Send>> =
//!     Disk::open(DiskConfig::new(vec![spec]), Arc::new(NoOwner)).unwrap();
//!
//! let loc = disk.write(Bucket::Default, b"key", b"", b"a value").unwrap();
//! let len = disk::record_len(3, 0, 7);
//! let (tx, rx) = mpsc::channel();
//! let queued = disk.read(loc, len, Box::new(move |r: ReadResult| tx.send(r.map(|b| b.value().to_vec())).unwrap()));
//! assert!(queued.is_ok(), "refused only when read buffers hold ext_read_mem");
//! assert_eq!(rx.recv().unwrap().unwrap(), b"a value");
//! disk.release(loc, len);
//! drop(disk);
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

use crate::compaction::{self, Owner};
use crate::config::{Bucket, ConfigError, DiskConfig};
use crate::engine::{Object, Shared, WriteError};
use crate::location::Location;
use crate::pages::{PageData, PageTable};
use crate::reader::{Completion, ReadQueue, ReadResult};
use crate::restart::{Refused, SavedFile, SavedTable, Stamp};
use crate::stats::DiskStats;
use crate::tuning::Tuning;
use channel::{FileChannel, OpenError};
use parking_lot::Mutex;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why the engine did not start.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The configuration is impossible.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A file could not be opened, locked or sized (memcached: "failed to open file").
    #[error("failed to open file")]
    Open(#[source] OpenError),
    /// A thread could not be started.
    #[error("failed to start a thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The disk engine. `C` is what a read runs when it is done (see [`Completion`]).
pub struct Disk<C: Completion> {
    shared: Arc<Shared>,
    reads: Arc<ReadQueue<C>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl<C: Completion> Disk<C> {
    /// Checks `config`, opens and locks its files, starts the IO threads, the flusher
    /// and the maintenance thread, with every page free. `owner` answers compaction's
    /// questions. (To take back the pages of a clean stop: [`Opening`].)
    pub fn open(config: DiskConfig, owner: Arc<dyn Owner>) -> Result<Disk<C>, DiskError> {
        Opening::new(config)?.start(owner)
    }

    fn spawn(&self, name: String, f: impl FnOnce() + Send + 'static) -> Result<(), DiskError> {
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(f)
            .map_err(DiskError::Thread)?;
        self.threads.lock().push(handle);
        Ok(())
    }

    /// Copies an object into the open write buffer of `bucket` and returns its
    /// location. The copy is the only work done on the caller's thread; the buffer is
    /// written out by the flusher thread once full. The object can be read back at once
    /// (from memory until its buffer is on disk).
    pub fn write(
        &self,
        bucket: Bucket,
        key: &[u8],
        meta: &[u8],
        value: &[u8],
    ) -> Result<Location, WriteError> {
        self.shared
            .write(bucket, Object::Parts { key, meta, value })
    }

    /// Queues a read of the record of `len` bytes ([`crate::record_len`]) at `loc`;
    /// `done` runs on an IO thread with the verified record or the reason there is
    /// none (at once on this thread for a length no record has, `Stale`, and after
    /// [`Disk::shutdown`], `ShuttingDown`).
    ///
    /// `Err(done)`: read buffers already hold `ext_read_mem`
    /// ([`crate::DiskConfig::read_mem`]); nothing is queued, and the caller answers as
    /// memcached does when it cannot allocate a read buffer (a miss, `get_oom_extstore`).
    pub fn read(&self, loc: Location, len: u64, done: C) -> Result<(), C> {
        self.reads.submit(&self.shared, loc, len, done, true)
    }

    /// Like [`Disk::read`], but wakes no IO thread: [`Disk::wake_readers`] must follow
    /// once the caller has queued its batch (a worker calls it at the end of its turn).
    /// One wake-up for many reads instead of one per read: on a CPU shared by the worker
    /// and the IO threads, each wake-up preempts the worker (docs/disk.md).
    pub fn read_later(&self, loc: Location, len: u64, done: C) -> Result<(), C> {
        self.reads.submit(&self.shared, loc, len, done, false)
    }

    /// Wakes an IO thread for the reads [`Disk::read_later`] queued, if none is at work
    /// to take them. One atomic load when there are none.
    pub fn wake_readers(&self) {
        self.reads.wake();
    }

    /// Reads on this thread, blocking (tests, tools; never a worker).
    pub fn read_now(&self, loc: Location, len: u64) -> ReadResult {
        if len == 0 || len > self.shared.wbuf_size as u64 {
            return Err(crate::ReadError::Stale);
        }
        let buf = self
            .shared
            .read_pool
            .take(len as usize)
            .ok_or(crate::ReadError::OutOfMemory)?;
        crate::reader::read(&self.shared, loc, buf)
    }

    /// Bytes of read buffers lent out (to reads in flight and to results not yet
    /// dropped) and kept spare; together at most [`crate::DiskConfig::read_mem`].
    pub fn read_buffer_bytes(&self) -> (usize, usize) {
        self.shared.read_pool.held()
    }

    /// The owner forgot the object of `len` bytes at `loc` (overwritten, deleted,
    /// expired). No IO: the page's live counts go down, and a page left empty is freed.
    /// False if the page was since dropped or reused (nothing to do).
    pub fn release(&self, loc: Location, len: u64) -> bool {
        self.handle().release(loc, len)
    }

    /// True if `loc` still points into the page it was written to.
    pub fn is_current(&self, loc: Location) -> bool {
        self.shared.pages.lock().is_current(loc)
    }

    /// A handle for releases, checks and counters that does not keep the engine's
    /// threads running (an owner can hold it without a cycle).
    pub fn handle(&self) -> DiskHandle {
        DiskHandle {
            shared: self.shared.clone(),
        }
    }

    /// Every counter.
    pub fn stats(&self) -> DiskStats {
        self.handle().stats()
    }

    /// Every page, for `stats extstore`.
    pub fn page_data(&self) -> Vec<PageData> {
        self.shared.pages.lock().page_data()
    }

    /// The runtime tunables (`extstore compact_under 4`, ...).
    pub fn tuning(&self) -> &Tuning {
        &self.shared.tuning
    }

    /// The largest record a write takes (a write buffer less the page header).
    pub fn max_record(&self) -> u64 {
        self.shared.max_record()
    }

    /// Bytes of write buffers allocated so far.
    pub fn write_buffer_bytes(&self) -> usize {
        self.shared.wbuf_bytes()
    }

    /// Writes everything written so far into the files and syncs them.
    pub fn sync(&self) {
        self.shared.sync();
    }

    /// Wakes the maintenance thread now instead of after `ext_max_sleep`.
    pub fn wake_maintenance(&self) {
        self.shared.wake_maintenance();
    }

    /// The clean stop's `DISK` section for the restart data ([`crate::restart`]): stops
    /// the engine (so every object written is in its file and the files are synced),
    /// then describes the pages in use and the files as they are now. An error (a file
    /// that cannot be `fstat`ed) means no section: the next start drops what the owner
    /// kept.
    pub fn restart_section(&self) -> std::io::Result<Vec<u8>> {
        self.shutdown();
        let shared = &self.shared;
        let mut files = Vec::with_capacity(shared.files.len());
        for (file, spec) in shared.files.iter().zip(&shared.specs) {
            files.push(SavedFile {
                path: spec.path.as_os_str().as_bytes().to_vec(),
                size: spec.size,
                free_bucket: spec.free_bucket as u8,
                stamp: Stamp::of(&file.metadata()?),
            });
        }
        let pages = shared.pages.lock();
        let table = SavedTable {
            run: shared.run,
            page_size: shared.page_size,
            wbuf_size: shared.wbuf_size as u64,
            next_seq: pages.next_seq(),
            files,
            pages: pages.in_use(),
        };
        Ok(table.encode())
    }

    /// Stops the engine: reads being done finish and complete; queued reads complete
    /// with `ShuttingDown`; compaction stops between records; what was written is put
    /// into the files; every thread is joined. Idempotent; also run on drop.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Relaxed);
        self.reads.close();
        self.shared.wake_maintenance();
        let mut threads = self.threads.lock();
        // Readers and maintenance first: they may still queue writes.
        let flusher_at = threads
            .iter()
            .position(|t| t.thread().name() == Some("ext-flush"));
        let flusher = flusher_at.map(|i| threads.remove(i));
        for t in threads.drain(..) {
            let _ = t.join();
        }
        if let Some(flusher) = flusher {
            self.shared.sync();
            self.shared.close_flusher();
            let _ = flusher.join();
        }
    }
}

impl<C: Completion> Drop for Disk<C> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// An engine being opened: files open and locked, no thread started yet. Between
/// [`Opening::new`] and [`Opening::start`], a warm restart can take back the pages of
/// the last clean stop ([`Opening::restore`], then [`Opening::count_live`] for each
/// location the owner kept).
///
/// ```no_run
/// # fn demo(config: disk::DiskConfig, saved: &[u8], owner: std::sync::Arc<dyn disk::Owner>,
/// #         kept: &[(disk::Location, u64)]) -> Result<(), disk::DiskError> {
/// let mut opening = disk::Opening::new(config)?;
/// match opening.restore(saved) {
///     Ok(()) => for &(loc, len) in kept { opening.count_live(loc, len); },
///     Err(why) => eprintln!("the disk tier starts empty: {why}"), // drop what was kept
/// }
/// let disk: disk::Disk<Box<dyn FnOnce(disk::ReadResult) + Send>> = opening.start(owner)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Opening {
    config: DiskConfig,
    files: Vec<FileChannel>,
    /// Each file as it was before this start opened it (`None`: it did not exist).
    before: Vec<Option<Stamp>>,
    pages: PageTable,
    run: u64,
    restored: bool,
}

impl Opening {
    /// Checks `config`, notes each file as it is, then opens (creating and sizing if
    /// needed) and locks it.
    pub fn new(config: DiskConfig) -> Result<Opening, DiskError> {
        config.validate()?;
        let mut files = Vec::with_capacity(config.files.len());
        let mut before = Vec::with_capacity(config.files.len());
        for (spec, pages) in config.files.iter().zip(config.pages_per_file()) {
            before.push(std::fs::metadata(&spec.path).ok().map(|m| Stamp::of(&m)));
            let file =
                FileChannel::open(&spec.path, pages * config.page_size).map_err(DiskError::Open)?;
            files.push(file);
        }
        let pages = PageTable::new(&config);
        Ok(Opening {
            config,
            files,
            before,
            pages,
            run: run_id(),
            restored: false,
        })
    }

    /// Takes back the page table of the last clean stop from its `DISK` section, if the
    /// settings, the files and every page header in use still say what it says; the
    /// engine then continues that run. Refused: the engine starts with every page free,
    /// and the owner must forget every location it kept.
    pub fn restore(&mut self, section: &[u8]) -> Result<(), Refused> {
        let saved = SavedTable::decode(section)?;
        saved.check_config(&self.config, &self.before)?;
        let pages = &self.pages;
        saved.check_headers(&self.files, |id| {
            (usize::from(id) < pages.len()).then(|| pages.place(id))
        })?;
        self.pages.restore(&saved.pages, saved.next_seq);
        self.run = saved.run;
        self.restored = true;
        Ok(())
    }

    /// The owner kept an object of `len` bytes ([`crate::record_len`]) at `loc`: count it
    /// live on its page. Once per location the owner will read or release. False if
    /// `loc` is on no restored page (stale: it reads as such, and releasing it does
    /// nothing), or nothing was restored.
    pub fn count_live(&mut self, loc: Location, len: u64) -> bool {
        self.restored && self.pages.count_live(loc, len)
    }

    /// Starts the IO threads, the flusher and the maintenance thread. Restored pages that
    /// nothing was counted on are free.
    pub fn start<C: Completion>(mut self, owner: Arc<dyn Owner>) -> Result<Disk<C>, DiskError> {
        if self.restored {
            self.pages.free_unused();
        }
        let shared = Arc::new(Shared::new(&self.config, self.files, self.pages, self.run));
        let disk = Disk {
            shared,
            reads: Arc::new(ReadQueue::new()),
            threads: Mutex::new(Vec::new()),
        };
        for i in 0..self.config.io_threads {
            let (shared, reads) = (disk.shared.clone(), disk.reads.clone());
            disk.spawn(format!("ext-io-{i}"), move || reads.run(&shared))?;
        }
        let shared = disk.shared.clone();
        disk.spawn("ext-flush".into(), move || shared.run_flusher())?;
        let shared = disk.shared.clone();
        disk.spawn("ext-maint".into(), move || {
            compaction::run(&shared, owner.as_ref())
        })?;
        Ok(disk)
    }
}

/// Releases, checks and counters, without the engine's threads.
#[derive(Debug, Clone)]
pub struct DiskHandle {
    shared: Arc<Shared>,
}

impl DiskHandle {
    /// See [`Disk::release`].
    pub fn release(&self, loc: Location, len: u64) -> bool {
        self.shared.pages.lock().release(loc, len)
    }

    /// See [`Disk::is_current`].
    pub fn is_current(&self, loc: Location) -> bool {
        self.shared.pages.lock().is_current(loc)
    }

    /// See [`Disk::stats`].
    pub fn stats(&self) -> DiskStats {
        self.shared
            .stats(self.shared.counters.io_queue.load(Relaxed))
    }
}

/// A number telling this start of the engine from earlier ones (page headers carry it).
fn run_id() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}
