//! One test per operation and per edge, on a manual clock.

use std::sync::Arc;
use store::{
    CommitOptions, DeltaOutcome, InvalidateOutcome, ManualClock, Store, StoreConfig, StoreError,
    StoreMode, StoreOutcome,
};

const T0: u64 = 1_800_000_000;

fn store() -> (Store, Arc<ManualClock>) {
    store_with(StoreConfig::default())
}

fn store_with(cfg: StoreConfig) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let s = Store::with_clock(cfg, clock.clone()).expect("store");
    (s, clock)
}

fn set(s: &Store, k: &[u8], v: &[u8]) -> u64 {
    match s.store(StoreMode::Set, k, v, 0, 0).expect("set") {
        StoreOutcome::Stored { cas } => cas,
        other => panic!("set: {other:?}"),
    }
}

fn value(s: &Store, k: &[u8]) -> Option<Vec<u8>> {
    s.peek(k).map(|i| i.value().to_vec())
}

#[test]
fn set_then_get() {
    let (s, _) = store();
    s.store(StoreMode::Set, b"k", b"hello", 42, 0).unwrap();
    let item = s.get(b"k").expect("hit");
    assert_eq!(item.key(), b"k");
    assert_eq!(item.value(), b"hello");
    assert_eq!(item.flags(), 42);
    assert_ne!(item.cas(), 0);
    assert_eq!(item.ttl_remaining(), -1);
    drop(item);
    assert!(s.get(b"missing").is_none());
    let st = s.stats();
    assert_eq!((st.get_hits, st.get_misses), (1, 1));
    assert_eq!((st.curr_items, st.total_items), (1, 1));
}

#[test]
fn set_overwrites_and_changes_cas() {
    let (s, _) = store();
    let c1 = set(&s, b"k", b"a");
    let c2 = set(&s, b"k", b"bb");
    assert_ne!(c1, c2);
    assert_eq!(value(&s, b"k").unwrap(), b"bb");
    assert_eq!(s.stats().curr_items, 1);
}

#[test]
fn key_length_limits() {
    let (s, _) = store();
    assert_eq!(
        s.store(StoreMode::Set, b"", b"v", 0, 0),
        Err(StoreError::KeyLength)
    );
    let long = vec![b'k'; 251];
    assert_eq!(
        s.store(StoreMode::Set, &long, b"v", 0, 0),
        Err(StoreError::KeyLength)
    );
    let ok = vec![b'k'; 250];
    assert!(matches!(
        s.store(StoreMode::Set, &ok, b"v", 0, 0),
        Ok(StoreOutcome::Stored { .. })
    ));
}

#[test]
fn largest_value_matches_memcached() {
    // memcached 1.6.18 -I 1m: 1-byte key, flags 0 -> 1048516; flags != 0 -> 1048512;
    // 250-byte key -> 1048267; with -C (no CAS) 1048524.
    let (s, _) = store();
    let cases: [(&[u8], u32, usize); 3] = [
        (b"k", 0, 1_048_516),
        (b"k", 5, 1_048_512),
        (&[b'k'; 250], 0, 1_048_267),
    ];
    for (key, flags, max) in cases {
        assert!(s.reserve(key, max, flags, 0).is_ok(), "{max}");
        assert!(matches!(
            s.reserve(key, max + 1, flags, 0),
            Err(StoreError::TooLarge)
        ));
    }
    let (s, _) = store_with(StoreConfig {
        cas_enabled: false,
        ..StoreConfig::default()
    });
    assert!(s.reserve(b"k", 1_048_524, 0, 0).is_ok());
    assert!(s.reserve(b"k", 1_048_525, 0, 0).is_err());
    assert!(s.stats().store_too_large >= 1);
}

#[test]
fn a_full_sized_item_is_stored() {
    let (s, _) = store();
    let v = vec![7u8; 1_048_516];
    assert!(matches!(
        s.store(StoreMode::Set, b"k", &v, 0, 0),
        Ok(StoreOutcome::Stored { .. })
    ));
    assert_eq!(s.get(b"k").unwrap().value(), &v[..]);
}

