//! What the proxy counts: per backend (requests, bytes, errors, timeouts, ejections,
//! connections, latency), per pool (client connections, forward errors, multi-get
//! fragments) and in all. Each worker writes its own counters (a relaxed load and store,
//! no locked instruction); readers (`stats`, the JSON stats port) sum them.
//!
//! ```
//! use proxy::serve::{BackendStats, Latency};
//! let stats = BackendStats::new(2);
//! stats.worker(0).add(|c| &c.requests, 3);
//! stats.worker(1).add(|c| &c.requests, 4);
//! assert_eq!(stats.sum(|c| &c.requests), 7);
//! let latency = Latency::default();
//! for us in [10, 20, 30, 40, 1000] { latency.record(us); }
//! assert!(latency.percentile(50.0) >= 20 && latency.percentile(50.0) <= 31);
//! ```
//!
//! Counters outlive reloads: they are kept by name (`pool:server`), so a backend that a
//! new configuration keeps goes on counting where it was.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use server::runtime::bump;

/// One worker's counters for one backend (twemproxy's per-server stats, and Corvid's).
#[derive(Default, Debug)]
#[repr(align(64))]
pub struct BackendCounters {
    /// Requests sent.
    pub requests: AtomicU64,
    pub request_bytes: AtomicU64,
    /// Replies read.
    pub responses: AtomicU64,
    pub response_bytes: AtomicU64,
    /// Connections that failed or broke (nutcracker's `server_err`).
    pub errors: AtomicU64,
    /// The backend closed a connection (`server_eof`).
    pub eof: AtomicU64,
    /// Requests that timed out (`server_timedout`).
    pub timeouts: AtomicU64,
    /// Times this worker ejected the server.
    pub ejections: AtomicU64,
    /// Unix seconds of the last ejection (`server_ejected_at`).
    pub ejected_at: AtomicU64,
    /// Connections open now (a gauge; this worker's share).
    pub connections: AtomicU64,
    /// Requests waiting for a reply now (`out_queue`; a gauge).
    pub in_flight: AtomicU64,
    pub in_flight_bytes: AtomicU64,
    /// Times a connection stopped reading because a client it fed did not read its
    /// replies (docs/proxy.md, "Memory bounds").
    pub pauses: AtomicU64,
}

/// A counter of one worker, bumped by that worker only.
pub struct WorkerCounter<'a, T>(&'a T);

impl<T> WorkerCounter<'_, T> {
    /// Adds `n` to the field `f` picks.
    #[inline]
    pub fn add(&self, f: impl Fn(&T) -> &AtomicU64, n: u64) {
        bump(f(self.0), n);
    }

    /// Takes `n` from a gauge.
    #[inline]
    pub fn sub(&self, f: impl Fn(&T) -> &AtomicU64, n: u64) {
        let c = f(self.0);
        c.store(c.load(Relaxed).saturating_sub(n), Relaxed);
    }

    /// Sets a field.
    pub fn set(&self, f: impl Fn(&T) -> &AtomicU64, n: u64) {
        f(self.0).store(n, Relaxed);
    }
}

/// A backend's counters on every worker, and its latency.
#[derive(Debug)]
pub struct BackendStats {
    workers: Vec<BackendCounters>,
    /// Microseconds from a request's write to its reply, per worker.
    latency: Vec<Latency>,
}

impl BackendStats {
    pub fn new(workers: usize) -> BackendStats {
        BackendStats {
            workers: (0..workers.max(1))
                .map(|_| BackendCounters::default())
                .collect(),
            latency: (0..workers.max(1)).map(|_| Latency::default()).collect(),
        }
    }

    /// Worker `i`'s counters (the last worker's for a larger `i`).
    #[inline]
    pub fn worker(&self, i: usize) -> WorkerCounter<'_, BackendCounters> {
        WorkerCounter(&self.workers[i.min(self.workers.len() - 1)])
    }

    /// Worker `i`'s latency histogram.
    #[inline]
    pub fn latency(&self, i: usize) -> &Latency {
        &self.latency[i.min(self.latency.len() - 1)]
    }

    /// A field summed over the workers.
    pub fn sum(&self, f: impl Fn(&BackendCounters) -> &AtomicU64) -> u64 {
        self.workers.iter().map(|w| f(w).load(Relaxed)).sum()
    }

    /// The largest value of a field over the workers.
    pub fn max(&self, f: impl Fn(&BackendCounters) -> &AtomicU64) -> u64 {
        self.workers
            .iter()
            .map(|w| f(w).load(Relaxed))
            .max()
            .unwrap_or(0)
    }

    /// The `p`th latency percentile over all workers, in microseconds.
    pub fn percentile(&self, p: f64) -> u64 {
        Latency::merged(&self.latency).percentile(p)
    }
}

