//! Stopping the server from anywhere: a signal, the `shutdown` command, a test.
//!
//! ```no_run
//! # fn f(shutdown: &server::runtime::Shutdown) {
//! shutdown.request(); // the acceptor stops accepting; workers drain and exit
//! # }
//! ```

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Wakes the acceptor, which stops accepting and tells every worker to drain.
#[derive(Debug)]
pub struct Shutdown {
    waker: mio::Waker,
    requested: AtomicBool,
}

impl Shutdown {
    pub(crate) fn new(waker: mio::Waker) -> Shutdown {
        Shutdown {
            waker,
            requested: AtomicBool::new(false),
        }
    }

    /// Asks the server to stop. Idempotent; returns at once.
    pub fn request(&self) {
        self.requested.store(true, Relaxed);
        // If the wake fails the process is already going down; nothing better to do.
        let _ = self.waker.wake();
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.requested.load(Relaxed)
    }
}
