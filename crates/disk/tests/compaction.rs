//! Space comes back without losing what is live: compaction rewrites the survivors of
//! fragmented pages and frees the pages; when no page is free the oldest is dropped;
//! readers racing either get the right bytes or a clean "stale", never wrong ones.

mod support;

use disk::{ReadError, MIB};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use support::*;

const VALUE: usize = 64 * 1024;

fn key(i: usize) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn check_all_live(disk: &TestDisk, owner: &MapOwner) -> usize {
    let live = owner.live();
    for (k, e) in &live {
        let mut e = *e;
        // Compaction may still be moving objects: one moved after the snapshot above reads
        // as stale at its old place, and must read right at the place the owner now has.
        let got = loop {
            match read(disk, e.loc, e.len) {
                Err(ReadError::Stale) => match owner.get(k) {
                    Some(now) if now.loc != e.loc => e = now,
                    _ => panic!(
                        "{} at {:?}: stale, and not moved",
                        String::from_utf8_lossy(k),
                        e.loc
                    ),
                },
                other => {
                    break other.unwrap_or_else(|err| {
                        panic!("{} at {:?}: {err}", String::from_utf8_lossy(k), e.loc)
                    })
                }
            }
        };
        assert_eq!(got.key(), &k[..]);
        assert_eq!(got.value(), &value_for(k, VALUE)[..]);
    }
    live.len()
}

#[test]
fn compaction_keeps_live_objects_and_frees_pages() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let mut config = config(dir.path(), &[("ext", "32m")]); // 8 pages
    config.compact_under = Some(0); // off while filling
    config.max_frag = 0.5;
    let disk = open(config, &owner);
    let handle = disk.handle();
    // Six pages' worth, then delete 3 of every 4: those pages are a quarter live.
    let n = 6 * 4 * MIB as usize / (VALUE + 64);
    for i in 0..n {
        put(&disk, &owner, &key(i), &value_for(&key(i), VALUE));
    }
    disk.sync();
    for i in (0..n).filter(|i| i % 4 != 0) {
        owner.delete(&handle, &key(i));
    }
    let before = disk.stats();
    assert!(before.pages_free <= 2, "{before:?}");
    assert_eq!(before.compact_rescues, 0);
    // Turn compaction on: it should run until enough pages are free.
    disk.tuning().set_compact_under(6);
    disk.wake_maintenance();
    // Six sealed pages a quarter live become a page and a half of survivors; the open
    // page stays: five free.
    wait_until("pages freed by compaction", || disk.stats().pages_free >= 5);
    let after = disk.stats();
    assert!(after.compact_rescues > 0, "{after:?}");
    assert_eq!(after.compact_lost, 0);
    assert_eq!(
        after.page_evictions, 0,
        "nothing dropped: compaction made room"
    );
    assert!(after.page_reclaims > before.page_reclaims);
    assert_eq!(check_all_live(&disk, &owner), n.div_ceil(4));
    assert_eq!(after.objects_used, n.div_ceil(4) as u64);
    // The survivors sit together in compaction-bucket pages.
    assert!(disk.page_data().iter().any(|p| p.bucket == 1));
}

#[test]
fn max_sleep_changes_while_the_engine_runs() {
    // The maintenance thread starts with a 60 s sleep; `extstore max_sleep` (here the
    // tuning it sets) shortens it from the next sleep on, as in memcached: compaction
    // turned on afterwards runs within milliseconds, with no wake-up of its own.
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let mut config = config(dir.path(), &[("ext", "16m")]); // 4 pages
    config.compact_under = Some(0);
    config.max_frag = 0.5;
    config.max_sleep = std::time::Duration::from_secs(60);
    let disk = open(config, &owner);
    assert_eq!(disk.tuning().max_sleep_us(), 60_000_000);
    let handle = disk.handle();
    let n = 2 * 4 * MIB as usize / (VALUE + 64);
    for i in 0..n {
        put(&disk, &owner, &key(i), &value_for(&key(i), VALUE));
    }
    disk.sync();
    disk.tuning().set_max_sleep_us(2_000);
    disk.wake_maintenance(); // ends the 60 s sleep it is in; the next ones are 2 ms
    for i in (0..n).filter(|i| i % 4 != 0) {
        owner.delete(&handle, &key(i));
    }
    // Allocating the pages above woke the thread too: let it settle into its sleep.
    thread::sleep(std::time::Duration::from_millis(50));
    disk.tuning().set_compact_under(4);
    wait_until("compaction within the new max_sleep", || {
        disk.stats().compact_rescues > 0
    });
    assert_eq!(check_all_live(&disk, &owner), n.div_ceil(4));
}

