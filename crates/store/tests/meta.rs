//! The meta protocol's store operations: reads with options, delete variants, arithmetic
//! with CAS and vivify, and the win token's life cycle.

use std::sync::Arc;
use store::{
    CommitOptions, ManualClock, MetaDelete, MetaDeleteOutcome, MetaDelta, MetaDeltaOutcome,
    MetaRead, Store, StoreConfig, StoreMode, StoreOutcome,
};

const T0: u64 = 1_800_000_000;

fn store() -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let s = Store::with_clock(StoreConfig::default(), clock.clone()).expect("store");
    (s, clock)
}

fn set(s: &Store, k: &[u8], v: &[u8], exptime: i64) -> u64 {
    match s.store(StoreMode::Set, k, v, 0, exptime).expect("set") {
        StoreOutcome::Stored { cas } => cas,
        other => panic!("set: {other:?}"),
    }
}

const READ: MetaRead = MetaRead {
    bump: true,
    touch: None,
    vivify: None,
};

#[test]
fn meta_get_counts_touch_hits_and_respects_no_bump() {
    let (s, c) = store();
    assert!(s.meta_get(b"k", READ).is_none());
    set(&s, b"k", b"v", 0);
    c.advance(5);
    let quiet = MetaRead {
        bump: false,
        ..READ
    };
    assert!(!s.meta_get(b"k", quiet).expect("hit").0.fetched_before());
    // `u` left no trace: the next read still sees an unfetched item accessed 5 s ago.
    let (i, _) = s.meta_get(b"k", READ).expect("hit");
    assert!(!i.fetched_before());
    assert_eq!(i.last_access_ago(), 5);
    drop(i);
    let touched = s
        .meta_get(
            b"k",
            MetaRead {
                touch: Some(100),
                ..READ
            },
        )
        .expect("hit")
        .0;
    assert_eq!(touched.ttl_remaining(), 100);
    drop(touched);
    let viv = MetaRead {
        vivify: Some((30, Some(99))),
        ..READ
    };
    let (i, created) = s.meta_get(b"new", viv).expect("vivified");
    assert!(created && i.win_claimed());
    assert_eq!((i.value(), i.cas(), i.ttl_remaining()), (&b""[..], 99, 30));
    drop(i);
    assert!(!s.meta_get(b"new", viv).expect("hit").1);
    let st = s.stats();
    assert_eq!((st.get_hits, st.get_misses, st.touch_hits), (4, 1, 1));
}

#[test]
fn exactly_one_winner_per_item_version() {
    let (s, _) = store();
    assert!(s.vivify_with(b"k", 30, Some(99)).expect("room"));
    assert!(!s.vivify_with(b"k", 30, None).expect("room"));
    let (i, _) = s.meta_get(b"k", READ).expect("placeholder");
    assert_eq!((i.value(), i.cas()), (&b""[..], 99));
    assert!(i.win_claimed());
    assert!(!s.claim_win(&i));
    drop(i);
    // Invalidation makes a new version with a fresh token.
    let out = s.meta_delete(
        b"k",
        MetaDelete {
            invalidate: true,
            exptime: Some(60),
            ..MetaDelete::default()
        },
    );
    assert!(matches!(out, MetaDeleteOutcome::Kept { .. }));
    let (i, _) = s.meta_get(b"k", READ).expect("stale");
    assert!(i.is_stale() && !i.win_claimed());
    assert_eq!(i.ttl_remaining(), 60);
    assert!(s.claim_win(&i));
    assert!(!s.claim_win(&i));
}

#[test]
fn stale_store_keeps_the_handed_out_token() {
    let (s, _) = store();
    let old = set(&s, b"k", b"v", 0);
    let MetaDeleteOutcome::Kept { cas } = s.meta_delete(
        b"k",
        MetaDelete {
            invalidate: true,
            ..MetaDelete::default()
        },
    ) else {
        panic!("not kept")
    };
    assert!(s.claim_win(&s.peek(b"k").expect("item")));
    let mut r = s.reserve(b"k", 1, 0, 0).expect("room");
    r.value_mut().copy_from_slice(b"n");
    let opts = CommitOptions {
        compare_cas: Some(old),
        invalidate: true,
        ..CommitOptions::default()
    };
    assert!(matches!(
        r.commit_with(StoreMode::Set, opts),
        StoreOutcome::Stored { .. }
    ));
    let i = s.peek(b"k").expect("item");
    assert!(i.is_stale() && i.win_claimed());
    assert_ne!(i.cas(), cas);
}