#[test]
fn add_only_when_absent() {
    let (s, c) = store();
    assert!(matches!(
        s.store(StoreMode::Add, b"k", b"1", 0, 0).unwrap(),
        StoreOutcome::Stored { .. }
    ));
    assert_eq!(
        s.store(StoreMode::Add, b"k", b"2", 0, 0).unwrap(),
        StoreOutcome::NotStored
    );
    assert_eq!(value(&s, b"k").unwrap(), b"1");
    // An expired item does not block add.
    s.store(StoreMode::Set, b"e", b"1", 0, 5).unwrap();
    c.advance(5);
    assert!(matches!(
        s.store(StoreMode::Add, b"e", b"2", 0, 0).unwrap(),
        StoreOutcome::Stored { .. }
    ));
}

#[test]
fn replace_only_when_present() {
    let (s, _) = store();
    assert_eq!(
        s.store(StoreMode::Replace, b"k", b"1", 0, 0).unwrap(),
        StoreOutcome::NotStored
    );
    assert!(value(&s, b"k").is_none());
    set(&s, b"k", b"1");
    assert!(matches!(
        s.store(StoreMode::Replace, b"k", b"2", 3, 0).unwrap(),
        StoreOutcome::Stored { .. }
    ));
    let i = s.peek(b"k").unwrap();
    assert_eq!((i.value(), i.flags()), (&b"2"[..], 3));
}

#[test]
fn append_prepend_keep_flags_and_expiry() {
    let (s, c) = store();
    s.store(StoreMode::Set, b"k", b"mid", 9, 100).unwrap();
    assert!(matches!(
        s.store(StoreMode::Append, b"k", b">>", 1, 0).unwrap(),
        StoreOutcome::Stored { .. }
    ));
    assert!(matches!(
        s.store(StoreMode::Prepend, b"k", b"<<", 2, 5000).unwrap(),
        StoreOutcome::Stored { .. }
    ));
    let i = s.peek(b"k").unwrap();
    assert_eq!(i.value(), b"<<mid>>");
    assert_eq!(i.flags(), 9);
    assert_eq!(i.ttl_remaining(), 100);
    drop(i);
    c.advance(100);
    assert!(
        value(&s, b"k").is_none(),
        "append must not extend the expiry"
    );
}

#[test]
fn append_to_missing_key_is_not_stored() {
    let (s, _) = store();
    for mode in [StoreMode::Append, StoreMode::Prepend] {
        assert_eq!(
            s.store(mode, b"nokey", b"x", 0, 0).unwrap(),
            StoreOutcome::NotStored
        );
    }
    assert!(value(&s, b"nokey").is_none());
}

#[test]
fn cas_rules() {
    let (s, _) = store();
    assert_eq!(
        s.store(StoreMode::Cas(1), b"k", b"v", 0, 0).unwrap(),
        StoreOutcome::NotFound
    );
    let c1 = set(&s, b"k", b"v1");
    assert_eq!(
        s.store(StoreMode::Cas(c1 + 1000), b"k", b"v2", 0, 0)
            .unwrap(),
        StoreOutcome::Exists
    );
    assert_eq!(value(&s, b"k").unwrap(), b"v1");
    let c2 = match s.store(StoreMode::Cas(c1), b"k", b"v2", 0, 0).unwrap() {
        StoreOutcome::Stored { cas } => cas,
        o => panic!("{o:?}"),
    };
    assert_ne!(c1, c2);
    assert_eq!(
        s.store(StoreMode::Cas(c1), b"k", b"v3", 0, 0).unwrap(),
        StoreOutcome::Exists
    );
    let st = s.stats();
    assert_eq!((st.cas_misses, st.cas_hits, st.cas_badval), (1, 1, 2));
}

#[test]
fn cas_disabled_reports_zero() {
    let (s, _) = store_with(StoreConfig {
        cas_enabled: false,
        ..StoreConfig::default()
    });
    assert_eq!(set(&s, b"k", b"v"), 0);
    assert_eq!(s.get(b"k").unwrap().cas(), 0);
}

#[test]
fn delete_hits_and_misses() {
    let (s, _) = store();
    set(&s, b"k", b"v");
    assert!(s.delete(b"k"));
    assert!(!s.delete(b"k"));
    assert!(value(&s, b"k").is_none());
    let st = s.stats();
    assert_eq!((st.delete_hits, st.delete_misses, st.curr_items), (1, 1, 0));
}

#[test]
fn expiry_exactly_at_the_boundary() {
    let (s, c) = store();
    s.store(StoreMode::Set, b"k", b"v", 0, 10).unwrap();
    c.advance(9);
    assert_eq!(s.get(b"k").unwrap().ttl_remaining(), 1);
    c.advance(1);
    assert!(s.get(b"k").is_none());
    let st = s.stats();
    assert_eq!((st.get_expired, st.get_misses), (1, 1));
}