#[test]
fn drop_unread_skips_objects_no_one_read() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("ext", "16m")]), &owner);
    // Two and a half pages (of four): one stays free, so no page is dropped.
    let n = 5 * 2 * MIB as usize / (VALUE + 64) / 2;
    for i in 0..n {
        put(&disk, &owner, &key(i), &value_for(&key(i), VALUE));
    }
    disk.sync();
    // Half were read; compaction (no page fragmented: max_frag 0) drops the others.
    for i in (0..n).step_by(2) {
        owner.map.lock().unwrap().get_mut(&key(i)).unwrap().read = true;
    }
    let t = disk.tuning();
    t.set_max_frag(0.0);
    t.set_drop_unread(true);
    t.set_drop_under(4);
    t.set_compact_under(4);
    disk.wake_maintenance();
    wait_until("a compaction dropping unread objects", || {
        disk.stats().compact_skipped > 0 && disk.stats().compact_rescues > 0
    });
    t.set_compact_under(0);
    let stats = disk.stats();
    assert_eq!(stats.compact_lost, 0);
    check_all_live(&disk, &owner);
    assert!(owner.live().len() < n);
}

#[test]
fn when_no_page_is_free_the_oldest_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("ext", "16m")]), &owner); // 4 pages, no compaction
    let n = 4 * (4 * 4 * MIB as usize / (VALUE + 64));
    let mut locs = Vec::new();
    for i in 0..n {
        locs.push(put(&disk, &owner, &key(i), &value_for(&key(i), VALUE)));
    }
    let stats = disk.stats();
    assert!(stats.page_evictions >= 8, "{stats:?}");
    assert!(stats.objects_evicted > 0 && stats.bytes_evicted > 0);
    assert!(stats.pages_free <= 1);
    // The first objects were on the dropped pages: misses. The last are all there.
    let first = owner.get(&key(0)).unwrap();
    assert_eq!(
        read(&disk, first.loc, first.len).unwrap_err(),
        ReadError::Stale
    );
    let last = owner.get(&key(n - 1)).unwrap();
    assert_eq!(
        read(&disk, last.loc, last.len).unwrap().value(),
        &value_for(&key(n - 1), VALUE)[..]
    );
    // Live accounting followed the drops.
    let current = owner
        .live()
        .into_iter()
        .filter(|(_, e)| disk.is_current(e.loc))
        .count() as u64;
    assert_eq!(disk.stats().objects_used, current);
}

#[test]
fn readers_racing_compaction_get_right_bytes_or_stale() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let mut config = config(dir.path(), &[("ext", "32m")]);
    config.compact_under = Some(4);
    config.max_frag = 0.6;
    config.max_sleep = std::time::Duration::from_millis(1);
    let disk = Arc::new(open(config, &owner));
    let stop = Arc::new(AtomicBool::new(false));
    let (good, stale) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (disk, owner, stop) = (disk.clone(), owner.clone(), stop.clone());
            let (good, stale) = (good.clone(), stale.clone());
            thread::spawn(move || {
                let mut i = r;
                while !stop.load(Relaxed) {
                    i = (i * 7 + 13) % 400;
                    let Some(e) = owner.get(&key(i)) else {
                        continue;
                    };
                    match read(&disk, e.loc, e.len) {
                        Ok(got) => {
                            assert_eq!(got.key(), &key(i)[..]);
                            assert_eq!(got.value(), &value_for(&key(i), VALUE)[..]);
                            good.fetch_add(1, Relaxed);
                        }
                        // Moved (and its old page freed) between lookup and read.
                        Err(ReadError::Stale) => {
                            stale.fetch_add(1, Relaxed);
                        }
                        Err(e) => panic!("read failed: {e}"),
                    }
                }
            })
        })
        .collect();
    let handle = disk.handle();
    // Rewrite and delete keys for a while so pages fragment and compaction runs.
    for round in 0..12 {
        for i in 0..400 {
            if (i + round) % 3 == 0 {
                owner.delete(&handle, &key(i));
            } else if (i + round) % 3 == 1 {
                put(&disk, &owner, &key(i), &value_for(&key(i), VALUE));
            }
        }
    }
    wait_until("readers to make progress", || good.load(Relaxed) > 200);
    stop.store(true, Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let stats = disk.stats();
    assert!(stats.compact_rescues > 0, "compaction ran: {stats:?}");
    assert_eq!(stats.compact_lost, 0);
    check_all_live(&disk, &owner);
    println!(
        "good {} stale {} {stats:?}",
        good.load(Relaxed),
        stale.load(Relaxed)
    );
}