#[test]
fn meta_delete_with_cas_and_remove_value() {
    let (s, _) = store();
    let cas = set(&s, b"k", b"value", 0);
    let d = |compare_cas| MetaDelete {
        compare_cas,
        ..MetaDelete::default()
    };
    assert_eq!(
        s.meta_delete(b"k", d(Some(cas + 1))),
        MetaDeleteOutcome::Exists
    );
    let x = MetaDelete {
        remove_value: true,
        ..MetaDelete::default()
    };
    assert!(matches!(
        s.meta_delete(b"k", x),
        MetaDeleteOutcome::Kept { .. }
    ));
    assert_eq!(s.peek(b"k").expect("kept").value(), b"");
    assert_eq!(s.meta_delete(b"k", d(None)), MetaDeleteOutcome::Deleted);
    assert_eq!(s.meta_delete(b"k", d(None)), MetaDeleteOutcome::NotFound);
    let st = s.stats();
    assert_eq!((st.delete_hits, st.delete_misses), (2, 2));
}

#[test]
fn meta_delta_vivifies_compares_and_retimes() {
    let (s, _) = store();
    let m = MetaDelta {
        incr: true,
        delta: 5,
        compare_cas: None,
        new_cas: None,
        exptime: None,
        vivify: None,
    };
    assert_eq!(s.meta_delta(b"n", m), MetaDeltaOutcome::NotFound);
    let viv = MetaDelta {
        vivify: Some((0, 10)),
        ..m
    };
    let MetaDeltaOutcome::Value {
        value: 10,
        cas,
        ttl: -1,
        created: true,
    } = s.meta_delta(b"n", viv)
    else {
        panic!("not created")
    };
    let cmp = MetaDelta {
        compare_cas: Some(cas + 1),
        ..m
    };
    assert_eq!(s.meta_delta(b"n", cmp), MetaDeltaOutcome::Exists);
    let timed = MetaDelta {
        exptime: Some(30),
        new_cas: Some(5000),
        ..m
    };
    assert_eq!(
        s.meta_delta(b"n", timed),
        MetaDeltaOutcome::Value {
            value: 15,
            cas: 5000,
            ttl: 30,
            created: false
        }
    );
    set(&s, b"s", b"abc", 0);
    assert_eq!(s.meta_delta(b"s", m), MetaDeltaOutcome::NonNumeric);
    assert_eq!(s.stats().incr_misses, 1);
}

#[test]
fn append_with_cas_and_vivify() {
    let (s, _) = store();
    let commit = |v: &[u8], mode, opts| {
        let mut r = s.reserve(b"k", v.len(), 0, 0).expect("room");
        r.value_mut().copy_from_slice(v);
        r.commit_with(mode, opts)
    };
    let viv = CommitOptions {
        vivify_on_miss: true,
        ..CommitOptions::default()
    };
    assert_eq!(
        commit(b"a", StoreMode::Append, CommitOptions::default()),
        StoreOutcome::NotStored
    );
    assert!(matches!(
        commit(b"a", StoreMode::Append, viv),
        StoreOutcome::Stored { .. }
    ));
    let bad = CommitOptions {
        compare_cas: Some(12345),
        ..CommitOptions::default()
    };
    assert_eq!(commit(b"b", StoreMode::Append, bad), StoreOutcome::Exists);
    assert!(matches!(
        commit(b"b", StoreMode::Prepend, viv),
        StoreOutcome::Stored { .. }
    ));
    assert_eq!(s.peek(b"k").expect("item").value(), b"ba");
}

#[test]
fn a_late_stale_store_keeps_the_ttl_and_in_place_arithmetic_keeps_the_mark() {
    let (s, clock) = store();
    let old = set(&s, b"k", b"5", 100);
    let invalidate = MetaDelete {
        invalidate: true,
        ..MetaDelete::default()
    };
    assert!(matches!(
        s.meta_delete(b"k", invalidate),
        MetaDeleteOutcome::Kept { .. }
    ));
    clock.advance(10);
    let mut r = s.reserve(b"k", 1, 0, 0).expect("room");
    r.value_mut().copy_from_slice(b"7");
    let opts = CommitOptions {
        compare_cas: Some(old),
        invalidate: true,
        ..CommitOptions::default()
    };
    assert!(matches!(
        r.commit_with(StoreMode::Set, opts),
        StoreOutcome::Stored { .. }
    ));
    let i = s.peek(b"k").expect("stored");
    assert_eq!((i.value(), i.ttl_remaining()), (&b"7"[..], 90));
    assert!(s.claim_win(&i));
    drop(i);
    let incr = MetaDelta {
        incr: true,
        delta: 1,
        compare_cas: None,
        new_cas: None,
        exptime: None,
        vivify: None,
    };
    assert!(matches!(
        s.meta_delta(b"k", incr),
        MetaDeltaOutcome::Value { value: 8, .. }
    ));
    let i = s.peek(b"k").expect("in place");
    assert!(i.is_stale() && i.win_claimed());
    drop(i);
    // A longer number is a new item: fresh.
    let grow = MetaDelta { delta: 100, ..incr };
    assert!(matches!(
        s.meta_delta(b"k", grow),
        MetaDeltaOutcome::Value { value: 108, .. }
    ));
    let i = s.peek(b"k").expect("new");
    assert!(!i.is_stale() && !i.win_claimed());
}