#[test]
fn relative_versus_absolute_exptime() {
    let (s, c) = store();
    // 30 days exactly is still relative.
    s.store(StoreMode::Set, b"rel", b"v", 0, 2_592_000).unwrap();
    // One more is an absolute unix time, long past: expired at once.
    s.store(StoreMode::Set, b"abs_past", b"v", 0, 2_592_001)
        .unwrap();
    // An absolute time in the future.
    s.store(StoreMode::Set, b"abs", b"v", 0, (T0 + 50) as i64)
        .unwrap();
    assert!(value(&s, b"rel").is_some());
    assert!(value(&s, b"abs_past").is_none());
    assert_eq!(s.peek(b"abs").unwrap().ttl_remaining(), 50);
    c.advance(50);
    assert!(value(&s, b"abs").is_none());
    assert!(value(&s, b"rel").is_some());
    c.set(T0 + 2_592_000);
    assert!(value(&s, b"rel").is_none());
}

#[test]
fn negative_exptime_is_expired_and_replaces() {
    let (s, _) = store();
    set(&s, b"k", b"old");
    s.store(StoreMode::Set, b"k", b"new", 0, -1).unwrap();
    assert!(value(&s, b"k").is_none());
}

#[test]
fn touch_and_gat() {
    let (s, c) = store();
    s.store(StoreMode::Set, b"k", b"v", 0, 10).unwrap();
    assert!(s.touch(b"k", 100));
    assert!(!s.touch(b"missing", 100));
    c.advance(50);
    let i = s.get_and_touch(b"k", 0).expect("gat hit");
    assert_eq!(i.value(), b"v");
    assert_eq!(i.ttl_remaining(), -1);
    drop(i);
    assert!(s.get_and_touch(b"missing", 5).is_none());
    c.advance(1_000_000);
    assert!(value(&s, b"k").is_some());
    let st = s.stats();
    assert_eq!((st.touch_hits, st.touch_misses), (2, 2));
}

#[test]
fn flush_all_now_hides_older_items_only() {
    let (s, _) = store();
    set(&s, b"a", b"1");
    s.flush_all(0);
    assert!(value(&s, b"a").is_none());
    // Stored after the flush, in the same second: visible (memcached uses the CAS here).
    set(&s, b"b", b"2");
    assert!(value(&s, b"b").is_some());
    assert!(s.get(b"a").is_none());
    // The flushed item is either reclaimed by the sweep or found dead by the get.
    let st = s.stats();
    assert_eq!(st.get_misses, 1);
    assert_eq!(st.curr_items, 1);
    assert!(st.get_flushed + st.reclaimed >= 1);
}

#[test]
fn flush_all_with_delay() {
    let (s, c) = store();
    set(&s, b"a", b"1");
    s.flush_all(10);
    c.advance(5);
    assert!(value(&s, b"a").is_some(), "not flushed before the delay");
    set(&s, b"b", b"2");
    c.advance(5);
    assert!(value(&s, b"a").is_none());
    assert!(value(&s, b"b").is_none(), "stored before the flush moment");
    set(&s, b"c", b"3");
    assert!(value(&s, b"c").is_some(), "stored after the flush moment");
    c.advance(100);
    assert!(value(&s, b"c").is_some());
}

#[test]
fn incr_decr() {
    let (s, _) = store();
    s.store(StoreMode::Set, b"n", b"10", 7, 0).unwrap();
    assert!(matches!(
        s.delta(b"n", 1, true),
        DeltaOutcome::Value { value: 11, .. }
    ));
    assert_eq!(value(&s, b"n").unwrap(), b"11");
    assert_eq!(s.peek(b"n").unwrap().flags(), 7);
    assert!(matches!(
        s.delta(b"n", 89, true),
        DeltaOutcome::Value { value: 100, .. }
    ));
    assert_eq!(value(&s, b"n").unwrap(), b"100", "grows with the digits");
    assert!(matches!(
        s.delta(b"n", 95, false),
        DeltaOutcome::Value { value: 5, .. }
    ));
    // memcached rewrites in place, padding with spaces.
    assert_eq!(value(&s, b"n").unwrap(), b"5  ");
    assert_eq!(s.delta(b"missing", 1, true), DeltaOutcome::NotFound);
    let st = s.stats();
    assert_eq!((st.incr_hits, st.decr_hits, st.incr_misses), (2, 1, 1));
}

