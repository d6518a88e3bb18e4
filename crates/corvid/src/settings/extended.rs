//! `-o key=value,key2,...`: memcached's extended options, as entries of the options
//! table. Every key memcached 1.6.18 accepts is accepted (so its init scripts start
//! Corvid), values memcached checks are checked with its messages, the keys Corvid uses
//! are applied, and the rest leave one warning line each. A key memcached does not know
//! is an error, as there.

use super::builder::Builder;
use super::error::SettingsError;
use super::model::Settings;
use super::options::{extended, text_value, toggle, Given, Kind, Opt, Status, Value};
use channel::tls::{KeyFormat, MinVersion, VerifyMode};

/// memcached exits 1 for every `-o` mistake found while reading the list.
fn fail(message: impl Into<String>) -> SettingsError {
    SettingsError::new(message, 1)
}

fn need<'v>(g: Given<'v>, missing: &str) -> Result<&'v str, SettingsError> {
    g.extended().ok_or_else(|| fail(missing))
}

fn whole<T: std::str::FromStr>(value: &str, key: &str) -> Result<T, SettingsError> {
    value
        .parse()
        .map_err(|_| fail(format!("could not parse argument to {key}")))
}

fn real(value: &str, key: &str) -> Result<f64, SettingsError> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(fail(format!("could not parse argument to {key}"))),
    }
}

/// Records an `-o` key Corvid does not use: warned about once, kept for --print-config.
fn ignored(b: &mut Builder, key: &'static str, value: String, spelled: &str) {
    b.ignore(
        key,
        value,
        &format!("-o {spelled}: not used by corvid; ignored"),
    );
}

/// A whole-number key Corvid ignores, with memcached's messages.
macro_rules! number {
    ($key:literal, $help:literal) => {
        extended($key, Kind::Int, "<num>", $help, |b, g| {
            let v = need(g, concat!("Missing ", $key, " argument"))?;
            let n: u64 = whole(v, $key)?;
            ignored(b, $key, n.to_string(), $key);
            Ok(())
        })
        .status(Status::Ignored)
    };
}

/// A text key Corvid ignores.
macro_rules! text {
    ($key:literal, $arg:literal, $help:literal) => {
        extended($key, Kind::Text, $arg, $help, |b, g| {
            let v = need(g, concat!("Missing ", $key, " argument"))?;
            ignored(b, $key, v.to_string(), $key);
            Ok(())
        })
        .status(Status::Ignored)
    };
}

/// A value-less key Corvid ignores (a value, if given, is ignored too, as memcached).
macro_rules! switch {
    ($key:literal, $help:literal) => {
        extended($key, Kind::Switch, "", $help, |b, _| {
            ignored(b, $key, "true".into(), $key);
            Ok(())
        })
        .status(Status::Ignored)
    };
}

/// A key and its `no_` twin, both ignored.
macro_rules! twins {
    ($key:literal, $negation:literal, $help:literal) => {
        toggle($key, $negation, $help, |b, g| {
            let spelled = if g.negated { $negation } else { $key };
            ignored(b, $key, (!g.negated).to_string(), spelled);
            Ok(())
        })
        .status(Status::Ignored)
    };
}

/// A disk-tier key: read as memcached reads it (its messages, its order rules), kept in
/// order for the server (`server::disk_tier::options`).
fn ext(b: &mut Builder, key: &'static str, g: Given<'_>) -> Result<(), SettingsError> {
    let value = g.extended();
    b.ext.apply(key, value).map_err(fail)?;
    b.settings
        .ext
        .push((key.to_string(), value.map(str::to_string)));
    Ok(())
}

/// A disk-tier key's value for `--print-config`: the last one given, written as a config
/// file takes a value of its kind (a number as a number).
fn ext_show(s: &Settings, key: &str, kind: Kind) -> Option<Value> {
    s.ext
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| match v {
            Some(v) => {
                let number = match kind {
                    Kind::Int => v.trim().parse().ok().map(Value::Integer),
                    Kind::Float => v.trim().parse().ok().map(Value::Float),
                    _ => None,
                };
                number.unwrap_or_else(|| text_value(v.clone()))
            }
            None => Value::Boolean(true),
        })
}

