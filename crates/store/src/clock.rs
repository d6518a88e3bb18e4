//! Seconds clocks: the real one for the server, a manual one for tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of unix seconds. The store reads it on every operation, so it must be cheap.
pub trait Clock: Send + Sync + 'static {
    /// Current unix time in seconds.
    fn now(&self) -> u64;

    /// Brings a cached clock up to date; a no-op for clocks that are always current.
    fn refresh(&self) {}
}

/// Wall clock, never going backwards (a wall-clock step back must not resurrect
/// expired items).
///
/// `SystemClock::new()` reads the OS on every `now` (measured on the monotonic clock
/// from a base). `SystemClock::ticked()` is what the server uses: `now` is one atomic
/// load of a cached second, and someone calls [`Clock::refresh`] a few times a second
/// (the server's acceptor does, every 100 ms), as memcached keeps its own clock ticking
/// once a second.
pub struct SystemClock {
    base_unix: u64,
    base: Instant,
    ticked: bool,
    cached: AtomicU64,
}

impl SystemClock {
    /// A clock that reads the OS on every call.
    pub fn new() -> SystemClock {
        let base_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        SystemClock {
            base_unix,
            base: Instant::now(),
            ticked: false,
            cached: AtomicU64::new(base_unix),
        }
    }

    /// A clock whose `now` is a cached second, advanced only by [`Clock::refresh`].
    pub fn ticked() -> SystemClock {
        SystemClock {
            ticked: true,
            ..SystemClock::new()
        }
    }

    fn read(&self) -> u64 {
        self.base_unix + self.base.elapsed().as_secs()
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        if self.ticked {
            self.cached.load(Ordering::Relaxed)
        } else {
            self.read()
        }
    }

    fn refresh(&self) {
        self.cached.fetch_max(self.read(), Ordering::Relaxed);
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

    fn refresh(&self) {
        (**self).refresh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticked_clock_moves_only_when_refreshed_and_never_backwards() {
        let c = SystemClock::ticked();
        let start = c.now();
        c.cached.store(start + 100, Ordering::Relaxed);
        c.refresh();
        assert_eq!(c.now(), start + 100, "a refresh never moves the clock back");
        let fresh = SystemClock::ticked();
        fresh.cached.store(0, Ordering::Relaxed);
        fresh.refresh();
        assert!(fresh.now() >= start);
    }
}
