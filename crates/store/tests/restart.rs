//! Warm restart through the public API: a clean stop (`save`) and a start on the same
//! memory file (`open_memory_file`), on a manual clock: what comes back. memcached's own
//! scenarios (its t/restart.t) come first. Every reason to start empty is in
//! `restart_refused.rs`; long random runs against a model in `restart_model.rs`.

mod restart_support;

use restart_support::*;
use std::collections::HashMap;
use std::sync::Arc;
use store::{
    DeltaOutcome, ExtraSection, ManualClock, Refusal, Restore, SaveError, Store, StoreConfig,
    StoreMode, StoreOutcome,
};

#[test]
fn memcached_restart_scenarios_come_back_after_a_clean_stop() {
    let dir = Dir::new();
    let clock = Arc::new(ManualClock::new(T0));
    // memcached's t/restart.t runs -m 128 -I 2m.
    let config = StoreConfig {
        item_size_max: 2 * MIB,
        ..cfg(128)
    };
    let (s, r) = open(&dir.file(), config.clone(), &clock);
    assert_eq!(refusal(&r), &Refusal::Missing);
    // Values from 2 bytes to 1 MiB, doubling, each with its own flags.
    let mut sizes = HashMap::new();
    let mut cas = HashMap::new();
    let mut n = 2;
    let mut i = 0;
    while n <= MIB {
        let k = format!("foo{i}");
        cas.insert(k.clone(), set(&s, &k, &vec![b'x'; n], i as u32 * 7, 0));
        sizes.insert(k, n);
        n *= 2;
        i += 1;
    }
    // 130,000 small items; every tenth deleted again.
    for j in 0..130_000 {
        set(&s, &format!("z{j}"), format!("v{j}").as_bytes(), 0, 0);
    }
    for j in (0..130_000).step_by(10) {
        assert!(s.delete(format!("z{j}").as_bytes()));
    }
    // One item to expire while stopped, one to stay.
    set(&s, "low1", b"bo", 0, 5);
    set(&s, "low2", b"mo", 0, 200);
    let counter_cas = set(&s, "counter", b"41", 0, 0);
    clock.advance(1);
    let before = s.stats();
    let max_cas = s.peek(b"low2").unwrap().cas();
    let saved = s.save(&[]).expect("clean stop");
    assert_eq!(
        (saved.items, saved.bytes),
        (before.curr_items, before.bytes)
    );
    drop(s);

    // The restart took longer than low1's TTL.
    clock.advance(6);
    let (s, r) = open(&dir.file(), config, &clock);
    let items = restored_items(&r);
    // low1 may still be counted until its segment is reclaimed, as memcached counts it.
    assert!(
        items == before.curr_items || items == before.curr_items - 1,
        "{items} of {}",
        before.curr_items
    );
    assert_eq!(value(&s, "low1"), None, "expired while stopped");
    let low2 = s.get(b"low2").expect("the TTL-200 item is back");
    assert_eq!(low2.value(), b"mo");
    assert_eq!(low2.ttl_remaining(), 200 - 7, "same clock, same deadline");
    drop(low2);
    for (k, &n) in &sizes {
        let it = s.get(k.as_bytes()).unwrap_or_else(|| panic!("{k} is back"));
        assert_eq!(it.value().len(), n);
        assert!(it.value().iter().all(|&b| b == b'x'));
        let i: u32 = k[3..].parse().unwrap();
        assert_eq!(it.flags(), i * 7, "{k}'s flags");
        assert_eq!(it.cas(), cas[k], "{k}'s CAS, as gets shows it");
    }
    for j in 0..130_000 {
        let v = value(&s, &format!("z{j}"));
        if j % 10 == 0 {
            assert_eq!(v, None, "z{j} was deleted before the stop");
        } else {
            assert_eq!(v.as_deref(), Some(format!("v{j}").as_bytes()), "z{j}");
        }
    }
    // A cas with the CAS read before the restart still succeeds; new CAS values are above
    // every old one.
    let new_cas = match s
        .store(StoreMode::Cas(counter_cas), b"counter", b"42", 0, 0)
        .unwrap()
    {
        StoreOutcome::Stored { cas } => cas,
        other => panic!("cas with the old CAS: {other:?}"),
    };
    assert!(new_cas > max_cas, "{new_cas} > {max_cas}");
    match s.delta(b"counter", 1, true) {
        DeltaOutcome::Value { value, cas } => assert_eq!((value, cas > new_cas), (43, true)),
        other => panic!("{other:?}"),
    }
    // Counters start fresh; the gauges reflect what came back.
    let st = s.stats();
    assert_eq!(
        st.total_items, 1,
        "the cas above (the incr rewrote in place)"
    );
    assert!(st.get_hits > 0);
    assert_eq!(st.curr_items, items, "curr_items is what came back");
}

