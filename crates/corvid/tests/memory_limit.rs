//! `-m` and `-M`: a full cache evicts old items by default, and with `-M` refuses new ones
//! with memcached's exact error, keeps every stored item, and takes writes again once
//! items are deleted. How many items fit is each server's business (Corvid promises more
//! per byte than memcached), so only the outcomes are compared.

mod support;

use std::time::{Duration, Instant};

use support::text::TextClient;
use support::Server;

const VALUE_LEN: usize = 10_000;
/// Three times the 8 MiB limit: enough to fill any layout.
const WRITES: usize = 2_400;
const OUT_OF_MEMORY: &str = "SERVER_ERROR out of memory storing object";

fn value(i: usize) -> Vec<u8> {
    let mut v = format!("{i}:").into_bytes();
    v.resize(VALUE_LEN, b'v');
    v
}

fn full_cache_evicts(server: Server) {
    let name = server.implementation().name();
    let mut c = TextClient::connect(&server);
    for i in 0..WRITES {
        let reply = c.set(&format!("key{i}"), &value(i));
        assert_eq!(reply, "STORED", "{name}: set #{i} under -m 8");
    }
    let last = WRITES - 1;
    assert_eq!(
        c.get(&format!("key{last}")),
        Some(value(last)),
        "{name}: newest item"
    );
    assert_eq!(
        c.get("key0"),
        None,
        "{name}: the oldest item should have been evicted"
    );
    let stats = c.stats();
    let evictions: u64 = stats["evictions"].parse().expect("a number");
    assert!(evictions > 0, "{name}: evictions = 0 after writing 3x -m");
    let items: usize = stats["curr_items"].parse().expect("a number");
    assert!(
        items * VALUE_LEN <= 8 << 20,
        "{name}: {items} items of {VALUE_LEN} bytes under -m 8"
    );
}

fn full_cache_refuses_with_no_evictions(server: Server) {
    let name = server.implementation().name();
    let mut c = TextClient::connect(&server);
    let mut stored = 0;
    let mut refused = None;
    for i in 0..WRITES {
        let reply = c.set(&format!("key{i}"), &value(i));
        if reply == "STORED" {
            stored += 1;
            continue;
        }
        refused = Some(reply);
        break;
    }
    let refused = refused.unwrap_or_else(|| panic!("{name}: -M never refused a write"));
    assert_eq!(refused, OUT_OF_MEMORY, "{name}: the refusal");
    assert!(stored > 0, "{name}: nothing fitted in 8 MiB");

    // Nothing was evicted to make room.
    for i in [0, stored / 2, stored - 1] {
        assert_eq!(
            c.get(&format!("key{i}")),
            Some(value(i)),
            "{name}: key{i} lost under -M"
        );
    }
    assert_eq!(
        c.set("another", &value(0)),
        OUT_OF_MEMORY,
        "{name}: still full"
    );
    let stats = c.stats();
    assert_eq!(stats["evictions"], "0", "{name}: evicted under -M");
    assert_ne!(
        stats["store_no_memory"], "0",
        "{name}: store_no_memory not counted"
    );

    // Deleting items makes room again (a server may reclaim space in the background:
    // poll briefly).
    for i in 0..stored / 2 {
        assert_eq!(c.delete(&format!("key{i}")), "DELETED", "{name}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = c.set("after-delete", &value(1));
        if reply == "STORED" {
            break;
        }
        assert_eq!(reply, OUT_OF_MEMORY, "{name}");
        assert!(
            Instant::now() < deadline,
            "{name}: still out of memory after deleting half of {stored} items"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn memcached_evicts_when_full() {
    full_cache_evicts(Server::memcached(&["-m", "8"]));
}

#[test]
fn corvid_evicts_when_full() {
    full_cache_evicts(Server::corvid(&["-m", "8"]));
}

#[test]
fn memcached_refuses_writes_when_full_under_no_evictions() {
    full_cache_refuses_with_no_evictions(Server::memcached(&["-m", "8", "-M"]));
}

#[test]
fn corvid_refuses_writes_when_full_under_no_evictions() {
    full_cache_refuses_with_no_evictions(Server::corvid(&["-m", "8", "-M"]));
}
