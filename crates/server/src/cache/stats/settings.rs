//! `stats settings`: the server's settings as memcached names them, TLS's included
//! (memcached's defaults when TLS is off).

use super::stat_line::stat;
use crate::cache::detail::DetailStats;
use crate::ServerConfig;
use store::Store;

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