#[test]
fn a_pending_flush_all_delay_survives_a_restart() {
    let dir = Dir::new();
    let clock = Arc::new(ManualClock::new(T0));
    let (s, _) = open(&dir.file(), cfg(64), &clock);
    set(&s, "k", b"v", 0, 0);
    s.flush_all(100);
    s.save(&[]).unwrap();
    drop(s);
    clock.advance(50);
    let (s, r) = open(&dir.file(), cfg(64), &clock);
    assert_eq!(restored_items(&r), 1);
    assert_eq!(
        value(&s, "k").as_deref(),
        Some(&b"v"[..]),
        "before the flush moment"
    );
    clock.advance(51);
    assert_eq!(value(&s, "k"), None, "the delayed flush still happens");
}

#[test]
fn what_eviction_would_keep_survives_a_restart() {
    // The active bit (read since linked here) lives in the index slots, saved as they are.
    let dir = Dir::new();
    let clock = Arc::new(ManualClock::new(T0));
    let (s, _) = open(&dir.file(), cfg(16), &clock);
    set(&s, "read", b"r", 0, 0);
    set(&s, "unread", b"u", 0, 0);
    assert!(s.get(b"read").is_some());
    s.save(&[]).unwrap();
    drop(s);
    let (s, r) = open(&dir.file(), cfg(16), &clock);
    assert_eq!(restored_items(&r), 2);
    // More than the heap of never-read items, within the same second.
    let v = vec![b'c'; 2000];
    for i in 0..(18 * MIB) / v.len() {
        set(&s, &format!("c{i}"), &v, 0, 0);
    }
    assert_eq!(value(&s, "read").as_deref(), Some(&b"r"[..]));
    assert_eq!(value(&s, "unread"), None);
}

#[test]
fn extra_sections_ride_along_and_unknown_required_ones_refuse() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = Dir::new();
    let disk = ExtraSection {
        tag: *b"DISK",
        version: 1,
        required: true,
        payload: b"page index".to_vec(),
    };
    let note = ExtraSection {
        tag: *b"NOTE",
        version: 3,
        required: false,
        payload: vec![1, 2, 3],
    };
    for (bad, _) in [(*b"INDX", 0), (*b"END ", 0), ([0, 1, 2, 3], 0)] {
        let (s, _) = open(&dir.file(), cfg(64), &clock);
        let x = ExtraSection {
            tag: bad,
            ..note.clone()
        };
        assert!(matches!(s.save(&[x]), Err(SaveError::BadSection(..))));
    }
    let (s, _) = open(&dir.file(), cfg(64), &clock);
    set(&s, "k", b"v", 0, 0);
    s.save(&[disk.clone(), note.clone()]).unwrap();
    drop(s);
    let (s, opened) =
        Store::open_memory_file(cfg(64), clock.clone(), &dir.file(), &[*b"DISK"]).unwrap();
    match opened.restore {
        Restore::Restored { extra, items, .. } => {
            assert_eq!(items, 1);
            assert_eq!(extra, vec![disk.clone(), note]);
        }
        Restore::Empty(why) => panic!("{why}"),
    }
    s.save(&[disk]).unwrap();
    drop(s);
    // A build that does not know DISK must not come back without it.
    let (_, r) = open(&dir.file(), cfg(64), &clock);
    let why = refusal(&r);
    assert!(
        matches!(why, Refusal::Incompatible { setting, .. } if setting == "section DISK"),
        "{why:?}"
    );
}

#[test]
fn save_needs_a_memory_file() {
    let s = Store::new(cfg(64)).unwrap();
    assert_eq!(s.save(&[]), Err(SaveError::NoMemoryFile));
    assert!(s.memory_file().is_none());
}
