//! What each worker counts of the commands clients send (`cmd_get`, `cmd_set`, ...), on
//! a cache line of its own, summed for `stats` and cleared by `stats reset`.

use crate::cache::detail::DetailStats;
use crate::counter_set::counter_set;

counter_set! {
    /// One worker's command counters. The store counts what it did (hits, misses); these
    /// count what clients asked for, as memcached counts it (a `gat` key is a touch, a
    /// bad data chunk still a set, a refused `flush_all` still a flush).
    #[repr(align(64))]
    pub struct CommandCounters, sums Totals {
        /// Retrieval keys (get, gets, mg, binary GET...).
        cmd_get: reset,
        /// Storage commands whose data was read.
        cmd_set: reset,
        /// `flush_all`.
        cmd_flush: reset,
        /// touch, gat keys, binary TOUCH and GAT.
        cmd_touch: reset,
        /// `me`.
        cmd_meta: reset,
        /// Logins tried (`-Y`'s text login, SASL steps).
        auth_cmds: reset,
        /// Logins refused.
        auth_errors: reset,
    }
}

/// The cache's counters: per worker, and `stats detail`.
#[derive(Debug)]
pub struct CacheStats {
    /// Indexed by worker number.
    pub workers: Vec<CommandCounters>,
    /// `stats detail` per-prefix counters.
    pub detail: DetailStats,
}

impl CacheStats {
    /// Counters for `workers` workers.
    pub fn new(workers: usize) -> CacheStats {
        CacheStats {
            workers: (0..workers).map(|_| CommandCounters::default()).collect(),
            detail: DetailStats::default(),
        }
    }

    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for w in &self.workers {
            w.add_to(&mut t);
        }
        t
    }

    /// What `stats reset` clears on the cache's side.
    pub fn reset(&self) {
        for w in &self.workers {
            w.reset();
        }
    }
}
