//! What the runtime counts: connections, bytes moved, yields, stale completions, request
//! latencies, per listener what it accepted, and the open connections `stats conns`
//! lists.
//!
//! Each worker bumps its own counters (relaxed atomics on their own cache line, written
//! by that worker only); readers sum them.

use super::id::ConnId;
use super::latency::Latency;
use crate::counter_set::counter_set;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Adds `n` to a counter that only one thread writes: a plain load and store, cheaper
/// than a locked add.
#[inline]
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

counter_set! {
    /// One worker's counters (`Totals` sums them; the latencies are reset with them).
    #[repr(align(64))]
    pub struct WorkerCounters, sums Totals {
        /// Bytes read from clients.
        bytes_read: reset,
        /// Bytes written to clients.
        bytes_written: reset,
        /// Times a session stopped after `-R` requests to let others have a turn.
        conn_yields: reset,
        /// Connections this worker has taken on.
        total_connections: reset,
        /// Completions dropped because their connection had closed (its slot maybe
        /// reused): a diagnostic, kept.
        stale_completions: kept,
        /// Pooled buffers the worker's sessions hold now (0 when all are idle or
        /// closed): a gauge.
        buffers_lent: kept,
        /// Connections this worker closed because they sat idle past `-o idle_timeout`.
        idle_kicks: reset,
    }
    extra {
        /// How long its requests took, by kind.
        pub latency: Latency,
    }
}

/// Where a connection stands, as `stats conns` shows it (the owning worker updates it
/// once per turn, and only when it changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnState {
    /// Connected, nothing received yet.
    New = 0,
    /// Waiting for (the rest of) a request.
    Reading = 1,
    /// Reading a value into its place.
    ReadingValue = 2,
    /// Dropping the bytes of a refused value.
    Swallowing = 3,
    /// Replies queued that the client has not read yet.
    Writing = 4,
    /// Waiting for a completion (a disk read, a backend).
    Parked = 5,
    /// Finishing before it closes.
    Closing = 6,
}

impl ConnState {
    fn from_code(code: u8) -> ConnState {
        match code {
            0 => ConnState::New,
            2 => ConnState::ReadingValue,
            3 => ConnState::Swallowing,
            4 => ConnState::Writing,
            5 => ConnState::Parked,
            6 => ConnState::Closing,
            _ => ConnState::Reading,
        }
    }
}

/// A listening socket, as `stats conns` and the metrics show it.
#[derive(Debug)]
pub struct ListenerStats {
    /// Its descriptor.
    pub fd: i64,
    /// memcached's spelling: `tcp:0.0.0.0:11211`, `tcp6:[::]:11211`, `unix:/path`.
    pub addr: String,
    /// Connections taken on (handed to a worker).
    pub accepted: AtomicU64,
    /// Connections refused over `-c`.
    pub rejected: AtomicU64,
    /// Connections from it open now.
    pub open: AtomicU64,
}

impl ListenerStats {
    /// A listener's counters, all zero.
    pub fn new(fd: i64, addr: String) -> ListenerStats {
        ListenerStats {
            fd,
            addr,
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            open: AtomicU64::new(0),
        }
    }
}

/// What `stats conns` shows of one connection.
#[derive(Debug)]
pub struct ConnInfo {
    /// Its descriptor.
    pub fd: i64,
    /// Its peer, in memcached's spelling (`tcp:127.0.0.1:40842`, `tcp6:[::1]:5720`).
    pub addr: String,
    /// The address it reached, in the same spelling (`tcp:127.0.0.1:11211`,
    /// `unix:/run/corvid.sock`).
    pub listen_addr: String,
    /// Which of [`RuntimeStats::listeners`] accepted it.
    pub listener: usize,
    /// Its worker and its id there.
    pub worker: usize,
    /// See [`ConnInfo::worker`].
    pub id: ConnId,
    /// The store clock's second of its last answered request.
    pub last_cmd: AtomicU64,
    /// A [`ConnState`], as of the end of its last turn.
    pub(crate) state: AtomicU8,
}

