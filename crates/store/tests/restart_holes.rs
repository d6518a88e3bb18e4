//! Warm restart of a heap whose large items were written into the holes dead large items
//! left (`holes`): the restart's heap check walks items by their span and steps over the
//! fillers that end a reused hole, so everything comes back, byte for byte.

use std::sync::Arc;
use store::{ManualClock, Restore, Store, StoreConfig, StoreMode, StoreOutcome};

const T0: u64 = 1_800_000_000;

fn value(key: u64, version: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (key as u8).wrapping_mul(31) ^ (version as u8) ^ (i as u8))
        .collect()
}

#[test]
fn reused_holes_and_fillers_come_back_whole() {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
    let file = dir.path().join("corvid.mem");
    let cfg = StoreConfig {
        memory_limit: 64 << 20,
        ..StoreConfig::default()
    };
    let clock = Arc::new(ManualClock::new(T0));
    let (s, _) = Store::open_memory_file(cfg.clone(), clock.clone(), &file, &[]).unwrap();
    // Large values of changing sizes overwritten many times: each new one takes the start
    // of a hole an old one left, and a filler the rest. Small items in between.
    let keys = 150u64;
    let mut live = vec![(0u64, 0usize); keys as usize];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for round in 0..keys * 12 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = if round < keys { round } else { x % keys };
        let len = 5000 + (x % 60_000) as usize;
        let v = value(k, round, len);
        let out = s.store(StoreMode::Set, format!("k{k}").as_bytes(), &v, 7, 0);
        assert!(matches!(out, Ok(StoreOutcome::Stored { .. })), "{out:?}");
        live[k as usize] = (round, len);
        let small = format!("s{round}");
        assert!(matches!(
            s.store(StoreMode::Set, small.as_bytes(), b"tiny", 0, 0),
            Ok(StoreOutcome::Stored { .. })
        ));
    }
    let before = s.stats();
    assert_eq!(before.evictions, 0, "{before:?}");
    s.save(&[]).unwrap();
    drop(s);

    clock.advance(5);
    let (s, opened) = Store::open_memory_file(cfg, clock, &file, &[]).unwrap();
    match opened.restore {
        Restore::Restored { items, bytes, .. } => {
            assert_eq!((items, bytes), (before.curr_items, before.bytes));
        }
        Restore::Empty(why) => panic!("started empty: {why}"),
    }
    for k in 0..keys {
        let (version, len) = live[k as usize];
        let item = s.get(format!("k{k}").as_bytes()).expect("every key back");
        assert_eq!(item.value(), &value(k, version, len)[..], "k{k}");
    }
    for round in 0..keys * 12 {
        assert!(s.get(format!("s{round}").as_bytes()).is_some(), "s{round}");
    }
    // And the restored store keeps reusing room as before.
    for k in 0..keys {
        let v = value(k, 99, 20_000);
        assert!(matches!(
            s.store(StoreMode::Set, format!("k{k}").as_bytes(), &v, 0, 0),
            Ok(StoreOutcome::Stored { .. })
        ));
    }
    assert_eq!(s.stats().evictions, 0);
}