/// A disk-tier key other than `ext_path`.
macro_rules! ext {
    ($key:literal, $kind:expr, $arg:literal, $help:literal) => {
        extended($key, $kind, $arg, $help, |b, g| ext(b, $key, g))
            .show(|s| ext_show(s, $key, $kind))
    };
}

/// A key whose value memcached reads as a real number.
macro_rules! real {
    ($key:literal, $help:literal) => {
        extended($key, Kind::Float, "<num>", $help, |b, g| {
            let v = need(g, concat!("Missing ", $key, " argument"))?;
            let f = real(v, $key)?;
            ignored(b, $key, f.to_string(), $key);
            Ok(())
        })
        .status(Status::Ignored)
    };
}

/// memcached's LRU percentages: each 1..79, checked for their sum later.
fn lru_pct(b: &mut Builder, g: Given<'_>, key: &'static str) -> Result<i64, SettingsError> {
    let v = need(g, &format!("Missing {key} argument"))?;
    let n = match v.parse::<i64>() {
        Ok(n) if (1..80).contains(&n) => n,
        _ => return Err(fail(format!("{key} must be > 1 and < 80"))),
    };
    ignored(b, key, n.to_string(), key);
    Ok(n)
}

fn max_factor(b: &mut Builder, g: Given<'_>, key: &'static str) -> Result<(), SettingsError> {
    let v = need(g, &format!("Missing {key} argument"))?;
    match v.parse::<f64>() {
        Ok(f) if f > 0.0 => ignored(b, key, f.to_string(), key),
        _ => return Err(fail(format!("{key} must be > 0"))),
    }
    Ok(())
}

/// memcached's 0..3 TLS levels, with its message for anything else.
fn ssl_level(g: Given<'_>, key: &'static str) -> Result<i64, SettingsError> {
    let v = need(g, &format!("Missing {key} argument"))?;
    let n: i64 = whole(v, key)?;
    if !(0..=3).contains(&n) {
        return Err(fail(format!(
            "Invalid {key}. Use help to see valid options."
        )));
    }
    Ok(n)
}

/// A TLS file path for --print-config.
fn tls_path(p: &Option<std::path::PathBuf>) -> Option<Value> {
    p.as_ref()
        .map(|p| Value::String(p.to_string_lossy().into_owned()))
}