#[test]
fn incr_wraps_and_decr_floors() {
    let (s, _) = store();
    set(&s, b"n", b"18446744073709551615");
    assert!(matches!(
        s.delta(b"n", 2, true),
        DeltaOutcome::Value { value: 1, .. }
    ));
    assert_eq!(value(&s, b"n").unwrap(), b"1                   ");
    set(&s, b"m", b"3");
    assert!(matches!(
        s.delta(b"m", 10, false),
        DeltaOutcome::Value { value: 0, .. }
    ));
}

#[test]
fn incr_non_numeric() {
    let (s, _) = store();
    for v in [&b"abc"[..], b"", b"-5", b"12abc", b"99999999999999999999"] {
        set(&s, b"n", v);
        assert_eq!(s.delta(b"n", 1, true), DeltaOutcome::NonNumeric);
        assert_eq!(value(&s, b"n").unwrap(), v);
    }
}

#[test]
fn incr_changes_cas_and_keeps_expiry() {
    let (s, c) = store();
    s.store(StoreMode::Set, b"n", b"1", 0, 20).unwrap();
    let before = s.peek(b"n").unwrap().cas();
    let DeltaOutcome::Value { cas, .. } = s.delta(b"n", 1, true) else {
        panic!()
    };
    assert_ne!(cas, before);
    assert_eq!(s.peek(b"n").unwrap().cas(), cas);
    c.advance(20);
    assert!(value(&s, b"n").is_none());
}

#[test]
fn reservation_invisible_until_commit() {
    let (s, _) = store();
    let mut r = s.reserve(b"k", 5, 1, 0).unwrap();
    assert_eq!(s.open_reservations(), 1);
    r.value_mut().copy_from_slice(b"hello");
    assert!(s.get(b"k").is_none());
    assert!(matches!(
        r.commit(StoreMode::Set),
        StoreOutcome::Stored { .. }
    ));
    assert_eq!(s.open_reservations(), 0);
    assert_eq!(value(&s, b"k").unwrap(), b"hello");
}

#[test]
fn dropped_reservation_leaves_no_trace() {
    let (s, _) = store();
    set(&s, b"k", b"old");
    let mut r = s.reserve(b"k", 3, 0, 0).unwrap();
    r.value_mut().copy_from_slice(b"new");
    drop(r);
    assert_eq!(s.open_reservations(), 0);
    assert_eq!(value(&s, b"k").unwrap(), b"old");
    assert_eq!(s.stats().curr_items, 1);
}

#[test]
fn pins_are_counted() {
    let (s, _) = store();
    set(&s, b"k", b"v");
    let a = s.get(b"k").unwrap();
    let b = s.peek(b"k").unwrap();
    assert_eq!(s.pinned_items(), 2);
    drop(a);
    drop(b);
    assert_eq!(s.pinned_items(), 0);
}

#[test]
fn pinned_value_survives_overwrite_and_delete() {
    let (s, _) = store();
    set(&s, b"k", b"first");
    let pinned = s.get(b"k").unwrap();
    set(&s, b"k", b"second");
    s.delete(b"k");
    assert_eq!(pinned.value(), b"first");
}

#[test]
fn fetched_and_last_access() {
    let (s, c) = store();
    set(&s, b"k", b"v");
    c.advance(7);
    let i = s.get(b"k").unwrap();
    assert!(!i.fetched_before());
    assert_eq!(i.last_access_ago(), 7);
    drop(i);
    c.advance(2);
    let i = s.get(b"k").unwrap();
    assert!(i.fetched_before());
    assert_eq!(i.last_access_ago(), 2);
}

#[test]
fn explicit_cas_and_compare_on_commit() {
    let (s, _) = store();
    let r = s.reserve(b"k", 1, 0, 0).unwrap();
    let out = r.commit_with(
        StoreMode::Set,
        CommitOptions {
            new_cas: Some(777),
            ..CommitOptions::default()
        },
    );
    assert_eq!(out, StoreOutcome::Stored { cas: 777 });
    assert_eq!(s.peek(b"k").unwrap().cas(), 777);
    let r = s.reserve(b"k", 1, 0, 0).unwrap();
    let out = r.commit_with(
        StoreMode::Set,
        CommitOptions {
            compare_cas: Some(1),
            ..CommitOptions::default()
        },
    );
    assert_eq!(out, StoreOutcome::Exists);
}

