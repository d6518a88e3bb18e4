//! The proxy's shared state, as the runtime's service (its `Service` impl is in the
//! parent module, next to the handler type it names).

use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Instant;

use super::loaded::Current;
use super::stats::ProxyStats;

/// The proxy as a service of the runtime.
pub struct Proxy {
    pub(crate) current: Arc<Current>,
    pub(crate) stats: Arc<ProxyStats>,
    pub(crate) started: Instant,
    /// Signals the reload thread (SIGHUP, which the runtime owns); None: no reloads.
    pub(crate) hangup: Option<SyncSender<()>>,
}

impl Proxy {
    pub fn new(current: Arc<Current>, stats: Arc<ProxyStats>) -> Proxy {
        Proxy {
            current,
            stats,
            started: Instant::now(),
            hangup: None,
        }
    }

    /// Each SIGHUP signals `hangup` (the reload thread).
    pub fn reloading(mut self, hangup: SyncSender<()>) -> Proxy {
        self.hangup = Some(hangup);
        self
    }
}