/// Every `-o` key memcached 1.6.18 accepts (the Debian build: with TLS and extstore,
/// without the proxy), the ones Corvid uses first.
pub(super) const EXTENDED: &[Opt] = &[
    extended(
        "idle_timeout",
        Kind::Int,
        "<sec>",
        "close connections idle this long; 0 never",
        |b, g| {
            let v = need(g, "Missing numeric argument for idle_timeout")?;
            b.settings.idle_timeout = whole(v, "idle_timeout")?;
            Ok(())
        },
    )
    .note("waiting for a command, or mid-line")
    .show(|s| {
        Some(Value::Integer(
            i64::try_from(s.idle_timeout).unwrap_or(i64::MAX),
        ))
    }),
    extended(
        "io_backend",
        Kind::Text,
        "<name>",
        "how workers do connections' IO: epoll or uring (io_uring)",
        |b, g| {
            b.settings.io_uring = match need(g, "Missing io_backend argument")? {
                "epoll" => false,
                "uring" => true,
                _ => return Err(fail("Unknown io_backend (epoll, uring)")),
            };
            Ok(())
        },
    )
    .note("uring falls back to epoll, saying so once, where the kernel refuses io_uring")
    .show(|s| {
        Some(Value::String(
            if s.io_uring { "uring" } else { "epoll" }.into(),
        ))
    }),
    toggle(
        "maxconns_fast",
        "no_maxconns_fast",
        "over -c, send new connections an error and close them (no_: stop accepting)",
        |b, g| {
            b.settings.maxconns_fast = !g.negated;
            Ok(())
        },
    )
    .note("`no_maxconns_fast` behaves as `maxconns_fast`, with a warning at start")
    .show(|s| Some(Value::Boolean(s.maxconns_fast))),
    toggle(
        "modern",
        "no_modern",
        "memcached's modern defaults (nothing in 1.6.18)",
        |b, g| {
            // A no-op in memcached 1.6.18 as well: only its `no_` twin is worth a warning.
            if g.negated {
                ignored(b, "modern", "false".into(), "no_modern");
            }
            Ok(())
        },
    )
    .status(Status::Ignored)
    .note("`modern` is silent, as in memcached"),
    extended(
        "slab_chunk_max",
        Kind::Int,
        "<bytes>",
        "largest slab chunk (bytes in 1.6.18, although its help says KB)",
        |b, g| {
            let v = need(g, "Missing slab_chunk_max argument")?;
            let n: i64 = whole(v, "slab_chunk_max")?;
            if n <= 0 {
                // memcached divides by it and crashes; say why instead.
                return Err(fail("slab_chunk_max must be greater than 0"));
            }
            // Kept only to apply memcached's -I rules, which are stated against it.
            b.slab_chunk_max = n;
            ignored(b, "slab_chunk_max", n.to_string(), "slab_chunk_max");
            Ok(())
        },
    )
    .status(Status::Ignored)
    .note("but applied to memcached's `-I` rules (see below)"),
    extended(
        "hashpower",
        Kind::Int,
        "<12..32>",
        "initial hash table size",
        |b, g| {
            let v = need(g, "Missing numeric argument for hashpower")?;
            let n: i64 = whole(v, "hashpower")?;
            if n < 12 {
                return Err(fail(format!(
                    "Initial hashtable multiplier of {n} is too low"
                )));
            }
            if n > 32 {
                return Err(fail(format!(
                    "Initial hashtable multiplier of {n} is too high"
                )));
            }
            ignored(b, "hashpower", n.to_string(), "hashpower");
            Ok(())
        },
    )
    .status(Status::Ignored),
    switch!("no_hashexpand", "freeze the hash table"),
    extended(
        "tail_repair_time",
        Kind::Int,
        "<sec>",
        "force-free stuck LRU tail items (at least 10)",
        |b, g| {
            let v = need(g, "Missing numeric argument for tail_repair_time")?;
            let n: i64 = whole(v, "tail_repair_time")?;
            if n < 10 {
                return Err(fail("Cannot set tail_repair_time to less than 10 seconds"));
            }
            ignored(b, "tail_repair_time", n.to_string(), "tail_repair_time");
            Ok(())
        },
    )
    .status(Status::Ignored),
    extended(
        "hash_algorithm",
        Kind::Text,
        "<name>",
        "hash function: jenkins, murmur3 or xxh3",
        |b, g| {
            let v = need(g, "Missing hash_algorithm argument")?;
            if !matches!(v, "jenkins" | "murmur3" | "xxh3") {
                return Err(fail(
                    "Unknown hash_algorithm option (jenkins, murmur3, xxh3)",
                ));
            }
            ignored(b, "hash_algorithm", v.to_string(), "hash_algorithm");
            Ok(())
        },
    )
    .status(Status::Ignored),
    twins!("lru_crawler", "no_lru_crawler", "LRU crawler thread"),
    extended(
        "lru_crawler_sleep",
        Kind::Int,
        "<usec>",
        "LRU crawler pause (0..1000000)",
        |b, g| {
            let v = need(g, "Missing lru_crawler_sleep value")?;
            match v.parse::<i64>() {
                Ok(n) if (0..=1_000_000).contains(&n) => {
                    ignored(b, "lru_crawler_sleep", n.to_string(), "lru_crawler_sleep")
                }
                _ => return Err(fail("LRU crawler sleep must be between 0 and 1 second")),
            }
            Ok(())
        },
    )
    .status(Status::Ignored),
    extended(
        "lru_crawler_tocrawl",
        Kind::Int,
        "<num>",
        "LRU crawler items per run",
        |b, g| {
            let v = need(g, "Missing lru_crawler_tocrawl value")?;
            let Ok(n) = v.parse::<u32>() else {
                return Err(fail("lru_crawler_tocrawl takes a numeric 32bit value"));
            };
            ignored(
                b,
                "lru_crawler_tocrawl",
                n.to_string(),
                "lru_crawler_tocrawl",
            );
            Ok(())
        },
    )
    .status(Status::Ignored),
    toggle(
        "lru_maintainer",
        "no_lru_maintainer",
        "segmented LRU maintainer thread",
        |b, g| {
            b.lru_maintainer = !g.negated;
            let spelled = if g.negated {
                "no_lru_maintainer"
            } else {
                "lru_maintainer"
            };
            ignored(b, "lru_maintainer", (!g.negated).to_string(), spelled);
            Ok(())
        },
    )
    .status(Status::Ignored),
    extended(
        "hot_lru_pct",
        Kind::Int,
        "<pct>",
        "share of the hot LRU (1..79; with warm, at most 80)",
        |b, g| {
            b.hot_lru_pct = lru_pct(b, g, "hot_lru_pct")?;
            Ok(())
        },
    )
    .status(Status::Ignored),
    extended(
        "warm_lru_pct",
        Kind::Int,
        "<pct>",
        "share of the warm LRU (1..79; with hot, at most 80)",
        |b, g| {
            b.warm_lru_pct = lru_pct(b, g, "warm_lru_pct")?;
            Ok(())
        },
    )
    .status(Status::Ignored),
    extended(
        "hot_max_factor",
        Kind::Float,
        "<num>",
        "hot LRU age limit factor (> 0)",
        |b, g| max_factor(b, g, "hot_max_factor"),
    )
    .status(Status::Ignored),
    extended(
        "warm_max_factor",
        Kind::Float,
        "<num>",
        "warm LRU age limit factor (> 0)",
        |b, g| max_factor(b, g, "warm_max_factor"),
    )
    .status(Status::Ignored),
    extended(
        "temporary_ttl",
        Kind::Int,
        "<sec>",
        "items with a shorter TTL go to a temporary LRU (needs lru_maintainer)",
        |b, g| {
            let v = need(g, "Missing temporary_ttl argument")?;
            let n: i64 = whole(v, "temporary_ttl")?;
            b.temporary_ttl = true;
            ignored(b, "temporary_ttl", n.to_string(), "temporary_ttl");
            Ok(())
        },
    )
    .status(Status::Ignored),
    twins!(
        "slab_reassign",
        "no_slab_reassign",
        "slab page reassignment"
    ),
    extended(
        "slab_automove",
        Kind::OptionalInt,
        "<0..2>",
        "slab page rebalancing policy (no_slab_automove: 0)",
        |b, g| {
            // Without a value memcached turns it on (1).
            let n = match (g.negated, g.extended()) {
                (true, _) => 0,
                (false, None) => 1,
                (false, Some(v)) => match v.parse::<i64>() {
                    Ok(n) if (0..=2).contains(&n) => n,
                    _ => return Err(fail("slab_automove must be between 0 and 2")),
                },
            };
            let spelled = if g.negated {
                "no_slab_automove"
            } else {
                "slab_automove"
            };
            ignored(b, "slab_automove", n.to_string(), spelled);
            Ok(())
        },
    )
    .negation("no_slab_automove")
    .status(Status::Ignored),
    extended(
        "slab_automove_ratio",
        Kind::Float,
        "<num>",
        "slab rebalancing threshold (0..1)",
        |b, g| {
            let v = need(g, "Missing slab_automove_ratio argument")?;
            match v.parse::<f64>() {
                Ok(f) if f > 0.0 && f <= 1.0 => ignored(
                    b,
                    "slab_automove_ratio",
                    f.to_string(),
                    "slab_automove_ratio",
                ),
                _ => return Err(fail("slab_automove_ratio must be > 0 and < 1")),
            }
            Ok(())
        },
    )
    .status(Status::Ignored),
    extended(
        "slab_automove_window",
        Kind::Int,
        "<num>",
        "slab rebalancing window (> 2)",
        |b, g| {
            let v = need(g, "Missing slab_automove_window argument")?;
            match v.parse::<i64>() {
                Ok(n) if n > 2 => ignored(
                    b,
                    "slab_automove_window",
                    n.to_string(),
                    "slab_automove_window",
                ),
                _ => return Err(fail("slab_automove_window must be > 2")),
            }
            Ok(())
        },
    )
    .status(Status::Ignored),
    real!("slab_automove_freeratio", "free memory kept per slab class"),
    text!("slab_sizes", "<list>", "explicit slab class sizes"),
    switch!("no_chunked_items", "no chunked items"),
    number!("watcher_logbuf_size", "watcher log buffer size"),
    number!("worker_logbuf_size", "worker log buffer size"),
    number!("read_buf_mem_limit", "connection read buffer memory cap"),
    extended(
        "resp_obj_mem_limit",
        Kind::Text,
        "<num>",
        "response object memory cap (deprecated by memcached)",
        |b, g| {
            let value = g.extended().unwrap_or_default().to_string();
            b.ignore(
                "resp_obj_mem_limit",
                value,
                "-o resp_obj_mem_limit: deprecated by memcached; ignored",
            );
            Ok(())
        },
    )
    .status(Status::Ignored),
    switch!("track_sizes", "per-size item counts"),
    twins!(
        "inline_ascii_resp",
        "no_inline_ascii_resp",
        "inline ASCII responses"
    ),
    twins!(
        "drop_privileges",
        "no_drop_privileges",
        "seccomp privilege dropping"
    ),
    text!("sock_cookie_id", "<num>", "SO_MARK for listening sockets"),
    extended(
        "ssl_chain_cert",
        Kind::Text,
        "<file>",
        "TLS certificate chain, PEM, the server's certificate first",
        |b, g| {
            let v = need(g, "Missing ssl_chain_cert argument")?;
            b.settings.tls.chain_cert = Some(v.into());
            Ok(())
        },
    )
    .show(|s| tls_path(&s.tls.chain_cert)),
    extended(
        "ssl_key",
        Kind::Text,
        "<file>",
        "TLS private key (default: read from ssl_chain_cert)",
        |b, g| {
            let v = need(g, "Missing ssl_key argument")?;
            b.settings.tls.key = Some(v.into());
            Ok(())
        },
    )
    .show(|s| tls_path(&s.tls.key)),
    extended(
        "ssl_verify_mode",
        Kind::Int,
        "<0..3>",
        "TLS client certificates: 0 none, 1 request, 2 require, 3 once",
        |b, g| {
            let n = ssl_level(g, "ssl_verify_mode")?;
            b.settings.tls.verify_mode = VerifyMode::from_level(n).unwrap_or_default();
            Ok(())
        },
    )
    .note("1 to 3 need `ssl_ca_cert` (checked at start); 3 acts as 1, rustls never renegotiates")
    .show(|s| Some(Value::Integer(s.tls.verify_mode.level().into()))),
    extended(
        "ssl_keyformat",
        Kind::Int,
        "<1-2>",
        "TLS key file format: 1 PEM, 2 DER",
        |b, g| {
            let v = need(g, "Missing ssl_keyformat argument")?;
            let n: i64 = whole(v, "ssl_keyformat")?;
            b.settings.tls.key_format = KeyFormat::from_number(n).ok_or_else(|| {
                fail(format!(
                    "ssl_keyformat={n}: corvid reads keys as 1 (PEM) or 2 (DER); an OpenSSL \
                     engine has no counterpart in rustls"
                ))
            })?;
            Ok(())
        },
    )
    .note("3 (an OpenSSL engine) is refused")
    .show(|s| Some(Value::Integer(s.tls.key_format.number().into()))),
    extended(
        "ssl_ciphers",
        Kind::Text,
        "<list>",
        "TLS cipher suites, OpenSSL names separated by colons",
        |b, g| {
            let v = need(g, "Missing ssl_ciphers argument")?;
            b.settings.tls.ciphers = Some(v.to_string());
            Ok(())
        },
    )
    .note("names of suites rustls has (`ECDHE-ECDSA-AES128-GCM-SHA256`, `TLS_AES_128_GCM_SHA256`, ...); OpenSSL keywords (`HIGH`, `!aNULL`) and suites rustls lacks are refused at start, naming the first")
    .show(|s| s.tls.ciphers.clone().map(Value::String)),
    extended(
        "ssl_ca_cert",
        Kind::Text,
        "<file>",
        "CA certificates (PEM) client certificates must chain to",
        |b, g| {
            let v = need(g, "Missing ssl_ca_cert argument")?;
            b.settings.tls.ca_cert = Some(v.into());
            Ok(())
        },
    )
    .show(|s| tls_path(&s.tls.ca_cert)),
    extended(
        "ssl_wbuf_size",
        Kind::Int,
        "<kb>",
        "most plaintext encrypted per write, in KiB (16)",
        |b, g| {
            let v = need(g, "Missing ssl_wbuf_size argument")?;
            let kb: usize = whole(v, "ssl_wbuf_size")?;
            if kb == 0 {
                return Err(fail("ssl_wbuf_size must be at least 1"));
            }
            b.settings.tls.wbuf_size = kb.saturating_mul(1024);
            Ok(())
        },
    )
    .note("large values leave through the TLS writer in chunks of at most this")
    .show(|s| Some(Value::Integer((s.tls.wbuf_size / 1024) as i64))),
    extended(
        "ssl_session_cache",
        Kind::Switch,
        "",
        "resume TLS sessions from a server-side cache",
        |b, _| {
            b.settings.tls.session_cache = true;
            Ok(())
        },
    )
    .show(|s| Some(Value::Boolean(s.tls.session_cache))),
    switch!("ssl_kernel_tls", "kernel TLS offload"),
    extended(
        "ssl_min_version",
        Kind::Int,
        "<2-3>",
        "oldest TLS version: 2 TLS 1.2, 3 TLS 1.3",
        |b, g| {
            let n = ssl_level(g, "ssl_min_version")?;
            b.settings.tls.min_version = MinVersion::from_level(n).ok_or_else(|| {
                fail(format!(
                    "ssl_min_version={n}: TLS 1.0 and 1.1 are not supported (rustls speaks \
                     TLS 1.2 and 1.3); use 2 or 3"
                ))
            })?;
            Ok(())
        },
    )
    .note("0 and 1 (TLS 1.0, 1.1) are refused: rustls does not speak them")
    .show(|s| Some(Value::Integer(match s.tls.min_version {
        MinVersion::Tls12 => 2,
        MinVersion::Tls13 => 3,
    }))),
    extended(
        "ssl_handshake_timeout",
        Kind::Int,
        "<sec>",
        "close a TLS connection whose handshake is not done this long after it was accepted",
        |b, g| {
            let v = need(g, "Missing ssl_handshake_timeout argument")?;
            let n: u64 = whole(v, "ssl_handshake_timeout")?;
            if n == 0 {
                return Err(fail("ssl_handshake_timeout must be at least 1"));
            }
            b.settings.ssl_handshake_timeout = n;
            Ok(())
        },
    )
    .note("Corvid's own (memcached has no such limit); default 10")
    .show(|s| Some(Value::Integer(i64::try_from(s.ssl_handshake_timeout).unwrap_or(i64::MAX)))),
    // Before ext_path: memcached refuses a page size given after a path, and
    // --print-config prints in this order.
    ext!("ext_page_size", Kind::Int, "<mb>", "disk tier page size (64)"),
    ext!("ext_wbuf_size", Kind::Int, "<mb>", "disk tier write-buffer size (4)"),
    extended(
        "ext_path",
        Kind::Text,
        "<file:size>",
        "disk tier (extstore) file and the size of it to use; repeatable",
        |b, g| ext(b, "ext_path", g),
    )
    .note("`FILE:SIZE[:BUCKET]`, size with m, g, t or p; files pool their pages; locked so a second server cannot use one (docs/disk.md)")
    .show(|s| ext_show(s, "ext_path", Kind::Text))
    .reset(|b| {
        b.settings.ext.retain(|(k, _)| k != "ext_path");
        b.ext.clear_paths();
    }),
    ext!("ext_threads", Kind::Int, "<num>", "disk tier IO threads (4)"),
    ext!("ext_io_depth", Kind::Int, "<num>", "accepted for memcached's command lines; unused"),
    ext!("ext_item_size", Kind::Int, "<bytes>", "only larger values go to disk (512)"),
    ext!("ext_item_age", Kind::Int, "<secs>", "values idle this long go to disk without memory pressure (never)"),
    ext!("ext_low_ttl", Kind::Int, "<secs>", "values with less TTL left share pages of their own (0)"),
    ext!("ext_recache_rate", Kind::Int, "<num>", "one in N repeated disk hits returns to RAM (2000)"),
    ext!("ext_compact_under", Kind::Int, "<pages>", "compact when fewer pages are free (a quarter)"),
    ext!("ext_drop_under", Kind::Int, "<pages>", "drop unread values when fewer pages are free (a quarter)"),
    ext!("ext_max_sleep", Kind::Int, "<us>", "longest sleep of the disk tier's background threads (1000000)"),
    ext!("ext_max_frag", Kind::Float, "<num>", "pages less live than this are compacted (0.80)"),
    ext!("ext_drop_unread", Kind::Switch, "", "compaction drops values not read since they went to disk"),
    ext!("ext_read_mem", Kind::Int, "<mb>", "disk tier read buffers held at most; reads past it are misses, get_oom_extstore (64)"),
];
