//! Warm restart of a store some of whose values went to the disk tier. The tier's page
//! index does not survive a restart yet (docs/restart.md, the hook for the disk tier), so
//! the items whose value was on disk do not come back, and nothing else is lost with them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use store::{ColdTier, ManualClock, Restore, Store, StoreConfig, StoreMode, StoreOutcome};

const T0: u64 = 1_800_000_000;

/// Records every location the store forgets.
#[derive(Default)]
struct Recorder(Mutex<Vec<u64>>);

impl ColdTier for Recorder {
    fn forget(&self, location: u64, _key: &[u8], _value_len: usize) {
        self.0.lock().unwrap().push(location);
    }
}

fn memory_file() -> (tempfile::TempDir, PathBuf) {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
    let file = dir.path().join("corvid.mem");
    (dir, file)
}

fn cfg() -> StoreConfig {
    StoreConfig {
        memory_limit: 64 << 20,
        ..StoreConfig::default()
    }
}

fn set(s: &Store, key: &str, len: usize, exptime: i64) {
    let v = vec![b'v'; len];
    match s.store(StoreMode::Set, key.as_bytes(), &v, 5, exptime) {
        Ok(StoreOutcome::Stored { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn items_on_disk_are_dropped_at_a_restart_and_the_rest_comes_back() {
    let (_dir, file) = memory_file();
    let clock = Arc::new(ManualClock::new(T0));
    let (s, _) = Store::open_memory_file(cfg(), clock.clone(), &file, &[]).unwrap();
    let tier = Arc::new(Recorder::default());
    assert!(s.set_cold_tier(tier.clone()));
    for i in 0..200 {
        set(
            &s,
            &format!("k{i}"),
            3000,
            if i % 2 == 0 { 0 } else { 3600 },
        );
    }
    // Every fourth item leaves RAM (both kinds of TTL bucket get external items).
    for i in (0..200).step_by(4) {
        let item = s.peek(format!("k{i}").as_bytes()).unwrap();
        assert!(s.externalize(&item, 0x1000 + i as u64).unwrap());
    }
    let bytes_before = s.stats().bytes;
    s.save(&[]).unwrap();
    drop(s);
    assert!(
        tier.0.lock().unwrap().is_empty(),
        "nothing forgotten before"
    );

    clock.advance(10);
    let (s, opened) = Store::open_memory_file(cfg(), clock.clone(), &file, &[]).unwrap();
    let Restore::Restored {
        items,
        bytes,
        dropped_external,
        ..
    } = opened.restore
    else {
        panic!("started empty: {:?}", opened.restore);
    };
    assert_eq!((items, dropped_external), (150, 50));
    assert!(bytes < bytes_before, "{bytes} < {bytes_before}");
    assert_eq!(s.stats().curr_items, 150);
    for i in 0..200 {
        let got = s.get(format!("k{i}").as_bytes());
        if i % 4 == 0 {
            assert!(got.is_none(), "k{i} was on disk");
        } else {
            let got = got.unwrap_or_else(|| panic!("k{i} came back"));
            assert!(got.external().is_none());
            assert_eq!((got.value().len(), got.flags()), (3000, 5));
        }
    }
    // The store keeps working over the dropped items' garbage, and saves again.
    for i in 0..200 {
        set(&s, &format!("n{i}"), 3000, 0);
    }
    s.save(&[]).unwrap();
    drop(s);
    clock.advance(1);
    let (_, opened) = Store::open_memory_file(cfg(), clock, &file, &[]).unwrap();
    assert!(
        matches!(
            opened.restore,
            Restore::Restored {
                items: 350,
                dropped_external: 0,
                ..
            }
        ),
        "{:?}",
        opened.restore
    );
}