#[test]
fn invalidate_marks_stale_and_bumps_cas() {
    let (s, _) = store();
    let c1 = set(&s, b"k", b"v");
    assert_eq!(s.invalidate(b"k", Some(c1 + 1)), InvalidateOutcome::Exists);
    let InvalidateOutcome::Invalidated { cas } = s.invalidate(b"k", Some(c1)) else {
        panic!()
    };
    assert_ne!(cas, c1);
    let i = s.get(b"k").unwrap();
    assert!(i.is_stale());
    assert_eq!(i.cas(), cas);
    assert_eq!(i.value(), b"v");
    assert_eq!(s.invalidate(b"missing", None), InvalidateOutcome::NotFound);
}

#[test]
fn win_token_once_per_version() {
    let (s, _) = store();
    set(&s, b"k", b"v");
    let i = s.get(b"k").unwrap();
    assert!(s.claim_win(&i));
    assert!(!s.claim_win(&i));
    drop(i);
    set(&s, b"k", b"v2");
    let i = s.get(b"k").unwrap();
    assert!(s.claim_win(&i), "a new version has a fresh token");
}

#[test]
fn vivify_creates_placeholder_once() {
    let (s, _) = store();
    assert!(s.vivify(b"k", 30).unwrap());
    assert!(!s.vivify(b"k", 30).unwrap());
    let i = s.get(b"k").unwrap();
    assert_eq!(i.value(), b"");
    assert!(!s.claim_win(&i), "the creator already holds the win");
}

#[test]
fn no_evict_mode_runs_out_of_memory() {
    let (s, _) = store_with(StoreConfig {
        memory_limit: 4 << 20,
        evict: false,
        ..StoreConfig::default()
    });
    let v = vec![1u8; 100_000];
    let mut failed = false;
    for i in 0..200 {
        match s.store(StoreMode::Set, format!("k{i}").as_bytes(), &v, 0, 0) {
            Ok(StoreOutcome::Stored { .. }) => {}
            Err(StoreError::OutOfMemory) => {
                failed = true;
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(failed, "a 4 MiB store cannot hold 20 MB");
    assert!(value(&s, b"k0").is_some(), "nothing evicted");
    assert_eq!(s.stats().evictions, 0);
}

#[test]
fn eviction_makes_room() {
    let (s, _) = store_with(StoreConfig {
        memory_limit: 4 << 20,
        ..StoreConfig::default()
    });
    let v = vec![1u8; 100_000];
    for i in 0..200 {
        assert!(matches!(
            s.store(StoreMode::Set, format!("k{i}").as_bytes(), &v, 0, 0),
            Ok(StoreOutcome::Stored { .. })
        ));
    }
    assert!(value(&s, b"k199").is_some(), "the newest item is there");
    let st = s.stats();
    assert!(st.evictions > 0);
    assert!(st.bytes <= 4 << 20);
}

#[test]
fn reset_stats_keeps_gauges() {
    let (s, _) = store();
    set(&s, b"k", b"v");
    s.get(b"k");
    s.reset_stats();
    let st = s.stats();
    assert_eq!((st.get_hits, st.total_items), (0, 0));
    assert_eq!(st.curr_items, 1);
}

#[test]
fn append_beyond_item_size_max_is_not_stored() {
    let (s, _) = store();
    let big = vec![b'x'; 1_048_000];
    set(&s, b"a", &big);
    assert_eq!(
        s.store(StoreMode::Append, b"a", &[b'y'; 1000], 0, 0)
            .unwrap(),
        StoreOutcome::NotStored
    );
    assert_eq!(value(&s, b"a").unwrap().len(), 1_048_000);
    assert_eq!(
        s.stats().store_too_large,
        0,
        "memcached counts nothing here"
    );
}

#[test]
fn incr_counts_a_new_item_only_when_it_grows() {
    let (s, _) = store();
    set(&s, b"n", b"9");
    assert_eq!(s.stats().total_items, 1);
    s.delta(b"n", 1, true); // "10": outgrows "9"
    assert_eq!(s.stats().total_items, 2);
    s.delta(b"n", 1, true); // "11": in place
    assert_eq!(s.stats().total_items, 2);
}
