//! The IO threads: they take read requests from one shared queue, read each record
//! (`pread`, or a copy from a write buffer still in memory), verify it, and run the
//! request's completion on the IO thread.
//!
//! ```
//! use disk::{ReadError, ReadResult};
//! // A completion is any `FnOnce(ReadResult) + Send`; the server's posts to a worker's
//! // run queue. It runs on the IO thread, so it must be short and must not block.
//! let done = |result: ReadResult| match result {
//!     Ok(buf) => println!("{} bytes", buf.value().len()),
//!     Err(ReadError::BadChecksum) => println!("badcrc_from_extstore"),
//!     Err(_) => println!("miss_from_extstore"),
//! };
//! # let _ = done;
//! ```
//!
//! One queue for all threads: whichever thread is free takes the next read, so one slow
//! read does not hold up the reads queued behind it while another thread idles.

use crate::engine::Shared;
use crate::location::Location;
use crate::pages::Source;
use crate::read_buf::ReadBuf;
use crate::record::Record;
use crate::stats::Counters;
use channel::{Abort, Outcome};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Why a read produced no value. The caller answers a miss for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The page was dropped, compacted or reused since the location was taken, or the
    /// location is out of bounds (`miss_from_extstore`).
    #[error("stale location")]
    Stale,
    /// The file ended before the record did (`miss_from_extstore`).
    #[error("short read")]
    ShortRead,
    /// The record's checksum, or its framing, does not match (`badcrc_from_extstore`).
    #[error("checksum mismatch")]
    BadChecksum,
    /// The operating system failed the read (`miss_from_extstore`).
    #[error("read failed: {0:?}")]
    Io(std::io::ErrorKind),
    /// The engine stopped before the read was done (`get_aborted_extstore`).
    #[error("shutting down")]
    ShuttingDown,
    /// Read buffers already hold `ext_read_mem` ([`crate::Disk::read_now`] only;
    /// [`crate::Disk::read`] hands the completion back instead).
    #[error("no read buffer within ext_read_mem")]
    OutOfMemory,
}

/// What a completion receives.
pub type ReadResult = Result<ReadBuf, ReadError>;

/// What runs when a read is done, on the IO thread that did it.
pub trait Completion: Send + 'static {
    /// Consumes the result. Must not block or panic: it holds up the IO thread.
    fn complete(self, result: ReadResult);
}

impl<F: FnOnce(ReadResult) + Send + 'static> Completion for F {
    fn complete(self, result: ReadResult) {
        self(result)
    }
}

struct Job<C> {
    loc: Location,
    /// The record's length in bytes, taken from the pool when the read was queued.
    buf: Vec<u8>,
    done: C,
}

struct QueueState<C> {
    jobs: VecDeque<Job<C>>,
    closed: bool,
    /// Threads doing a read (or about to look at the queue again): each will take the
    /// next job when it is done.
    busy: usize,
}

/// The queue of reads waiting for an IO thread.
pub(crate) struct ReadQueue<C> {
    state: Mutex<QueueState<C>>,
    ready: Condvar,
    /// Reads were queued without waking a thread ([`ReadQueue::wake`] is due).
    unwoken: AtomicBool,
}

/// A read that took this long reached a device: the thread that did it wakes another if
/// reads are waiting, so device reads overlap (one thread drains page-cache reads).
const SLOW_READ: Duration = Duration::from_micros(50);

impl<C: Completion> ReadQueue<C> {
    pub(crate) fn new() -> ReadQueue<C> {
        ReadQueue {
            state: Mutex::new(QueueState {
                jobs: VecDeque::new(),
                closed: false,
                busy: 0,
            }),
            ready: Condvar::new(),
            unwoken: AtomicBool::new(false),
        }
    }

    /// Queues a read. Hands `done` back, queuing nothing, when no buffer fits in the
    /// budget (the buffer is taken here, by the thread asking, as memcached allocates its
    /// read buffer in the worker). Completes it at once, on this thread, for a length no
    /// record has (`Stale`) and after shutdown (`ShuttingDown`).
    ///
    /// With `wake_now` false no thread is woken: the caller calls [`ReadQueue::wake`]
    /// once it has queued what it had to (a worker, at the end of its turn).
    pub(crate) fn submit(
        &self,
        shared: &Shared,
        loc: Location,
        len: u64,
        done: C,
        wake_now: bool,
    ) -> Result<(), C> {
        if len == 0 || len > shared.wbuf_size as u64 {
            done.complete(Err(ReadError::Stale));
            return Ok(());
        }
        let Some(buf) = shared.read_pool.take(len as usize) else {
            return Err(done);
        };
        let mut state = self.state.lock();
        if state.closed {
            drop(state);
            shared.read_pool.give(buf);
            done.complete(Err(ReadError::ShuttingDown));
            return Ok(());
        }
        state.jobs.push_back(Job { loc, buf, done });
        Counters::add(&shared.counters.io_queue, 1);
        if !wake_now {
            drop(state);
            self.unwoken.store(true, Relaxed);
            return Ok(());
        }
        self.wake_locked(state);
        Ok(())
    }

