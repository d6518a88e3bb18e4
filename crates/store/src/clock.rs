//! Seconds clocks: the real one for the server, a manual one for tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of unix seconds. The store reads it on every operation, so it must be cheap.
pub trait Clock: Send + Sync + 'static {
    /// Current unix time in seconds.
    fn now(&self) -> u64;
}

/// Wall clock. Caches the second and refreshes it when more than 100 ms went by, measured on
/// the monotonic clock, because `SystemTime::now` is a syscall on some platforms.
pub struct SystemClock {
    base_unix: u64,
    base: Instant,
}

impl SystemClock {
    pub fn new() -> SystemClock {
        let base_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        SystemClock {
            base_unix,
            base: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // Monotonic: a wall-clock step backwards must not resurrect expired items.
        self.base_unix + self.base.elapsed().as_secs()
    }
}

/// A clock that moves only when told to.
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    pub fn new(start: u64) -> ManualClock {
        ManualClock {
            now: AtomicU64::new(start),
        }
    }

    pub fn set(&self, t: u64) {
        self.now.store(t, Ordering::SeqCst);
    }

    pub fn advance(&self, d: u64) {
        self.now.fetch_add(d, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}
