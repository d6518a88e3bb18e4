//! The general `stats` reply: process, clock and version, connections, commands, items,
//! memory, TLS, and (with a disk tier) the extstore counters, in memcached 1.6's order.

use super::counters::CacheStats;
use super::stat_line::stat;
use crate::cache::log::Log;
use crate::runtime::RuntimeStats;
use crate::ServerConfig;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};
use store::Store;

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn rusage() -> (f64, f64) {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer is always a valid call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

/// The version string `version` and `stats` report: memcached's, so that clients that
/// check for features by version keep working, with Corvid's own after a dash.
pub const VERSION: &str = concat!("1.6.18-corvid-", env!("CARGO_PKG_VERSION"));

/// What the general `stats` reply reads.
pub(crate) struct Sources<'a> {
    pub(crate) cache: &'a CacheStats,
    pub(crate) runtime: &'a RuntimeStats,
    pub(crate) config: &'a ServerConfig,
    pub(crate) store: &'a Store,
    pub(crate) log: &'a Log,
    /// With the disk tier: its read counters (`get_extstore` ...), and the engine's
    /// `extstore_*` counters, in memcached's order.
    pub(crate) ext: Option<(Named<'a>, Named<'a>)>,
}

/// Counters as `stats` lines: name and value, in order.
pub(crate) type Named<'a> = &'a [(&'static str, u64)];

/// Appends the general `stats` reply (without the final `END`).
pub(crate) fn write_general(out: &mut Vec<u8>, from: &Sources<'_>) {
    let (config, store, stats) = (from.config, from.store, from.runtime);
    let t = from.cache.totals();
    let r = stats.totals();
    let s = store.stats();
    let (user, system) = rusage();
    stat(out, "pid", std::process::id());
    stat(out, "uptime", stats.uptime().as_secs());
    stat(out, "time", unix_now());
    stat(out, "version", VERSION);
    stat(out, "libevent", "none");
    stat(out, "pointer_size", usize::BITS);
    stat(out, "rusage_user", format!("{user:.6}"));
    stat(out, "rusage_system", format!("{system:.6}"));
    stat(out, "max_connections", config.max_conns);
    stat(
        out,
        "curr_connections",
        stats.curr_connections.load(Relaxed),
    );
    stat(out, "total_connections", r.total_connections);
    let on = config.subsystems;
    if on.maxconns_fast {
        stat(
            out,
            "rejected_connections",
            stats.rejected_connections.load(Relaxed),
        );
    }
    stat(
        out,
        "connection_structures",
        stats.curr_connections.load(Relaxed),
    );
    stat(out, "response_obj_oom", 0);
    stat(out, "response_obj_count", 0);
    stat(out, "response_obj_bytes", 0);
    stat(out, "read_buf_count", 0);
    stat(out, "read_buf_bytes", 0);
    stat(out, "read_buf_bytes_free", 0);
    stat(out, "read_buf_oom", 0);
    stat(out, "reserved_fds", 0);
    stat(out, "cmd_get", t.cmd_get);
    stat(out, "cmd_set", t.cmd_set);
    stat(out, "cmd_flush", t.cmd_flush);
    stat(out, "cmd_touch", t.cmd_touch);
    stat(out, "cmd_meta", t.cmd_meta);
    stat(out, "get_hits", s.get_hits);
    stat(out, "get_misses", s.get_misses);
    stat(out, "get_expired", s.get_expired);
    stat(out, "get_flushed", s.get_flushed);
    if let Some((reads, _)) = from.ext {
        for (name, value) in reads {
            stat(out, name, value);
        }
    }
    stat(out, "delete_misses", s.delete_misses);
    stat(out, "delete_hits", s.delete_hits);
    stat(out, "incr_misses", s.incr_misses);
    stat(out, "incr_hits", s.incr_hits);
    stat(out, "decr_misses", s.decr_misses);
    stat(out, "decr_hits", s.decr_hits);
    stat(out, "cas_misses", s.cas_misses);
    stat(out, "cas_hits", s.cas_hits);
    stat(out, "cas_badval", s.cas_badval);
    stat(out, "touch_hits", s.touch_hits);
    stat(out, "touch_misses", s.touch_misses);
    stat(out, "store_too_large", s.store_too_large);
    stat(out, "store_no_memory", s.store_no_memory);
    stat(out, "auth_cmds", t.auth_cmds);
    stat(out, "auth_errors", t.auth_errors);
    // memcached lists it only when idle connections are kicked at all.
    if config.idle_timeout.is_some() {
        stat(out, "idle_kicks", r.idle_kicks);
    }
    stat(out, "bytes_read", r.bytes_read);
    stat(out, "bytes_written", r.bytes_written);
    stat(out, "limit_maxbytes", store.config().memory_limit);
    stat(out, "accepting_conns", stats.accepting.load(Relaxed));
    stat(out, "listen_disabled_num", 0);
    stat(out, "time_in_listen_disabled_us", 0);
    stat(out, "threads", config.threads);
    stat(out, "conn_yields", r.conn_yields);
    // memcached's slab, LRU-crawler and logger machinery has no counterpart here; the
    // names stay, at zero, so that dashboards and exporters find every stat they expect.
    // Each group only when its memcached subsystem is on, as memcached lists them.
    let zeros: [(&[&str], bool); 4] = [
        (
            &["hash_power_level", "hash_bytes", "hash_is_expanding"],
            true,
        ),
        (
            &[
                "slab_reassign_rescues",
                "slab_reassign_chunk_rescues",
                "slab_reassign_evictions_nomem",
                "slab_reassign_inline_reclaim",
                "slab_reassign_busy_items",
                "slab_reassign_busy_deletes",
                "slab_reassign_running",
                "slabs_moved",
            ],
            on.slab_reassign,
        ),
        (
            &["lru_crawler_running", "lru_crawler_starts"],
            on.lru_crawler,
        ),
        (&["lru_maintainer_juggles"], on.lru_maintainer),
    ];
    for (names, shown) in zeros {
        for name in names.iter().filter(|_| shown) {
            stat(out, name, 0);
        }
    }
    stat(out, "malloc_fails", 0);
    let log = &from.log.counters;
    stat(out, "log_worker_dropped", log.worker_dropped.load(Relaxed));
    stat(out, "log_worker_written", log.worker_written.load(Relaxed));
    stat(
        out,
        "log_watcher_skipped",
        log.watcher_skipped.load(Relaxed),
    );
    stat(out, "log_watcher_sent", log.watcher_sent.load(Relaxed));
    stat(out, "log_watchers", from.log.watchers());
    if let Some((_, engine)) = from.ext {
        for (name, value) in engine {
            stat(out, name, value);
        }
    }
    if let Some(tls) = &config.tls {
        write_tls(out, &tls.context);
    }
    for name in ["unexpected_napi_ids", "round_robin_fallback"] {
        stat(out, name, 0);
    }
    stat(out, "bytes", s.bytes);
    stat(out, "curr_items", s.curr_items);
    stat(out, "total_items", s.total_items);
    stat(out, "slab_global_page_pool", 0);
    stat(out, "expired_unfetched", s.expired_unfetched);
    stat(out, "evicted_unfetched", s.evicted_unfetched);
    if on.lru_maintainer {
        stat(out, "evicted_active", s.evicted_active);
    }
    stat(out, "evictions", s.evictions);
    stat(out, "reclaimed", s.reclaimed);
    for name in [
        "crawler_reclaimed",
        "crawler_items_checked",
        "lrutail_reflocked",
    ] {
        stat(out, name, 0);
    }
    // The segmented LRU's counters: only with its maintainer, as in memcached.
    let segmented = [
        "moves_to_cold",
        "moves_to_warm",
        "moves_within_lru",
        "direct_reclaims",
        "lru_bumps_dropped",
    ];
    for name in segmented.iter().filter(|_| on.lru_maintainer) {
        // Eviction's copy forward of an active item is the rescue memcached counts as a
        // move from COLD to WARM.
        stat(
            out,
            name,
            if *name == "moves_to_warm" {
                s.moves_to_warm
            } else {
                0
            },
        );
    }
}

/// The TLS lines of `stats`, where memcached 1.6.18 prints them (with TLS on). memcached
/// 1.6.18 has no `ssl_proto_errors`; later versions count it, and so does Corvid.
fn write_tls(out: &mut Vec<u8>, tls: &channel::tls::TlsContext) {
    let counters = tls.counters();
    if tls.settings().session_cache {
        stat(out, "ssl_new_sessions", counters.new_sessions.load(Relaxed));
    }
    stat(
        out,
        "ssl_handshake_errors",
        counters.handshake_errors.load(Relaxed),
    );
    stat(out, "ssl_proto_errors", counters.proto_errors.load(Relaxed));
    stat(
        out,
        "time_since_server_cert_refresh",
        tls.seconds_since_refresh(),
    );
}
