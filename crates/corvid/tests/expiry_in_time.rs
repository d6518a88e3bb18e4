//! Expiry as time passes: items with a 1-second TTL (relative and absolute), touched and
//! gat-ed items, and flush_all with a 1-second delay disappear on time, and nothing else
//! does. The differential scripts only use exptimes whose outcome is immediate; this is
//! where the clock itself is tested. Both servers run at once, each polled every 50 ms.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::text::TextClient;
use support::Server;

/// memcached's clock ticks once a second, so a 1-second TTL ends 1 to 2 s later (and a
/// 3-second flush delay 2 to 3 s later); this leaves room for a loaded machine.
const LATEST: Duration = Duration::from_secs(6);

/// Polls `get key` until it misses; returns how long that took.
fn until_gone(c: &mut TextClient, key: &str, name: &str) -> Duration {
    let start = Instant::now();
    loop {
        if c.get(key).is_none() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < LATEST,
            "{name}: {key} still there after {LATEST:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn items_expire_on_time(server: Server) {
    let name = server.implementation().name();
    let mut c = TextClient::connect(&server);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();

    for (key, exptime) in [
        ("relative", "1".to_string()),
        ("absolute", (now + 2).to_string()),
        ("touched", "1".to_string()),
        ("kept", "0".to_string()),
        ("gat", "100".to_string()),
    ] {
        c.send(format!("set {key} 0 {exptime} 1\r\nv\r\n").as_bytes());
        assert_eq!(c.line(), "STORED", "{name}: set {key}");
        assert!(c.get(key).is_some(), "{name}: {key} gone at once");
    }
    c.send(b"touch touched 100\r\n");
    assert_eq!(c.line(), "TOUCHED", "{name}");
    c.send(b"gat 1 gat\r\n");
    assert!(c.line().starts_with("VALUE gat "), "{name}: gat");
    assert_eq!(c.line(), "v", "{name}");
    assert_eq!(c.line(), "END", "{name}");

    until_gone(&mut c, "relative", name);
    until_gone(&mut c, "gat", name);
    until_gone(&mut c, "absolute", name);
    assert!(c.get("touched").is_some(), "{name}: touch did not extend");
    assert!(c.get("kept").is_some(), "{name}: exptime 0 expired");

    // flush_all with a delay: everything stored before it goes when the delay passes.
    // memcached flushes at (now + delay - 1) on its one-second clock, so `flush_all 1` is
    // immediate and 3 is the least delay that is surely not.
    c.send(b"flush_all 3\r\n");
    assert_eq!(c.line(), "OK", "{name}");
    assert!(c.get("kept").is_some(), "{name}: flushed before the delay");
    until_gone(&mut c, "kept", name);
    assert!(
        c.get("touched").is_none(),
        "{name}: touched survived the flush"
    );
    // Items stored in the second the flush takes effect go too (memcached compares whole
    // seconds); after that, stores stick again.
    let start = Instant::now();
    loop {
        c.send(b"set after 0 0 1\r\nv\r\n");
        assert_eq!(c.line(), "STORED", "{name}");
        if c.get("after").is_some() {
            break;
        }
        assert!(
            start.elapsed() < LATEST,
            "{name}: stores still vanish {LATEST:?} after the flush"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn items_expire_on_time_in_memcached_and_corvid() {
    std::thread::scope(|scope| {
        let memcached = scope.spawn(|| items_expire_on_time(Server::memcached(&[])));
        let corvid = scope.spawn(|| items_expire_on_time(Server::corvid(&[])));
        let results = [memcached.join(), corvid.join()];
        for (name, result) in ["memcached", "corvid"].iter().zip(results) {
            if let Err(panic) = result {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("{name}: {message}");
            }
        }
    });
}