impl ConnInfo {
    /// Where it stood at the end of its last turn.
    pub fn state(&self) -> ConnState {
        ConnState::from_code(self.state.load(Relaxed))
    }
}

/// Counters shared by the whole runtime.
#[derive(Debug)]
pub struct RuntimeStats {
    /// Per worker, indexed by worker number (each worker also holds its own).
    pub workers: Vec<Arc<WorkerCounters>>,
    /// Connections open now.
    pub curr_connections: AtomicU64,
    /// Connections refused over `-c`.
    pub rejected_connections: AtomicU64,
    /// 1 while listening, 0 once shutdown began.
    pub accepting: AtomicU64,
    /// The listening sockets, in the order they were bound.
    pub listeners: Vec<ListenerStats>,
    /// Open connections for `stats conns`: locked only on open, close and `stats conns`.
    conns: Mutex<slab::Slab<Arc<ConnInfo>>>,
    started: Instant,
}

impl RuntimeStats {
    /// Counters for `workers` workers and these listeners.
    pub fn new(workers: usize, listeners: Vec<ListenerStats>) -> RuntimeStats {
        RuntimeStats {
            workers: (0..workers).map(|_| Arc::default()).collect(),
            curr_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            accepting: AtomicU64::new(1),
            listeners,
            conns: Mutex::new(slab::Slab::new()),
            started: Instant::now(),
        }
    }

    /// Sums of the workers' counters.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for w in &self.workers {
            w.add_to(&mut t);
        }
        t
    }

    /// What `stats reset` clears (counters and latencies, not gauges or diagnostics).
    pub fn reset(&self) {
        for w in &self.workers {
            w.reset();
            w.latency.reset();
        }
        self.rejected_connections.store(0, Relaxed);
        for l in &self.listeners {
            l.accepted.store(0, Relaxed);
            l.rejected.store(0, Relaxed);
        }
    }

    /// Time since the runtime started.
    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// The open client connections, by descriptor.
    pub fn connections(&self) -> Vec<Arc<ConnInfo>> {
        let mut all: Vec<_> = self.lock_conns().iter().map(|(_, c)| c.clone()).collect();
        all.sort_by_key(|c| c.fd);
        all
    }

    pub(crate) fn add_connection(&self, info: Arc<ConnInfo>) -> usize {
        self.lock_conns().insert(info)
    }

    pub(crate) fn remove_connection(&self, key: usize) {
        self.lock_conns().try_remove(key);
    }

    fn lock_conns(&self) -> std::sync::MutexGuard<'_, slab::Slab<Arc<ConnInfo>>> {
        // A panic while holding the lock cannot leave a slab inconsistent.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_workers_and_reset_keeps_gauges() {
        let s = RuntimeStats::new(2, Vec::new());
        bump(&s.workers[0].bytes_read, 5);
        bump(&s.workers[1].bytes_read, 7);
        bump(&s.workers[1].stale_completions, 1);
        s.workers[0].buffers_lent.store(3, Relaxed);
        assert_eq!(s.totals().bytes_read, 12);
        s.reset();
        let t = s.totals();
        assert_eq!(
            (t.bytes_read, t.stale_completions, t.buffers_lent),
            (0, 1, 3)
        );
    }

    #[test]
    fn connections_are_listed_by_descriptor() {
        let s = RuntimeStats::new(1, Vec::new());
        let info = |fd| {
            Arc::new(ConnInfo {
                fd,
                addr: "unix:".into(),
                listen_addr: "unix:/s".into(),
                listener: 0,
                worker: 0,
                id: ConnId::new(0, 0),
                last_cmd: AtomicU64::new(0),
                state: AtomicU8::new(ConnState::New as u8),
            })
        };
        let a = s.add_connection(info(9));
        s.add_connection(info(4));
        assert_eq!(
            s.connections().iter().map(|c| c.fd).collect::<Vec<_>>(),
            [4, 9]
        );
        s.remove_connection(a);
        assert_eq!(s.connections().len(), 1);
    }
}