/// One worker's counters for one pool (twemproxy's per-pool stats).
#[derive(Default, Debug)]
#[repr(align(64))]
pub struct PoolCounters {
    /// Clients that closed (`client_eof`).
    pub client_eof: AtomicU64,
    /// Clients dropped for an error (`client_err`).
    pub client_err: AtomicU64,
    /// Clients connected now (a gauge).
    pub client_connections: AtomicU64,
    /// Servers ejected (`server_ejects`).
    pub server_ejects: AtomicU64,
    /// Requests answered with an error because no backend could answer them.
    pub forward_error: AtomicU64,
    /// Multi-get parts sent to backends (`fragments`).
    pub fragments: AtomicU64,
}

/// A pool's counters on every worker.
#[derive(Debug)]
pub struct PoolStats {
    workers: Vec<PoolCounters>,
}

impl PoolStats {
    pub fn new(workers: usize) -> PoolStats {
        PoolStats {
            workers: (0..workers.max(1))
                .map(|_| PoolCounters::default())
                .collect(),
        }
    }

    #[inline]
    pub fn worker(&self, i: usize) -> WorkerCounter<'_, PoolCounters> {
        WorkerCounter(&self.workers[i.min(self.workers.len() - 1)])
    }

    pub fn sum(&self, f: impl Fn(&PoolCounters) -> &AtomicU64) -> u64 {
        self.workers.iter().map(|w| f(w).load(Relaxed)).sum()
    }
}

/// One worker's counters for the proxy as a whole.
#[derive(Default, Debug)]
#[repr(align(64))]
pub struct ProxyCounters {
    /// Keys asked for by retrievals (`get`, `gets`, `gat`, `gats`, `mg`, binary gets).
    pub cmd_get: AtomicU64,
    /// Storage requests.
    pub cmd_set: AtomicU64,
    /// Every other forwarded request (deletes, arithmetic, touches, meta).
    pub cmd_other: AtomicU64,
    /// Requests the proxy answered itself (`version`, `stats`, errors...).
    pub cmd_local: AtomicU64,
    /// Requests answered `SERVER_ERROR` (or a binary error) because of a backend.
    pub backend_errors: AtomicU64,
    /// Multi-get keys turned into misses because their backend failed.
    pub failed_keys: AtomicU64,
}

/// Everything the proxy counts, shared by workers and readers.
#[derive(Debug)]
pub struct ProxyStats {
    workers: usize,
    totals: Vec<ProxyCounters>,
    backends: Mutex<BTreeMap<String, Arc<BackendStats>>>,
    pools: Mutex<BTreeMap<String, Arc<PoolStats>>>,
    /// Configurations loaded since start (1 at start).
    pub reloads: AtomicU64,
    /// Reloads refused (the old configuration kept running).
    pub reload_failures: AtomicU64,
}

impl ProxyStats {
    pub fn new(workers: usize) -> ProxyStats {
        ProxyStats {
            workers: workers.max(1),
            totals: (0..workers.max(1))
                .map(|_| ProxyCounters::default())
                .collect(),
            backends: Mutex::new(BTreeMap::new()),
            pools: Mutex::new(BTreeMap::new()),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
        }
    }

