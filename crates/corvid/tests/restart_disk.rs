//! Warm restart (`-e`) with the disk tier (`-o ext_path`): the disk tier's index does not
//! survive a restart yet, so items whose value was on disk are dropped at the start (one
//! log line counts them), everything held in RAM comes back, and the tier works again on
//! the same file. memcached 1.6.18 cannot combine `-e` with extstore at all.

mod support;

use std::time::{Duration, Instant};
use support::text::TextClient;
use support::{Implementation, Server, TempDir, Transport};

const BIG: usize = 2000;
const STOP: Duration = Duration::from_secs(20);

fn big(i: usize) -> Vec<u8> {
    (0..BIG).map(|j| b'a' + ((i + j) % 26) as u8).collect()
}

/// Sets `big{from..to}` (in sealed segments once enough follow: the writer walks only
/// those) and waits until the disk holds at least `want` values.
fn fill_until_on_disk(c: &mut TextClient, from: usize, to: usize, want: u64) -> u64 {
    for i in from..to {
        assert_eq!(c.set(&format!("big{i}"), &big(i)), "STORED");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let used: u64 = c.stats()["extstore_objects_used"].parse().unwrap();
        if used >= want {
            return used;
        }
        assert!(Instant::now() < deadline, "only {used} values went to disk");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn items_on_disk_are_dropped_at_a_restart_and_the_rest_comes_back() {
    // The memory file on tmpfs, as it should be; the disk tier's file beside it.
    let dir = TempDir::new("restart-disk");
    let file = dir.path().join("mem").display().to_string();
    let ext = format!(
        "ext_page_size=8,ext_wbuf_size=2,ext_path={}:64m,ext_item_size=600,ext_item_age=1",
        dir.path().join("ext").display()
    );
    let args = ["-m", "16", "-A", "-e", &file, "-o", &ext];
    let server = Server::start(Implementation::Corvid, &args, Transport::Tcp);
    let mut c = TextClient::connect(&server);
    for i in 0..300 {
        assert_eq!(c.set(&format!("small{i}"), b"tiny"), "STORED");
    }
    fill_until_on_disk(&mut c, 0, 3000, 100);
    let before: u64 = c.stats()["curr_items"].parse().unwrap();
    assert_eq!(before, 3300, "nothing evicted");
    c.send(b"shutdown graceful\r\n");
    let mut server = server;
    let status = server.wait_for_exit(STOP).expect("stops");
    assert!(status.success(), "{status}: {}", server.log());
    drop(c);

    let server = Server::start(Implementation::Corvid, &args, Transport::Tcp);
    let mut c = TextClient::connect(&server);
    let after: u64 = c.stats()["curr_items"].parse().unwrap();
    let log = server.log();
    let dropped = before - after;
    assert!(dropped >= 100, "{before} -> {after}: {log}");
    assert!(
        log.contains(&format!(
            "[restart] {dropped} items whose value was in the disk tier did not come back"
        )),
        "{log}"
    );
    for i in 0..300 {
        assert_eq!(c.get(&format!("small{i}")).as_deref(), Some(&b"tiny"[..]));
    }
    let mut missing = 0;
    for i in 0..3000 {
        match c.get(&format!("big{i}")) {
            Some(v) => assert!(v == big(i), "big{i} came back changed"),
            None => missing += 1,
        }
    }
    assert_eq!(missing, dropped, "exactly the items on disk are gone");
    // The tier starts afresh on the same file, and values go out and read back again.
    fill_until_on_disk(&mut c, 3000, 6000, 100);
    for i in 3000..6000 {
        assert_eq!(c.get(&format!("big{i}")), Some(big(i)), "big{i}");
    }
}
