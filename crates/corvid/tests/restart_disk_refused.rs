//! Warm restart (`-e`) with the disk tier, when the disk tier's index cannot be taken
//! back: a disk file truncated or written to between the runs drops the items whose value
//! was on disk (one log line says how many and why) while every item in RAM comes back;
//! `kill -9` starts empty. Either way the tier then works on the same file.

mod support;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use support::restart_disk::*;
use support::text::TextClient;

/// Starts after a change to the disk file: the RAM items are back, the disk items are
/// misses, and the log names `why`. Then the tier takes new values and serves them.
fn restart_refused(setup: &Setup, before: u64, why: &str) -> (support::Server, TextClient) {
    // Quiet: with ext_item_age on, the writer may move a value still in RAM to disk
    // before the gauges below are read (seen under load: extstore_pages_used 1).
    let server = setup.start_quiet();
    let mut c = TextClient::connect(&server);
    let after = stat(&mut c, "curr_items");
    let log = server.log(); // once it serves: the start-up lines are all out
    let dropped = before - after;
    assert!(dropped >= 1000, "{before} -> {after}: {log}");
    let line = format!(
        "[restart] {dropped} items whose value was in the disk tier did not come back: {} {why} \
         since the last clean stop",
        setup.ext_file().display()
    );
    assert!(log.contains(&line), "{line}\n{log}");
    assert_eq!(stat(&mut c, "extstore_pages_used"), 0);
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
    assert_eq!(
        stat(&mut c, "get_extstore"),
        0,
        "nothing was read from disk"
    );
    // The callers fill the tier again.
    age_on(&mut c);
    (server, c)
}

#[test]
fn a_disk_file_changed_between_runs_drops_the_disk_items_only() {
    let setup = Setup::new("restart-disk-changed");
    let mut server = setup.start();
    let mut c = TextClient::connect(&server);
    fill(&mut c, 0, 3000, 1500);
    let before = stat(&mut c, "curr_items");
    stop_gracefully(&mut server, &mut c);

    // Truncated (and grown back by the next start).
    let f = OpenOptions::new()
        .write(true)
        .open(setup.ext_file())
        .unwrap();
    f.set_len(32 << 20).unwrap();
    drop(f);
    let (mut server, mut c) = restart_refused(&setup, before, "changed length");
    // The tier starts afresh on the same file.
    fill(&mut c, 0, 3000, 1500);
    for i in 0..3000 {
        assert_eq!(c.get(&format!("big{i}")), Some(big(i)), "big{i}");
    }
    let before = stat(&mut c, "curr_items");
    stop_gracefully(&mut server, &mut c);

    // Written to: one byte in the middle of the first page.
    let f = OpenOptions::new()
        .write(true)
        .open(setup.ext_file())
        .unwrap();
    f.write_all_at(b"x", 1 << 20).unwrap();
    drop(f);
    let (_server, mut c) = restart_refused(&setup, before, "was written to");
    fill(&mut c, 0, 3000, 1500);
    assert_eq!(c.get("big7"), Some(big(7)));
}

#[test]
fn kill_9_starts_empty_and_the_tier_works() {
    let setup = Setup::new("restart-disk-kill9");
    let server = setup.start();
    let mut c = TextClient::connect(&server);
    fill(&mut c, 0, 3000, 1500);
    server.signal(libc::SIGKILL);
    let mut server = server;
    assert!(server
        .wait_for_exit(std::time::Duration::from_secs(30))
        .is_some());
    drop(c);

    let server = setup.start();
    let mut c = TextClient::connect(&server);
    stat(&mut c, "curr_items");
    let log = server.log();
    assert!(
        log.contains("[restart] the last run did not stop cleanly"),
        "{log}"
    );
    assert!(!log.contains("disk tier"), "{log}");
    let s = stats_of(&mut c, &["curr_items", "extstore_pages_used"]);
    assert_eq!((s["curr_items"], s["extstore_pages_used"]), (0, 0));
    assert_eq!(c.get("big7"), None);
    fill(&mut c, 0, 3000, 1500);
    for i in 0..3000 {
        assert_eq!(c.get(&format!("big{i}")), Some(big(i)), "big{i}");
    }
}
