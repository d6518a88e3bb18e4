//! What eviction keeps: an item read since it was linked where it is (its index slot's
//! active bit), copied forward once per read, however fast the heap turns over. Every test
//! runs inside one second of a manual clock: a signal counted in whole seconds (the one
//! this replaced) sees no read at all there.

use std::sync::Arc;
use store::{Clock, ManualClock, Store, StoreConfig, StoreMode, StoreOutcome};

const T0: u64 = 1_800_000_000;
const HEAP: usize = 16 << 20;
const COLD_VALUE: usize = 2000;

fn store() -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = StoreConfig {
        memory_limit: HEAP,
        ..StoreConfig::default()
    };
    (Store::with_clock(cfg, clock.clone()).unwrap(), clock)
}

fn set(s: &Store, k: &str, v: &[u8]) {
    let out = s.store(StoreMode::Set, k.as_bytes(), v, 0, 0);
    assert!(
        matches!(out, Ok(StoreOutcome::Stored { .. })),
        "{k}: {out:?}"
    );
}

/// Writes `bytes` of never-read items under fresh keys (`prefix` and a number).
fn churn(s: &Store, prefix: &str, bytes: usize) {
    let v = vec![b'c'; COLD_VALUE];
    for i in 0..bytes / COLD_VALUE {
        set(s, &format!("{prefix}{i}"), &v);
    }
}

/// Present, without counting as a read (`peek` marks nothing).
fn present(s: &Store, k: &str) -> bool {
    s.peek(k.as_bytes()).is_some()
}

fn read(s: &Store, k: &str) {
    assert!(s.get(k.as_bytes()).is_some(), "{k} is there to read");
}

#[test]
fn a_hot_set_survives_many_turnovers_within_one_second() {
    let (s, clock) = store();
    let hot: Vec<String> = (0..200).map(|i| format!("hot{i}")).collect();
    for k in &hot {
        set(&s, k, k.as_bytes());
    }
    // 40 rounds of 2 MiB: the 16 MiB heap turns over 5 times, and the clock never moves.
    for round in 0..40 {
        for k in &hot {
            let item = s
                .get(k.as_bytes())
                .unwrap_or_else(|| panic!("{k} lost in round {round}"));
            assert_eq!(item.value(), k.as_bytes());
        }
        churn(&s, &format!("cold{round}-"), 2 << 20);
    }
    assert_eq!(clock.now(), T0, "one second throughout");
    let st = s.stats();
    assert!(st.evictions > 30_000, "{st:?}");
    assert!(!present(&s, "cold0-0"), "cold items are evicted");
    assert!(!present(&s, "cold30-0"), "cold items are evicted");
    assert_eq!(st.evicted_active, 0, "no read item was evicted");
    assert!(
        st.moves_to_warm >= 200,
        "the hot set was copied forward: {st:?}"
    );
}

#[test]
fn a_once_read_item_is_kept_one_round_and_then_needs_a_new_read() {
    let (s, _clock) = store();
    for k in ["once", "twice", "never", "rewritten", "rewritten twice"] {
        set(&s, k, k.as_bytes());
    }
    read(&s, "once");
    read(&s, "twice");
    read(&s, "rewritten");
    read(&s, "rewritten twice");
    // A store over a read item keeps its standing (the key is in use)...
    set(&s, "rewritten", b"new");
    // ...but only an item that was read passes it on: a second store without a read
    // in between starts inactive.
    set(&s, "rewritten twice", b"new");
    set(&s, "rewritten twice", b"newer");
    // Round 1: more than the heap, so the segment holding all four is evicted.
    churn(&s, "a", HEAP + (2 << 20));
    assert!(present(&s, "once"), "read since written: copied forward");
    assert!(present(&s, "twice"));
    assert!(!present(&s, "never"), "never read: evicted");
    assert!(
        present(&s, "rewritten"),
        "stored over a read item: kept once"
    );
    assert!(
        !present(&s, "rewritten twice"),
        "stored over an item nobody read: evicted"
    );
    // The copies start inactive: only the one read again survives round 2.
    read(&s, "twice");
    churn(&s, "b", HEAP + (2 << 20));
    assert!(
        !present(&s, "once"),
        "a single read is a second chance, not a lease"
    );
    assert!(
        !present(&s, "rewritten"),
        "not read since the store: evicted"
    );
    assert!(present(&s, "twice"), "read again after the copy");
    // Round 3 with no read: gone too.
    churn(&s, "c", HEAP + (2 << 20));
    assert!(!present(&s, "twice"));
    assert_eq!(s.stats().evicted_active, 0);
}

#[test]
fn a_touch_counts_as_a_read_and_a_peek_does_not() {
    let (s, _clock) = store();
    for k in ["touched", "peeked"] {
        set(&s, k, k.as_bytes());
    }
    assert!(s.touch(b"touched", 0));
    assert!(present(&s, "peeked"));
    churn(&s, "a", HEAP + (2 << 20));
    assert!(present(&s, "touched"));
    assert!(!present(&s, "peeked"));
}

#[test]
fn active_items_beyond_what_one_eviction_may_copy_count_as_evicted_active() {
    let (s, _clock) = store();
    // A whole segment of items, all read: one eviction copies at most 7/8 of a segment.
    let v = vec![b'h'; 1000];
    let hot: Vec<String> = (0..1000).map(|i| format!("h{i}")).collect();
    for k in &hot {
        set(&s, k, &v);
    }
    for k in &hot {
        read(&s, k);
    }
    churn(&s, "a", HEAP + (2 << 20));
    let st = s.stats();
    let kept = hot.iter().filter(|k| present(&s, k)).count();
    assert!((850..=950).contains(&kept), "7/8 of a segment kept: {kept}");
    assert_eq!(st.moves_to_warm as usize, kept, "every copy counted");
    assert!(st.evicted_active > 0, "{st:?}");
    assert_eq!(
        st.evicted_active as usize,
        hot.len() - kept,
        "every hot item lost was active"
    );
}
