//! Warm restart (`-e`) with the disk tier (`-o ext_path`): values on disk at a graceful
//! stop are served again after it, byte for byte over text, meta and binary gets with
//! their CAS, and the tier's pages keep exactly their live bytes, so deletes, compaction
//! and dropping pages work on the restored pages as on any other. memcached 1.6.18 cannot
//! combine `-e` with extstore at all (its issue #871). The refusals are in
//! `restart_disk_refused.rs`.

mod support;

use support::restart_disk::*;
use support::text::TextClient;

const GAUGES: [&str; 5] = [
    "curr_items",
    "extstore_objects_used",
    "extstore_bytes_used",
    "extstore_pages_used",
    "extstore_pages_free",
];

#[test]
fn values_on_disk_come_back_after_a_graceful_stop() {
    let setup = Setup::new("restart-disk");
    let mut server = setup.start();
    let mut c = TextClient::connect(&server);
    let on_disk = fill(&mut c, 0, 3000, 2000);
    let before = stats_of(&mut c, &GAUGES);
    assert_eq!(before["curr_items"], 3300, "nothing evicted");
    let cas: Vec<u64> = (0..3000)
        .step_by(97)
        .map(|i| gets(&mut c, &format!("big{i}")).expect("there").1)
        .collect();
    stop_gracefully(&mut server, &mut c);

    let server = setup.start_quiet();
    let mut c = TextClient::connect(&server);
    let after = stats_of(&mut c, &GAUGES);
    let log = server.log(); // once it serves: the start-up lines are all out
    assert_eq!(after, before, "{log}");
    assert!(
        log.contains(&format!(
            "[restart] the disk tier took its index back: {} values on disk in {} pages",
            before["extstore_objects_used"], before["extstore_pages_used"]
        )),
        "{log}"
    );
    assert!(!log.contains("did not come back"), "{log}");
    // Counters start fresh; every value on disk is read from it once, none misses.
    assert_eq!(stat(&mut c, "get_extstore"), 0);
    for i in 0..300 {
        assert_eq!(c.get(&format!("small{i}")).as_deref(), Some(&b"tiny"[..]));
    }
    for i in 0..3000 {
        assert_eq!(c.get(&format!("big{i}")), Some(big(i)), "big{i}");
    }
    let reads = stats_of(
        &mut c,
        &["get_extstore", "miss_from_extstore", "badcrc_from_extstore"],
    );
    assert!(reads["get_extstore"] >= on_disk, "{reads:?}");
    assert_eq!(reads["miss_from_extstore"], 0);
    assert_eq!(reads["badcrc_from_extstore"], 0);
    // The same CAS values, over text, meta and binary; a `cas` with one still works.
    for (n, i) in (0..3000).step_by(97).enumerate() {
        let key = format!("big{i}");
        assert_eq!(gets(&mut c, &key), Some((big(i), cas[n])), "{key}");
        assert_eq!(
            meta_get(&mut c, &key),
            Some((big(i), cas[n], 0, BIG)),
            "{key}"
        );
        assert_eq!(binary_get(&server, &key), Some((big(i), cas[n])), "{key}");
    }
    let v = b"swapped";
    c.send(format!("cas big0 0 0 {} {}\r\n", v.len(), cas[0]).as_bytes());
    c.send(b"swapped\r\n");
    assert_eq!(c.line(), "STORED");
    assert_eq!(c.get("big0").as_deref(), Some(&v[..]));
}

#[test]
fn restored_pages_keep_their_live_bytes_for_deletes_compaction_and_drops() {
    let setup = Setup::new("restart-disk-pages");
    let mut server = setup.start();
    let mut c = TextClient::connect(&server);
    fill(&mut c, 0, 3000, 2500);
    stop_gracefully(&mut server, &mut c);

    let server = setup.start_quiet();
    let mut c = TextClient::connect(&server);
    let restored = stat(&mut c, "extstore_objects_used");
    // Deleting two in three takes exactly their records off the restored pages (no IO).
    let bytes_before = stat(&mut c, "extstore_bytes_used");
    for i in (0..3000).filter(|i| i % 3 != 0) {
        assert_eq!(c.delete(&format!("big{i}")), "DELETED");
    }
    let s = stats_of(&mut c, &["extstore_objects_used", "extstore_bytes_used"]);
    let gone = restored - s["extstore_objects_used"];
    assert!(gone >= restored / 2, "{restored} -> {s:?}");
    // Each record: 12-byte header, key, 12 bytes of metadata, value, padded to 8.
    let per_record = |i: usize| ((12 + format!("big{i}").len() + 12 + BIG) as u64).div_ceil(8) * 8;
    assert_eq!(per_record(1000), per_record(2999), "same-length keys");
    assert_eq!(
        bytes_before - s["extstore_bytes_used"],
        gone * per_record(1000)
    );
    assert_eq!(stat(&mut c, "get_extstore"), 0, "no read");

    // The restored pages are now a third live: compaction rewrites their survivors.
    c.send(b"extstore compact_under 8\r\n");
    assert_eq!(c.line(), "OK");
    poll(&mut c, "compaction of the restored pages", |c| {
        stat(c, "extstore_compact_rescues") > 0
    });
    for i in (0..3000).step_by(3) {
        assert_eq!(c.get(&format!("big{i}")), Some(big(i)), "big{i}");
    }
    c.send(b"extstore compact_under 0\r\n");
    assert_eq!(c.line(), "OK");

    // Fill the disk past its size: the oldest pages go, and only their items miss.
    age_on(&mut c);
    let filler = vec![b'f'; 100_000];
    let mut n = 0;
    while stat(&mut c, "extstore_page_evictions") == 0 {
        for _ in 0..50 {
            assert_eq!(c.set(&format!("fill{n}"), &filler), "STORED");
            n += 1;
        }
        assert!(n < 5000, "no page was dropped after {n} fillers");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Every hit is byte-exact; what misses was on a dropped page or evicted from RAM
    // (fillers arrive faster than the writer moves them out).
    let mut misses = 0;
    for i in (0..3000).step_by(3) {
        match c.get(&format!("big{i}")) {
            Some(v) => assert_eq!(v, big(i), "big{i}"),
            None => misses += 1,
        }
    }
    let restored_misses = misses;
    for i in 0..n {
        match c.get(&format!("fill{i}")) {
            Some(v) => assert!(v == filler, "fill{i}"),
            None => misses += 1,
        }
    }
    let lost = stats_of(
        &mut c,
        &[
            "extstore_objects_evicted",
            "evictions",
            "extstore_compact_lost",
            "extstore_compact_skipped",
        ],
    );
    // Every miss is a loss the counters own up to: an object on a dropped page, an item
    // evicted from RAM (external items' too, once nothing else is left to evict), or one
    // compaction lost or skipped.
    assert!(
        misses > 0 && lost["extstore_objects_evicted"] > 0,
        "{lost:?}"
    );
    assert!(misses <= lost.values().sum::<u64>(), "{misses}: {lost:?}");
    let dropped_or_evicted = lost["extstore_objects_evicted"] + lost["evictions"];
    assert!(
        restored_misses <= dropped_or_evicted,
        "{restored_misses}: {lost:?}"
    );
    assert_eq!(stat(&mut c, "badcrc_from_extstore"), 0);
}

/// Polls `cond` every 100 ms for up to 60 s (the machine may be loaded).
fn poll(c: &mut TextClient, what: &str, mut cond: impl FnMut(&mut TextClient) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond(c) {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