    /// Worker `i`'s proxy-wide counters.
    #[inline]
    pub fn worker(&self, i: usize) -> WorkerCounter<'_, ProxyCounters> {
        WorkerCounter(&self.totals[i.min(self.totals.len() - 1)])
    }

    pub fn sum(&self, f: impl Fn(&ProxyCounters) -> &AtomicU64) -> u64 {
        self.totals.iter().map(|w| f(w).load(Relaxed)).sum()
    }

    /// The counters of the backend called `key`, made on first use.
    pub fn backend(&self, key: &str) -> Arc<BackendStats> {
        let mut all = self.backends.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(key.to_string())
            .or_insert_with(|| Arc::new(BackendStats::new(self.workers)))
            .clone()
    }

    /// The counters of the pool called `name`, made on first use.
    pub fn pool(&self, name: &str) -> Arc<PoolStats> {
        let mut all = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(name.to_string())
            .or_insert_with(|| Arc::new(PoolStats::new(self.workers)))
            .clone()
    }
}

/// Latency in microseconds, in buckets of 1/8 of a power of two (an error of at most
/// 12.5%), up to about 70 minutes. Written by one worker with plain atomic stores, read
/// by anyone: unlike an HdrHistogram, it needs no `&mut` to record and no lock to read.
#[derive(Debug)]
pub struct Latency {
    buckets: Box<[AtomicU64; BUCKETS]>,
}

const SUB: u32 = 8;
const BUCKETS: usize = 32 * SUB as usize;

impl Default for Latency {
    fn default() -> Latency {
        Latency {
            buckets: Box::new([const { AtomicU64::new(0) }; BUCKETS]),
        }
    }
}

impl Latency {
    fn bucket(us: u64) -> usize {
        if us < u64::from(SUB) {
            return us as usize;
        }
        let power = 63 - us.leading_zeros(); // >= 3
        let sub = (us >> (power - 3)) & u64::from(SUB - 1);
        (((power - 2) * SUB) as usize + sub as usize).min(BUCKETS - 1)
    }

    /// The smallest value of a bucket.
    fn floor(bucket: usize) -> u64 {
        if bucket < SUB as usize {
            return bucket as u64;
        }
        let power = (bucket as u32) / SUB + 2;
        let sub = (bucket as u32 % SUB) as u64;
        (1u64 << power) | (sub << (power - 3))
    }

    /// Records one latency (by the worker that owns this histogram).
    #[inline]
    pub fn record(&self, us: u64) {
        bump(&self.buckets[Self::bucket(us)], 1);
    }

    /// Several histograms added together.
    pub fn merged(all: &[Latency]) -> Latency {
        let sum = Latency::default();
        for h in all {
            for (i, b) in h.buckets.iter().enumerate() {
                sum.buckets[i].fetch_add(b.load(Relaxed), Relaxed);
            }
        }
        sum
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// The `p`th percentile (0 to 100): the upper end of the bucket it falls in; 0 when
    /// nothing was recorded.
    pub fn percentile(&self, p: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                return Latency::floor(i + 1)
                    .saturating_sub(1)
                    .max(Latency::floor(i));
            }
        }
        Latency::floor(BUCKETS - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order_with_bounded_error() {
        let mut last = 0;
        for us in (0..100_000u64).chain([1 << 30, u64::MAX]) {
            let b = Latency::bucket(us);
            assert!(b >= last, "{us}");
            last = b;
            if b + 1 < BUCKETS {
                assert!(
                    Latency::floor(b) <= us && us < Latency::floor(b + 1),
                    "{us} in {b}"
                );
                let width = Latency::floor(b + 1) - Latency::floor(b);
                assert!(width * 8 <= Latency::floor(b).max(8), "{us}: {width}");
            }
        }
    }

    #[test]
    fn percentiles_of_known_values() {
        let h = Latency::default();
        assert_eq!(h.percentile(99.0), 0);
        for us in 1..=1000 {
            h.record(us);
        }
        let p50 = h.percentile(50.0);
        assert!((440..=570).contains(&p50), "{p50}");
        let p99 = h.percentile(99.0);
        assert!((980..=1130).contains(&p99), "{p99}");
        assert_eq!(h.count(), 1000);
    }

    #[test]
    fn counters_are_kept_by_name() {
        let stats = ProxyStats::new(2);
        stats.backend("a:one").worker(1).add(|c| &c.requests, 2);
        assert_eq!(stats.backend("a:one").sum(|c| &c.requests), 2);
        assert_eq!(stats.backend("a:two").sum(|c| &c.requests), 0);
        stats.pool("a").worker(0).add(|c| &c.fragments, 5);
        assert_eq!(stats.pool("a").sum(|c| &c.fragments), 5);
    }
}
