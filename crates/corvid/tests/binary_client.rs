//! A real memcached client (the `memcache` crate) speaking the binary protocol to corvid:
//! every command it offers, a large value, a multi-get (GETKQ + NOOP), stats, and four
//! clients racing on the same keys. The same scenarios run against memcached first, so a
//! failure here is corvid's and not the scenario's.

mod support;

use std::collections::HashMap;

use memcache::{Client, MemcacheError};
use support::Server;

fn client_for(server: &Server) -> Client {
    let url = format!("memcache://127.0.0.1:{}?protocol=binary", server.port());
    let client = Client::connect(url.as_str())
        .unwrap_or_else(|e| panic!("connect {url} ({}): {e}", server.implementation().name()));
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("set a read timeout");
    client
}

/// The status a refused binary command came back with, for the assertions below.
fn refused<T: std::fmt::Debug>(result: Result<T, MemcacheError>) -> String {
    match result {
        Ok(v) => format!("accepted: {v:?}"),
        Err(e) => format!("{e}"),
    }
}

fn scenario(server: &Server) {
    let name = server.implementation().name();
    let c = client_for(server);

    let versions = c.version().expect("version");
    assert_eq!(versions.len(), 1, "{name}");
    assert!(versions[0].1.starts_with("1.6."), "{name}: {versions:?}");

    c.flush().expect("flush");
    assert_eq!(c.get::<String>("k").expect("get"), None, "{name}");

    // set / get with flags, binary data, an empty value, a value larger than the server's
    // read buffer.
    c.set("k", "v1", 0).expect("set");
    assert_eq!(
        c.get::<String>("k").expect("get").as_deref(),
        Some("v1"),
        "{name}"
    );
    let binary: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    c.set("bin", binary.as_slice(), 0).expect("set binary");
    assert_eq!(
        c.get::<Vec<u8>>("bin").expect("get"),
        Some(binary),
        "{name}"
    );
    c.set("empty", "", 0).expect("set empty");
    assert_eq!(
        c.get::<String>("empty").expect("get").as_deref(),
        Some(""),
        "{name}"
    );
    c.set("flagged", 7u64, 0).expect("set a number");
    let (_, flags, _) = c
        .get::<(String, u32, Option<u64>)>("flagged")
        .expect("get")
        .expect("present");
    let (_, plain_flags, _) = c
        .get::<(String, u32, Option<u64>)>("k")
        .expect("get")
        .expect("present");
    assert_eq!(flags, plain_flags, "{name}: the crate's flags round-trip");

    // add / replace refusals are errors in binary.
    let add = refused(c.add("k", "other", 0));
    assert!(
        add.contains("exists") || add.contains("Exists"),
        "{name}: {add}"
    );
    c.add("fresh", "a", 0).expect("add a new key");
    let replace = refused(c.replace("nope", "x", 0));
    assert!(!replace.starts_with("accepted"), "{name}: {replace}");
    c.replace("k", "v2", 0).expect("replace");
    c.append("k", ">").expect("append");
    c.prepend("k", "<").expect("prepend");
    assert_eq!(
        c.get::<String>("k").expect("get").as_deref(),
        Some("<v2>"),
        "{name}"
    );
    let append = refused(c.append("nope", "x"));
    assert!(!append.starts_with("accepted"), "{name}: {append}");

    // CAS.
    let (_, _, cas) = c
        .get::<(String, u32, Option<u64>)>("k")
        .expect("get")
        .expect("k exists");
    let cas = cas.expect("binary get returns a CAS");
    assert!(
        c.cas("k", "v3", 0, cas).expect("cas"),
        "{name}: current CAS"
    );
    assert!(!c.cas("k", "v4", 0, cas).expect("cas"), "{name}: stale CAS");
    assert_eq!(
        c.get::<String>("k").expect("get").as_deref(),
        Some("v3"),
        "{name}"
    );

    // Multi-get: GETKQ for each key, then NOOP.
    let many: HashMap<String, String> = c.gets(&["k", "fresh", "missing"]).expect("multi-get");
    assert_eq!(many.len(), 2, "{name}: {many:?}");
    assert_eq!(many["fresh"], "a", "{name}");

    // incr / decr (a missing key: see incr_of_a_missing_key_answers_as_memcached).
    c.set("n", 10u64, 0).expect("set number");
    assert_eq!(c.increment("n", 5).expect("incr"), 15, "{name}");
    assert_eq!(c.decrement("n", 20).expect("decr"), 0, "{name}: floor at 0");
    c.set("n", u64::MAX, 0).expect("set max");
    assert_eq!(
        c.increment("n", 2).expect("incr"),
        1,
        "{name}: wraps at 2^64"
    );
    let text = refused(c.increment("k", 1));
    assert!(
        !text.starts_with("accepted"),
        "{name}: incr of text: {text}"
    );

    // touch, delete.
    assert!(c.touch("k", 100).expect("touch"), "{name}");
    assert!(!c.touch("nope", 100).expect("touch"), "{name}");
    assert!(c.delete("k").expect("delete"), "{name}");
    assert!(!c.delete("k").expect("delete"), "{name}");

    // stats: every stat as a key/value frame.
    let stats = c.stats().expect("stats");
    let (_, s) = &stats[0];
    for stat in [
        "pid",
        "cmd_get",
        "cmd_set",
        "get_hits",
        "curr_items",
        "threads",
    ] {
        assert!(s.contains_key(stat), "{name}: no {stat} in {s:?}");
    }
    assert_eq!(
        s.get("version").map(String::as_str).map(|v| &v[..4]),
        Some("1.6."),
        "{name}"
    );

    c.flush_with_delay(0).expect("flush");
    assert_eq!(c.get::<String>("fresh").expect("get"), None, "{name}");
}

