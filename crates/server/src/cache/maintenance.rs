//! The store's housekeeping on a thread of its own: advance the store's cached clock
//! every 100 ms, and once a second reclaim expired and flushed segments, so that a mass
//! expiry never lands on a request's path and accepting never waits behind it.
//!
//! ```no_run
//! # fn f(store: &'static store::Store) -> std::io::Result<()> {
//! let maintenance = server::cache::Maintenance::start(store)?;
//! // ... serve ...
//! maintenance.stop(); // prompt: the thread waits on a condition variable, not a sleep
//! # Ok(()) }
//! ```

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use store::Store;

/// How often the store's cached clock advances.
const CLOCK_TICK: Duration = Duration::from_millis(100);
/// How often expired and flushed segments are reclaimed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The running maintenance thread.
pub struct Maintenance {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

impl Maintenance {
    /// Starts maintaining `store`.
    pub fn start(store: &'static Store) -> std::io::Result<Maintenance> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("maintenance".into())
            .spawn(move || run(store, &flag))?;
        Ok(Maintenance { stop, thread })
    }

    /// Stops the thread and waits for it.
    pub fn stop(self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        let _ = self.thread.join();
    }
}

fn run(store: &Store, stop: &(Mutex<bool>, Condvar)) {
    let (lock, wake) = stop;
    let mut last_sweep = Instant::now();
    let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
    while !*stopped {
        stopped = match wake.wait_timeout(stopped, CLOCK_TICK) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
        store.refresh_clock();
        if last_sweep.elapsed() >= SWEEP_INTERVAL {
            last_sweep = Instant::now();
            store.sweep();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::StoreConfig;

    #[test]
    fn starts_and_stops_promptly() {
        let store: &'static Store =
            Box::leak(Box::new(Store::new(StoreConfig::default()).expect("store")));
        let m = Maintenance::start(store).expect("start");
        std::thread::sleep(Duration::from_millis(150));
        let begun = Instant::now();
        m.stop();
        assert!(begun.elapsed() < Duration::from_secs(1));
    }
}
