//! memcached's tuning keys (hash table, LRU, slab classes, buffers, privileges):
//! accepted with their values checked as memcached checks them, then ignored with a
//! warning; a few are kept to apply memcached's rules to other flags (`slab_chunk_max`
//! for `-I`, the LRU percentages' sum).

use super::value::{fail, ignored, need, real, whole};
use crate::settings::builder::Builder;
use crate::settings::error::SettingsError;
use crate::settings::options::{extended, toggle, Given, Kind, Opt, Status};

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

/// The tuning entries, in memcached's order of them.
pub(super) const TUNING: &[Opt] = &[
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
];
