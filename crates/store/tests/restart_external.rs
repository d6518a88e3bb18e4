//! Warm restart of a store some of whose values went to the disk tier. Without the
//! tier's saved index (no `DISK` section, or a caller that does not take it) the items
//! whose value was on disk do not come back, and nothing else is lost with them. With it,
//! they wait for the tier's verdict: adopted with their locations, or dropped.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use store::{
    ColdTier, ExtraSection, ManualClock, Restore, Store, StoreConfig, StoreMode, StoreOutcome,
    COLD_TIER_SECTION,
};

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

/// A store with 200 items of which every fourth is external (location 0x1000 + i), saved
/// with a `DISK` section, and reopened taking it.
fn saved_with_disk_section(file: &std::path::Path, clock: &Arc<ManualClock>) -> Store {
    let (s, _) = Store::open_memory_file(cfg(), clock.clone(), file, &[]).unwrap();
    for i in 0..200 {
        set(
            &s,
            &format!("k{i}"),
            3000,
            if i % 2 == 0 { 0 } else { 3600 },
        );
    }
    for i in (0..200).step_by(4) {
        let item = s.peek(format!("k{i}").as_bytes()).unwrap();
        assert!(s.externalize(&item, 0x1000 + i as u64).unwrap());
    }
    let disk = ExtraSection {
        tag: COLD_TIER_SECTION,
        version: 1,
        required: false,
        payload: b"the tier's".to_vec(),
    };
    s.save(&[disk]).unwrap();
    drop(s);
    clock.advance(10);
    let (s, opened) =
        Store::open_memory_file(cfg(), clock.clone(), file, &[COLD_TIER_SECTION]).unwrap();
    let Restore::Restored {
        items,
        dropped_external,
        extra,
        ..
    } = opened.restore
    else {
        panic!("started empty: {:?}", opened.restore);
    };
    assert_eq!((items, dropped_external), (200, 0));
    assert_eq!(extra[0].payload, b"the tier's");
    assert!(s.external_pending());
    s
}

#[test]
fn with_the_tiers_section_items_on_disk_wait_and_are_adopted() {
    let (_dir, file) = memory_file();
    let clock = Arc::new(ManualClock::new(T0));
    let s = saved_with_disk_section(&file, &clock);
    let mut offered = Vec::new();
    let n = s.adopt_external(|location, key_len, value_len| {
        offered.push((location, key_len, value_len));
    });
    assert_eq!(n, 50);
    offered.sort_unstable();
    let want: Vec<_> = (0..200)
        .step_by(4)
        .map(|i| (0x1000 + i as u64, format!("k{i}").len(), 3000))
        .collect();
    let mut want = want;
    want.sort_unstable();
    assert_eq!(offered, want);
    assert!(!s.external_pending());
    let tier = Arc::new(Recorder::default());
    assert!(s.set_cold_tier(tier.clone()));
    let got = s.get(b"k8").unwrap();
    assert_eq!(got.external().map(|e| e.location), Some(0x1008));
    drop(got);
    // Forgotten once, when the store drops it, with its location.
    assert!(s.delete(b"k8"));
    assert_eq!(*tier.0.lock().unwrap(), vec![0x1008]);
}

#[test]
fn with_the_tiers_section_refused_items_on_disk_go_before_a_tier_connects() {
    let (_dir, file) = memory_file();
    let clock = Arc::new(ManualClock::new(T0));
    let s = saved_with_disk_section(&file, &clock);
    assert_eq!(s.drop_external(), 50);
    assert!(!s.external_pending());
    assert_eq!(s.stats().curr_items, 150);
    drop(s);
    // A tier connecting while they still wait: they go first, and it hears of none.
    let s = saved_with_disk_section(&file, &clock);
    let tier = Arc::new(Recorder::default());
    assert!(s.set_cold_tier(tier.clone()));
    assert!(!s.external_pending());
    assert_eq!(s.stats().curr_items, 150);
    assert!(tier.0.lock().unwrap().is_empty());
    assert!(s.get(b"k4").is_none());
    assert!(s.get(b"k5").is_some());
}