/// The client's answer to incr on a missing key, which depends on what it sends (initial
/// value and expiry): corvid must answer as memcached does.
fn missing_counter(server: &Server) -> String {
    let c = client_for(server);
    let first = refused(c.increment("absent", 3));
    let second = refused(c.increment("absent", 3));
    format!("{first} / {second}")
}

#[test]
fn memcached_passes_the_binary_client_scenario() {
    scenario(&Server::memcached(&[]));
}

#[test]
fn corvid_passes_the_binary_client_scenario() {
    scenario(&Server::corvid(&[]));
}

#[test]
fn incr_of_a_missing_key_answers_as_memcached() {
    let reference = missing_counter(&Server::memcached(&[]));
    assert_eq!(missing_counter(&Server::corvid(&[])), reference);
}

/// Four binary clients incrementing and cas-ing the same keys lose no update.
fn concurrent_updates(server: &Server) {
    let name = server.implementation().name();
    let setup = client_for(server);
    setup.set("counter", 0u64, 0).expect("set counter");
    setup.set("cas-counter", 0u64, 0).expect("set cas-counter");
    const CLIENTS: u64 = 4;
    const ROUNDS: u64 = 200;
    let cas_wins: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    let c = client_for(server);
                    let mut wins = 0;
                    for _ in 0..ROUNDS {
                        c.increment("counter", 1).expect("incr");
                        let (value, _, cas) = c
                            .get::<(String, u32, Option<u64>)>("cas-counter")
                            .expect("get")
                            .expect("cas-counter exists");
                        let next: u64 = value.trim().parse().expect("a number");
                        if c.cas("cas-counter", next + 1, 0, cas.expect("a CAS"))
                            .expect("cas")
                        {
                            wins += 1;
                        }
                    }
                    wins
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .sum()
    });
    let counter: Option<u64> = setup.get("counter").expect("get counter");
    assert_eq!(counter, Some(CLIENTS * ROUNDS), "{name}: lost increments");
    let cas_counter: Option<u64> = setup.get("cas-counter").expect("get cas-counter");
    assert_eq!(
        cas_counter,
        Some(cas_wins),
        "{name}: lost or extra cas updates"
    );
    assert!(cas_wins > 0, "{name}: no cas ever succeeded");
}

#[test]
fn memcached_loses_no_concurrent_binary_update() {
    concurrent_updates(&Server::memcached(&[]));
}

#[test]
fn corvid_loses_no_concurrent_binary_update() {
    concurrent_updates(&Server::corvid(&[]));
}
