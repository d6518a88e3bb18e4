//! The compaction tunables the `extstore` command changes while the server runs.
//!
//! ```
//! # let t = disk::Tuning::new(2, 2, 0.8, false);
//! assert!(t.set_max_frag(0.5));
//! assert!(!t.set_max_frag(f64::NAN));
//! assert_eq!(t.max_frag(), 0.5);
//! ```

use crate::pages::Thresholds;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// `ext_compact_under`, `ext_drop_under`, `ext_max_frag`, `ext_drop_unread`: read by the
/// maintenance thread on each pass, so a change applies within `ext_max_sleep`; and
/// `ext_max_sleep` itself, read before each sleep (the maintenance thread's, and the
/// owner's background writer's), as memcached's threads read it.
#[derive(Debug)]
pub struct Tuning {
    compact_under: AtomicU32,
    drop_under: AtomicU32,
    max_frag_bits: AtomicU64,
    drop_unread: AtomicBool,
    max_sleep_us: AtomicU32,
}

impl Tuning {
    /// Tunables with these values.
    pub fn new(compact_under: u32, drop_under: u32, max_frag: f64, drop_unread: bool) -> Tuning {
        Tuning {
            compact_under: AtomicU32::new(compact_under),
            drop_under: AtomicU32::new(drop_under),
            max_frag_bits: AtomicU64::new(max_frag.to_bits()),
            drop_unread: AtomicBool::new(drop_unread),
            max_sleep_us: AtomicU32::new(1_000_000),
        }
    }

    /// `ext_max_sleep`: the longest sleep of the background threads (1 s at first).
    pub fn max_sleep(&self) -> Duration {
        Duration::from_micros(u64::from(self.max_sleep_us()))
    }

    /// `ext_max_sleep` in microseconds, as `stats settings` prints it.
    pub fn max_sleep_us(&self) -> u32 {
        self.max_sleep_us.load(Relaxed)
    }

    /// Sets `ext_max_sleep` (microseconds); applies from the threads' next sleep.
    pub fn set_max_sleep_us(&self, us: u32) {
        self.max_sleep_us.store(us, Relaxed);
    }

    /// Compact when fewer pages than this are free.
    pub fn compact_under(&self) -> u32 {
        self.compact_under.load(Relaxed)
    }

    /// Sets `compact_under`.
    pub fn set_compact_under(&self, pages: u32) {
        self.compact_under.store(pages, Relaxed);
    }

    /// With `drop_unread`, drop unread objects when fewer pages than this are free.
    pub fn drop_under(&self) -> u32 {
        self.drop_under.load(Relaxed)
    }

    /// Sets `drop_under`.
    pub fn set_drop_under(&self, pages: u32) {
        self.drop_under.store(pages, Relaxed);
    }

    /// Pages whose live share is under this are compacted.
    pub fn max_frag(&self) -> f64 {
        f64::from_bits(self.max_frag_bits.load(Relaxed))
    }

    /// Sets `max_frag`; false (unchanged) for a value that is not a number. Above 1 every
    /// page qualifies, below 0 none does (memcached takes any value too).
    pub fn set_max_frag(&self, frag: f64) -> bool {
        if !frag.is_finite() {
            return false;
        }
        self.max_frag_bits.store(frag.to_bits(), Relaxed);
        true
    }

    /// Compaction may drop live objects the owner calls unread.
    pub fn drop_unread(&self) -> bool {
        self.drop_unread.load(Relaxed)
    }

    /// Sets `drop_unread`.
    pub fn set_drop_unread(&self, on: bool) {
        self.drop_unread.store(on, Relaxed);
    }

    pub(crate) fn thresholds(&self) -> Thresholds {
        Thresholds {
            compact_under: u64::from(self.compact_under()),
            drop_under: u64::from(self.drop_under()),
            max_frag: self.max_frag(),
            drop_unread: self.drop_unread(),
        }
    }
}
