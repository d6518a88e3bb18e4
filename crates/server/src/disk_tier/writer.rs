//! The background writer: moves values out of RAM into the disk tier, on its own thread.
//!
//! memcached's storage thread pulls items from the tails of its COLD LRUs when a slab
//! class runs short of free chunks (and, with `ext_item_age`, items idle that long). The
//! store's equivalent of an LRU tail is the oldest sealed segments, which eviction and
//! compaction reach first. So each pass:
//!
//! - under memory pressure (less room than a reserve of a thirty-second of the heap, at
//!   least 4 segments: free segments, and sealed ones nearly empty already), offers the
//!   values in the oldest sealed segments not offered yet, as many segments as the
//!   reserve lacks;
//! - with `ext_item_age` set, also those idle at least that long anywhere;
//!
//! and each value larger than `ext_item_size` is copied into a write buffer
//! (`Disk::write`) and its item swapped for an external one (`Store::externalize`). The
//! segment is then mostly garbage, and the store's compaction frees it cheaply, keeping
//! the small external items. When the disk is busy (all write buffers on their way) the
//! pass stops and the thread sleeps; it sleeps longer the less it found to do, from
//! 0.5 ms up to `ext_max_sleep`, as memcached's does.

use super::{record_len, ExtSettings, RecordMeta, ITEM_AGE_OFF};
use disk::{Bucket, Completion, Disk, WriteError};
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use store::{ItemRef, Store};

const SLEEP_MIN: Duration = Duration::from_micros(500);

/// Values of at least this many bytes go to the large-object bucket.
const LARGE: usize = 512 * 1024;

/// Asks the writer thread to stop.
#[derive(Debug, Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Stops the writer (it finishes the item in hand).
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }

    /// Whether the writer was asked to stop.
    fn stopped(&self) -> bool {
        *self.stopped.lock()
    }

    /// Sleeps up to `d`; true if stopped.
    fn sleep(&self, d: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            let _ = self.wake.wait_for(&mut stopped, d);
        }
        *stopped
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Values moved to disk.
    pub moved: usize,
    /// The disk had no write buffer free: the pass stopped early.
    pub busy: bool,
}

/// One pass over the candidates (see the module docs), keeping the default reserve.
pub fn pass<C: Completion>(store: &Store, disk: &Disk<C>, settings: &ExtSettings) -> Pass {
    let reserve = Reserve::new(store.room().total);
    pass_with(store, disk, settings, reserve.segments)
}

/// How much room the writer keeps ready, in segments: a thirty-second of the heap (at
/// least 4) while it keeps up, doubling (up to an eighth) each time it finds none left
/// (sets arrive faster than values leave: what it does not empty in time, eviction
/// drops), and shrinking back by one a pass once it is ahead. Every segment emptied
/// ahead of need is RAM that could hold values and holds garbage instead.
#[derive(Debug, Clone, Copy)]
pub struct Reserve {
    base: usize,
    most: usize,
    /// The current target.
    pub segments: usize,
}

impl Reserve {
    /// The reserve for a heap of `total` segments.
    pub fn new(total: usize) -> Reserve {
        let base = (total / 32).max(4);
        Reserve {
            base,
            most: (total / 8).max(base),
            segments: base,
        }
    }

    /// Adjusts to the room found at the start of a pass.
    pub fn observe(&mut self, ready: usize) {
        if ready == 0 {
            self.segments = (self.segments * 2).min(self.most);
        } else if ready >= self.segments && self.segments > self.base {
            self.segments -= 1;
        }
    }
}

/// One pass keeping `reserve` segments of room.
pub fn pass_with<C: Completion>(
    store: &Store,
    disk: &Disk<C>,
    settings: &ExtSettings,
    reserve: usize,
) -> Pass {
    let room = store.room();
    let ready = room.free + room.cheap;
    let pressure = ready < reserve;
    let window = reserve - ready.min(reserve);
    let age = settings.item_age.load(Relaxed);
    if !pressure && age == ITEM_AGE_OFF {
        return Pass::default();
    }
    let min_size = settings.item_size.load(Relaxed) as usize;
    let low_ttl = i64::from(settings.low_ttl.load(Relaxed));
    let mut moved = 0;
    let mut busy = false;
    let mut offer = |item: &ItemRef<'_>, idle_only: bool| -> bool {
        let len = item.value().len();
        if len <= min_size || (idle_only && item.last_access_ago() < u64::from(age)) {
            return true;
        }
        let ttl = item.ttl_remaining();
        let bucket = if low_ttl > 0 && ttl >= 0 && ttl < low_ttl {
            Bucket::LowTtl
        } else if len >= LARGE {
            Bucket::Large
        } else {
            Bucket::Default
        };
        match move_out(store, disk, item, bucket) {
            Ok(true) => moved += 1,
            Ok(false) => {}
            Err(WriteError::Busy) | Err(WriteError::ShuttingDown) => {
                busy = true;
                return false;
            }
            // Too large for a write buffer, or a key the disk cannot take: stays in RAM.
            Err(WriteError::TooLarge) | Err(WriteError::BadKey) => {}
        }
        true
    };
    let mut walking = true;
    if pressure {
        // Everything in the window that may go, goes: no need to walk it again.
        store.cold_items(window, true, |item| {
            walking = offer(item, false);
            walking
        });
    }
    if age != ITEM_AGE_OFF && walking {
        store.cold_items(usize::MAX, false, |item| offer(item, true));
    }
    Pass { moved, busy }
}

/// Writes one item's value to disk and swaps the item for an external one. Ok(false) if
/// the item changed meanwhile (the record is released again).
fn move_out<C: Completion>(
    store: &Store,
    disk: &Disk<C>,
    item: &ItemRef<'_>,
    bucket: Bucket,
) -> Result<bool, WriteError> {
    let meta = RecordMeta {
        cas: item.cas(),
        flags: item.flags(),
    };
    let key = item.key();
    let loc = disk.write(bucket, key, &meta.encode(), item.value())?;
    let swapped = store.externalize(item, loc.to_bits()).unwrap_or(false);
    if !swapped {
        disk.release(loc, record_len(key.len(), item.value().len()));
    }
    Ok(swapped)
}

/// The writer thread's loop, until `stop`.
pub fn run<C: Completion>(store: &Store, disk: &Disk<C>, settings: &ExtSettings, stop: &Stop) {
    let mut sleep = SLEEP_MIN;
    let mut reserve = Reserve::new(store.room().total);
    loop {
        let room = store.room();
        reserve.observe(room.free + room.cheap);
        let p = pass_with(store, disk, settings, reserve.segments);
        if p.moved > 0 && !p.busy {
            // Keeping up with sets: straight on, letting the workers run first.
            sleep = SLEEP_MIN;
            std::thread::yield_now();
            if stop.stopped() {
                return;
            }
            continue;
        }
        // `extstore max_sleep` changes it while the server runs.
        let max_sleep = disk.tuning().max_sleep();
        sleep = (sleep * 2).min(max_sleep.max(SLEEP_MIN));
        if p.busy {
            // Buffers are on their way to disk: a short wait, not a long one.
            sleep = sleep.min(Duration::from_millis(2));
        }
        if stop.sleep(sleep) {
            return;
        }
    }
}

/// Starts the writer thread.
pub fn spawn<C: Completion>(
    store: &'static Store,
    disk: Arc<Disk<C>>,
    settings: Arc<ExtSettings>,
    stop: Arc<Stop>,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    Disk<C>: Send + Sync,
{
    std::thread::Builder::new()
        .name("ext-writer".into())
        .spawn(move || run(store, &disk, &settings, &stop))
}
