//! The cache's command counters and the `stats` replies.
//!
//! Each worker bumps its own counters (relaxed atomics on their own cache line, written
//! by one thread), and `stats` sums them. Item counters come from the store, connection
//! and byte counters from the runtime. Names and order follow memcached 1.6's `stats`,
//! so dashboards keep working.

use super::detail::DetailStats;
use super::log::Log;
use crate::counter_set::counter_set;
use crate::runtime::RuntimeStats;
use crate::ServerConfig;
use std::io::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};
use store::Store;

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

fn stat(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "STAT {name} {value}\r\n");
}

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

/// `stats settings`' TLS lines: `-Z`'s settings, or memcached's defaults without it.
fn write_tls_settings(out: &mut Vec<u8>, config: &ServerConfig) {
    let Some(tls) = &config.tls else {
        for (name, value) in [
            ("ssl_enabled", "no"),
            ("ssl_chain_cert", "(null)"),
            ("ssl_key", "(null)"),
            ("ssl_verify_mode", "0"),
            ("ssl_keyformat", "1"),
            ("ssl_ciphers", "NULL"),
            ("ssl_ca_cert", "NULL"),
            ("ssl_wbuf_size", "16384"),
            ("ssl_session_cache", "no"),
            ("ssl_kernel_tls", "no"),
            ("ssl_min_version", "tlsv1.2"),
        ] {
            stat(out, name, value);
        }
        return;
    };
    let s = tls.context.settings();
    let path = |p: &Option<std::path::PathBuf>, none: &str| {
        p.as_ref()
            .map_or_else(|| none.to_string(), |p| p.display().to_string())
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    stat(out, "ssl_enabled", "yes");
    stat(out, "ssl_chain_cert", path(&s.chain_cert, "(null)"));
    stat(out, "ssl_key", path(&s.key, "(null)"));
    stat(out, "ssl_verify_mode", s.verify_mode.openssl_flags());
    stat(out, "ssl_keyformat", s.key_format.number());
    stat(out, "ssl_ciphers", s.ciphers.as_deref().unwrap_or("NULL"));
    stat(out, "ssl_ca_cert", path(&s.ca_cert, "NULL"));
    stat(out, "ssl_wbuf_size", s.wbuf_size);
    stat(out, "ssl_session_cache", yes_no(s.session_cache));
    // Kernel TLS is not used: the records are rustls' (docs/tls.md says why).
    stat(out, "ssl_kernel_tls", "no");
    stat(out, "ssl_min_version", s.min_version.name());
}

/// Appends `stats settings` (without `END`); `ext` are the `ext_*` lines, in
/// memcached's order.
pub(crate) fn write_settings(
    out: &mut Vec<u8>,
    detail: &DetailStats,
    config: &ServerConfig,
    store: &Store,
    ext: &[(&'static str, String)],
) {
    let sc = store.config();
    stat(out, "maxbytes", sc.memory_limit);
    stat(out, "maxconns", config.max_conns);
    stat(out, "tcpport", config.tcp_port);
    stat(out, "udpport", config.udp_port);
    stat(out, "inter", config.interface.as_deref().unwrap_or("NULL"));
    stat(out, "verbosity", config.verbose);
    stat(out, "oldest", 0);
    stat(out, "evictions", if sc.evict { "on" } else { "off" });
    stat(
        out,
        "domain_socket",
        config
            .unix_socket
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "NULL".to_string()),
    );
    stat(out, "umask", format!("{:o}", config.unix_mask));
    stat(
        out,
        "shutdown_command",
        if config.allow_shutdown { "yes" } else { "no" },
    );
    stat(out, "growth_factor", "1.25");
    stat(out, "chunk_size", 48);
    stat(out, "num_threads", config.threads);
    stat(out, "num_threads_per_udp", config.threads);
    stat(out, "stat_key_prefix", ":");
    stat(
        out,
        "detail_enabled",
        if detail.enabled() { "yes" } else { "no" },
    );
    stat(out, "reqs_per_event", config.reqs_per_event);
    stat(
        out,
        "cas_enabled",
        if sc.cas_enabled { "yes" } else { "no" },
    );
    stat(out, "tcp_backlog", config.backlog);
    stat(
        out,
        "binding_protocol",
        match config.protocol {
            crate::ProtocolMode::Auto => "auto-negotiate",
            crate::ProtocolMode::Ascii => "ascii",
            crate::ProtocolMode::Binary => "binary",
        },
    );
    stat(
        out,
        "auth_enabled_sasl",
        if config.sasl.is_some() { "yes" } else { "no" },
    );
    // memcached shows the authfile's path, or "no".
    match &config.auth_file {
        Some(users) => stat(out, "auth_enabled_ascii", users.path().display()),
        None => stat(out, "auth_enabled_ascii", "no"),
    }
    stat(out, "item_size_max", sc.item_size_max);
    let yes = |on: bool| if on { "yes" } else { "no" };
    let on = config.subsystems;
    stat(out, "maxconns_fast", yes(on.maxconns_fast));
    stat(out, "hashpower_init", 0);
    // Settings of memcached subsystems Corvid does not have, reported with memcached's
    // defaults so that configuration checkers see a familiar shape.
    for (name, value) in [
        ("slab_reassign", yes(on.slab_reassign)),
        ("slab_automove", "1"),
        ("slab_automove_ratio", "0.80"),
        ("slab_automove_window", "30"),
        ("slab_chunk_max", "524288"),
        ("lru_crawler", yes(on.lru_crawler)),
        ("lru_crawler_sleep", "100"),
        ("lru_crawler_tocrawl", "0"),
        ("tail_repair_time", "0"),
        (
            "flush_enabled",
            if config.flush_enabled { "yes" } else { "no" },
        ),
        (
            "dump_enabled",
            if config.dump_enabled { "yes" } else { "no" },
        ),
        ("hash_algorithm", "murmur3"),
        ("lru_maintainer_thread", yes(on.lru_maintainer)),
        ("lru_segmented", yes(on.lru_maintainer)),
        ("hot_lru_pct", "20"),
        ("warm_lru_pct", "40"),
        ("hot_max_factor", "0.20"),
        ("warm_max_factor", "2.00"),
        ("temp_lru", "no"),
        ("temporary_ttl", "61"),
    ] {
        stat(out, name, value);
    }
    stat(
        out,
        "idle_timeout",
        config.idle_timeout.map(|d| d.as_secs()).unwrap_or(0),
    );
    for (name, value) in [
        ("watcher_logbuf_size", "262144"),
        ("worker_logbuf_size", "65536"),
        ("read_buf_mem_limit", "0"),
        ("track_sizes", "no"),
        ("inline_ascii_response", "no"),
    ] {
        stat(out, name, value);
    }
    for (name, value) in ext {
        stat(out, name, value);
    }
    write_tls_settings(out, config);
    stat(out, "num_napi_ids", "(null)");
    // memcached prints the path given to -e, or "(null)" without one.
    match store.memory_file() {
        Some(path) => stat(out, "memory_file", path.display()),
        None => stat(out, "memory_file", "(null)"),
    }
}

/// Appends `stats extstore`: each page's version, live bytes, bucket and free bucket.
pub(crate) fn write_pages(out: &mut Vec<u8>, pages: &[disk::PageData]) {
    for (i, p) in pages.iter().enumerate() {
        stat(out, &format!("{i}:version"), p.version);
        stat(out, &format!("{i}:bytes"), p.bytes_used);
        stat(out, &format!("{i}:bucket"), p.bucket);
        stat(out, &format!("{i}:free_bucket"), p.free_bucket);
    }
}

/// Appends `stats conns` lines for one connection.
/// One `stats conns` entry: what memcached lists of a socket, in its order of lines.
pub(crate) enum ConnEntry<'a> {
    /// A listening socket (`state conn_listening`).
    Listening { addr: &'a str },
    /// A worker's UDP socket (`UDP UDP`, `state conn_read`).
    Udp { addr: &'a str },
    /// A client, with the socket it came in on.
    Client {
        addr: &'a str,
        listen_addr: &'a str,
        state: &'a str,
    },
}

/// Appends one `stats conns` entry for descriptor `fd`.
pub(crate) fn write_conn(out: &mut Vec<u8>, fd: i64, entry: &ConnEntry<'_>, idle_secs: u64) {
    match entry {
        ConnEntry::Listening { addr } => {
            stat(out, &format!("{fd}:addr"), addr);
            stat(out, &format!("{fd}:state"), "conn_listening");
        }
        ConnEntry::Udp { addr } => {
            stat(out, &format!("{fd}:UDP"), "UDP");
            stat(out, &format!("{fd}:addr"), addr);
            stat(out, &format!("{fd}:state"), "conn_read");
        }
        ConnEntry::Client {
            addr,
            listen_addr,
            state,
        } => {
            stat(out, &format!("{fd}:addr"), addr);
            stat(out, &format!("{fd}:listen_addr"), listen_addr);
            stat(out, &format!("{fd}:state"), state);
        }
    }
    stat(out, &format!("{fd}:secs_since_last_cmd"), idle_secs);
}

/// Appends `stats items`: memcached's lines for a server with one slab class, class 1,
/// holding every item. Corvid's heap is one pool of segments, so that is the truthful
/// shape (`stats cachedump` and `lru_crawler metadump` say `cls=1` too). Corvid has one
/// eviction queue, no hot, warm and cold LRUs and no LRU crawler: everything is in the
/// cold LRU, and the counters of machinery it lacks stay at 0. `age` (the LRU tail's age
/// in memcached) and `evicted_time` are not tracked: 0.
pub(crate) fn write_items(out: &mut Vec<u8>, store: &Store) {
    let s = store.stats();
    if s.curr_items == 0 {
        return;
    }
    let lines: [(&str, u64); 28] = [
        ("number", s.curr_items),
        ("number_hot", 0),
        ("number_warm", 0),
        ("number_cold", s.curr_items),
        ("age_hot", 0),
        ("age_warm", 0),
        ("age", 0),
        ("mem_requested", s.bytes),
        ("evicted", s.evictions),
        ("evicted_nonzero", 0),
        ("evicted_time", 0),
        ("outofmemory", s.store_no_memory),
        ("tailrepairs", 0),
        ("reclaimed", s.reclaimed),
        ("expired_unfetched", s.expired_unfetched),
        ("evicted_unfetched", s.evicted_unfetched),
        ("evicted_active", s.evicted_active),
        ("crawler_reclaimed", 0),
        ("crawler_items_checked", 0),
        ("lrutail_reflocked", 0),
        ("moves_to_cold", 0),
        ("moves_to_warm", s.moves_to_warm),
        ("moves_within_lru", 0),
        ("direct_reclaims", 0),
        ("hits_to_hot", 0),
        ("hits_to_warm", 0),
        ("hits_to_cold", s.get_hits),
        ("hits_to_temp", 0),
    ];
    for (name, value) in lines {
        stat(out, &format!("items:1:{name}"), value);
    }
}

/// Appends `stats slabs`: class 1 as memcached shows a slab class, in Corvid's terms. A
/// page is a segment (`total_pages`: segments holding data; `total_malloced`: their
/// bytes). Items are not cut to a chunk size, so `chunk_size` is the mean item size (what
/// `memcached-tool display` prints as `Item_Size`), `used_chunks` the items, and
/// `total_chunks` how many such items the segments in use hold: the class is "full"
/// when the segments are. `cmd_set` is the server's (memcached counts it per class).
pub(crate) fn write_slabs(out: &mut Vec<u8>, store: &Store, cmd_set: u64) {
    let s = store.stats();
    let segment = store.config().segment_size as u64;
    let pages = s.used_segments;
    if pages > 0 {
        let chunk = s.bytes.div_ceil(s.curr_items.max(1)).max(1);
        let per_page = segment / chunk;
        let total = pages * per_page;
        let lines: [(&str, u64); 15] = [
            ("chunk_size", chunk),
            ("chunks_per_page", per_page),
            ("total_pages", pages),
            ("total_chunks", total),
            ("used_chunks", s.curr_items),
            ("free_chunks", total.saturating_sub(s.curr_items)),
            ("free_chunks_end", 0),
            ("get_hits", s.get_hits),
            ("cmd_set", cmd_set),
            ("delete_hits", s.delete_hits),
            ("incr_hits", s.incr_hits),
            ("decr_hits", s.decr_hits),
            ("cas_hits", s.cas_hits),
            ("cas_badval", s.cas_badval),
            ("touch_hits", s.touch_hits),
        ];
        for (name, value) in lines {
            stat(out, &format!("1:{name}"), value);
        }
    }
    stat(out, "active_slabs", u64::from(pages > 0));
    stat(out, "total_malloced", pages * segment);
}