    /// Wakes a thread for the reads queued without one, if they need it. Cheap when
    /// nothing was queued (one atomic load): workers call it at the end of every turn.
    pub(crate) fn wake(&self) {
        if !self.unwoken.load(Relaxed) || !self.unwoken.swap(false, Relaxed) {
            return;
        }
        self.wake_locked(self.state.lock());
    }

    /// Another thread only when more reads wait than threads will come back for them:
    /// reads served from the page cache take a few microseconds, and waking a thread for
    /// each costs two context switches (and, on a CPU shared with the worker, a
    /// preemption of the worker per read). Reads that reach a device wake more threads
    /// as they find them slow ([`SLOW_READ`], docs/disk.md).
    fn wake_locked(&self, state: parking_lot::MutexGuard<'_, QueueState<C>>) {
        let wake = state.jobs.len() > state.busy;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
    }

    /// Stops the IO threads: the reads they are doing finish; queued ones complete with
    /// `ShuttingDown`.
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_all();
    }

    /// One IO thread.
    pub(crate) fn run(&self, shared: &Shared) {
        self.state.lock().busy += 1;
        loop {
            let job = {
                let mut state = self.state.lock();
                loop {
                    if state.closed {
                        let jobs: Vec<_> = state.jobs.drain(..).collect();
                        drop(state);
                        for job in jobs {
                            shared.counters.io_queue.fetch_sub(1, Relaxed);
                            shared.read_pool.give(job.buf);
                            job.done.complete(Err(ReadError::ShuttingDown));
                        }
                        return;
                    }
                    if let Some(job) = state.jobs.pop_front() {
                        break job;
                    }
                    state.busy -= 1;
                    self.ready.wait(&mut state);
                    state.busy += 1;
                }
            };
            shared.counters.io_queue.fetch_sub(1, Relaxed);
            let started = Instant::now();
            let result = read(shared, job.loc, job.buf);
            job.done.complete(result);
            if started.elapsed() >= SLOW_READ {
                self.wake_locked(self.state.lock());
            }
        }
    }
}

/// Reads the record at `loc` into `buf` (its length is the record's) and verifies it;
/// `buf` goes back to the pool unless it becomes the result.
pub(crate) fn read(shared: &Shared, loc: Location, mut buf: Vec<u8>) -> ReadResult {
    let len = buf.len() as u64;
    let Some(source) = shared.pages.lock().pin(loc, len) else {
        shared.read_pool.give(buf);
        return Err(ReadError::Stale);
    };
    let outcome = match source {
        Source::Memory(wbuf, at) => {
            buf.copy_from_slice(&wbuf.data.read()[at..at + len as usize]);
            Outcome::Done(len as usize)
        }
        Source::File { file, pos } => {
            let outcome = shared.files[usize::from(file)].read_exact_at(&mut buf, pos);
            shared.pages.lock().unpin(loc.page());
            outcome
        }
    };
    let failed = match outcome {
        Outcome::Done(_) => None,
        Outcome::Abort(Abort::Closed) => Some(ReadError::ShortRead),
        Outcome::Abort(Abort::Failed(kind)) => Some(ReadError::Io(kind)),
        Outcome::Retry | Outcome::Abort(_) => Some(ReadError::Io(std::io::ErrorKind::Other)),
    };
    if let Some(err) = failed {
        if err != ReadError::ShortRead {
            Counters::add(&shared.counters.read_errors, 1);
        }
        shared.read_pool.give(buf);
        return Err(err);
    }
    Counters::add(&shared.counters.objects_read, 1);
    Counters::add(&shared.counters.bytes_read, len);
    let ranges = match Record::verify(&buf) {
        Ok(rec) if rec.len() == len => rec.ranges(),
        _ => {
            shared.read_pool.give(buf);
            return Err(ReadError::BadChecksum);
        }
    };
    Ok(ReadBuf::new(buf, ranges, shared.read_pool.clone()))
}
