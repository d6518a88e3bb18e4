//! Unit tests of the store's internals: the coarse last-access time against flush_all,
//! the segment age limit, CAS field widths, and copies made by compaction.

use super::*;
use crate::clock::ManualClock;

const T0: u64 = 1_800_000_000;

fn store_with(cfg: StoreConfig) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let s = Store::with_clock(cfg, clock.clone()).expect("store");
    (s, clock)
}

fn cas_on(on: bool) -> StoreConfig {
    StoreConfig {
        cas_enabled: on,
        ..StoreConfig::default()
    }
}

fn set(s: &Store, k: &str, v: &[u8]) -> u64 {
    match s.store(StoreMode::Set, k.as_bytes(), v, 0, 0).expect("set") {
        StoreOutcome::Stored { cas } => cas,
        other => panic!("set {k}: {other:?}"),
    }
}

fn visible(s: &Store, k: &str) -> bool {
    s.peek(k.as_bytes()).is_some()
}

/// The slot's last-access field of `k` and the unix time it stands for.
fn slot_access(s: &Store, k: &str) -> (u16, u64) {
    let h = index::hash(s.seed, k.as_bytes());
    let t = s.shards[index::shard_of(h)].table.read();
    let (pos, off) = t
        .find(h, |o| s.key_matches(o, k.as_bytes()))
        .expect("linked");
    let a = t.access(pos);
    (a, s.access_time(off, a))
}

fn segment_of(s: &Store, k: &str) -> usize {
    let item = s.peek(k.as_bytes()).expect("present");
    item.heap_off / s.seg_size
}

#[test]
fn a_fetch_long_after_the_segment_opened_is_coarse_and_rounded_down() {
    let (s, clock) = store_with(cas_on(true));
    set(&s, "k", b"v");
    clock.set(T0 + 40_000);
    assert!(s.get(b"k").is_some());
    let (a, at) = slot_access(&s, "k");
    assert!(a >= 0x8000, "coarse range");
    assert!(
        at <= T0 + 40_000 && T0 + 40_000 - at < 128,
        "{}",
        T0 + 40_000 - at
    );
    // meta `l` still reads about the right age.
    clock.set(T0 + 40_010);
    let item = s.peek(b"k").unwrap();
    assert!((10..10 + 128).contains(&item.last_access_ago()));
}

/// A delayed flush, with fetches in the coarse range before and after it: the items the
/// exact rule hides are hidden, and those it keeps are kept, with and without CAS.
#[test]
fn coarse_access_times_hide_what_a_delayed_flush_hides() {
    for cas in [true, false] {
        let (s, clock) = store_with(cas_on(cas));
        // Bucket 0's segment opens at T0; all four are written exactly.
        for k in ["a", "b", "c", "d"] {
            set(&s, k, b"v");
        }
        // 11 hours later: coarse fetches of a and b (rounded down by up to 127 s).
        clock.set(T0 + 40_000);
        assert!(s.get(b"a").is_some());
        s.flush_all(100); // oldest_live = T0 + 40_099 (CAS) or T0 + 40_100 (-C)
        clock.set(T0 + 40_050);
        assert!(
            s.get(b"b").is_some(),
            "cas={cas}: not flushed before the moment"
        );
        set(&s, "e", b"v"); // before the moment: hidden when it comes
        clock.set(T0 + 40_101);
        set(&s, "f", b"v"); // after the moment: kept
        clock.set(T0 + 40_150);
        for k in ["a", "b", "c", "d", "e"] {
            assert!(
                !visible(&s, k),
                "cas={cas}: {k} accessed before the flush moment"
            );
        }
        assert!(visible(&s, "f"), "cas={cas}");
        // f stays visible through later coarse fetches of its own segment.
        clock.set(T0 + 40_101 + 50_000);
        assert!(s.get(b"f").is_some(), "cas={cas}");
        clock.advance(1_000);
        assert!(s.get(b"f").is_some(), "cas={cas}");
    }
}

/// The case that would go wrong if writes could be coarse: a segment opened long ago and
/// kept alive by a pin past a flush, then written to. The store seals such a segment and
/// opens a new one, so the write time is exact and later than the flush.
#[test]
fn a_write_after_a_flush_is_never_hidden_by_it() {
    for cas in [true, false] {
        let (s, clock) = store_with(cas_on(cas));
        set(&s, "old", b"v");
        let old_seg = segment_of(&s, "old");
        let pin = s.get(b"old").unwrap();
        clock.set(T0 + 40_000);
        s.flush_all(0);
        clock.set(T0 + 40_001);
        set(&s, "new", b"v");
        assert_ne!(segment_of(&s, "new"), old_seg, "cas={cas}: sealed for age");
        assert_eq!(slot_access(&s, "new").1, T0 + 40_001, "cas={cas}: exact");
        assert!(!visible(&s, "old"), "cas={cas}");
        assert!(visible(&s, "new"), "cas={cas}");
        clock.advance(200);
        assert!(s.get(b"new").is_some(), "cas={cas}");
        assert_eq!(pin.value(), b"v", "the pin kept the old bytes");
        drop(pin);
    }
}

/// With -C an immediate flush hides everything stored up to the end of its second, and a
/// write in the next second survives, however old the segment written to would be.
#[test]
fn without_cas_a_flush_hides_its_whole_second() {
    let (s, clock) = store_with(cas_on(false));
    set(&s, "a", b"v");
    clock.set(T0 + 50_000);
    s.flush_all(0);
    set(&s, "same_second", b"v");
    assert!(!visible(&s, "a"));
    assert!(!visible(&s, "same_second"));
    clock.advance(1);
    set(&s, "next_second", b"v");
    assert!(visible(&s, "next_second"));
}

fn opened_of(s: &Store, k: &str) -> u64 {
    s.segs[segment_of(s, k)].opened.load(Ordering::Relaxed)
}

#[test]
fn a_young_segment_takes_writes_and_an_old_one_is_sealed() {
    let (s, clock) = store_with(cas_on(true));
    set(&s, "a", b"v");
    clock.set(T0 + layout::ACCESS_EXACT - 1);
    set(&s, "b", b"v");
    assert_eq!(segment_of(&s, "a"), segment_of(&s, "b"));
    assert_eq!(opened_of(&s, "b"), T0);
    clock.set(T0 + layout::ACCESS_EXACT);
    set(&s, "c", b"v");
    // Written into a segment opened now. (The sealed one, almost empty, is compacted at
    // once into that very segment rather than faulting in a fresh one: a and b moved too,
    // their last access clamped to the copy.)
    assert_eq!(opened_of(&s, "c"), T0 + layout::ACCESS_EXACT);
    assert_eq!(slot_access(&s, "c"), (0, T0 + layout::ACCESS_EXACT));
    for k in ["a", "b"] {
        let (_, at) = slot_access(&s, k);
        assert!(at >= T0 + layout::ACCESS_EXACT - 1, "{k}");
        assert!(visible(&s, k));
    }
}

fn bytes_of(s: &Store) -> u64 {
    s.stats().bytes
}

#[test]
fn an_explicit_wide_cas_sizes_the_reservation() {
    let (s, _) = store_with(cas_on(true));
    let wide = layout::NARROW_CAS_END + 5;
    let mut r = s.reserve_with(b"k", 3, 0, 0, Some(wide)).unwrap();
    assert_eq!(r.key(), b"k");
    r.value_mut().copy_from_slice(b"abc");
    let opts = CommitOptions {
        new_cas: Some(wide),
        ..CommitOptions::default()
    };
    assert_eq!(
        r.commit_with(StoreMode::Set, opts),
        StoreOutcome::Stored { cas: wide }
    );
    assert_eq!(bytes_of(&s), layout::item_size(true, true, 1, 3, 0) as u64);
    let item = s.get(b"k").unwrap();
    assert_eq!((item.cas(), item.value()), (wide, &b"abc"[..]));
}

#[test]
fn a_cas_that_does_not_fit_moves_the_item_at_commit() {
    let (s, _) = store_with(cas_on(true));
    let wide = u64::MAX - 1;
    // Reserved without knowing the CAS: narrow.
    let mut r = s.reserve(b"k", 3, 9, 0).unwrap();
    assert!(!r.it.is_wide());
    r.value_mut().copy_from_slice(b"abc");
    let opts = CommitOptions {
        new_cas: Some(wide),
        ..CommitOptions::default()
    };
    assert_eq!(
        r.commit_with(StoreMode::Set, opts),
        StoreOutcome::Stored { cas: wide }
    );
    let item = s.get(b"k").unwrap();
    assert_eq!(
        (item.cas(), item.value(), item.flags()),
        (wide, &b"abc"[..], 9)
    );
    assert!(item.it.is_wide());
    drop(item);
    let st = s.stats();
    assert_eq!((st.pinned_items, st.open_reservations), (0, 0));
    assert_eq!(st.bytes, layout::item_size(true, true, 1, 3, 9) as u64);
    assert_eq!(st.total_items, 1);
    // Every pin was released, the abandoned narrow item's included.
    assert!(s.segs.iter().all(|g| g.unpinned()));
}

#[test]
fn the_cas_counter_crossing_2_48_widens_items() {
    let (s, _) = store_with(cas_on(true));
    // Just below the margin: reservations are narrow...
    s.next_cas.store(
        layout::NARROW_CAS_END - WIDE_CAS_MARGIN - 1,
        Ordering::Relaxed,
    );
    let mut r = s.reserve(b"k", 1, 0, 0).unwrap();
    assert!(!r.it.is_wide());
    r.value_mut().copy_from_slice(b"1");
    // ...but the counter gets past 2^48 before this one commits.
    s.next_cas.store(layout::NARROW_CAS_END, Ordering::Relaxed);
    assert_eq!(
        r.commit(StoreMode::Set),
        StoreOutcome::Stored {
            cas: layout::NARROW_CAS_END
        }
    );
    assert_eq!(s.peek(b"k").unwrap().cas(), layout::NARROW_CAS_END);
    // From now on reservations are wide up front, and incr sizes its items for its CAS.
    assert!(s.reserve(b"x", 1, 0, 0).unwrap().it.is_wide());
    s.next_cas
        .store(layout::NARROW_CAS_END - 1, Ordering::Relaxed);
    for want in [layout::NARROW_CAS_END - 1, layout::NARROW_CAS_END] {
        match s.delta(b"k", 1, true) {
            DeltaOutcome::Value { cas, .. } => assert_eq!(cas, want),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.peek(b"k").unwrap().cas(), want);
    }
    assert_eq!(s.peek(b"k").unwrap().value(), b"3");
}

#[test]
fn cas_widths_do_not_matter_without_cas() {
    let (s, _) = store_with(cas_on(false));
    let mut r = s.reserve_with(b"k", 1, 0, 0, Some(u64::MAX)).unwrap();
    r.value_mut().copy_from_slice(b"v");
    let opts = CommitOptions {
        new_cas: Some(u64::MAX),
        ..CommitOptions::default()
    };
    assert_eq!(
        r.commit_with(StoreMode::Set, opts),
        StoreOutcome::Stored { cas: u64::MAX }
    );
    assert_eq!(s.peek(b"k").unwrap().cas(), 0);
    assert_eq!(
        bytes_of(&s),
        layout::item_size(false, false, 1, 1, 0) as u64
    );
}

/// Compaction copies items byte for byte (narrow and wide CAS, flags, deadline) and clamps
/// their last access to the new segment's opening.
#[test]
fn compaction_keeps_cas_and_clamps_access() {
    let (s, clock) = store_with(StoreConfig {
        memory_limit: 2 << 20,
        segment_size: 64 << 10,
        item_size_max: 64 << 10,
        ..StoreConfig::default()
    });
    let v = vec![b'x'; 1000];
    // Keepers: one in each early segment, some with a wide CAS, some with flags.
    let mut keep = Vec::new();
    for i in 0..20u64 {
        let k = format!("keep{i}");
        let wide = layout::NARROW_CAS_END + i;
        let cas = if i % 2 == 0 {
            let mut r = s
                .reserve_with(k.as_bytes(), v.len(), i as u32, 3600, Some(wide))
                .unwrap();
            r.value_mut().copy_from_slice(&v);
            let opts = CommitOptions {
                new_cas: Some(wide),
                ..CommitOptions::default()
            };
            match r.commit_with(StoreMode::Set, opts) {
                StoreOutcome::Stored { cas } => cas,
                other => panic!("{other:?}"),
            }
        } else {
            match s
                .store(StoreMode::Set, k.as_bytes(), &v, i as u32, 3600)
                .unwrap()
            {
                StoreOutcome::Stored { cas } => cas,
                other => panic!("{other:?}"),
            }
        };
        keep.push((k, cas, i as u32));
        // Filler overwritten below, so the keepers' segments become mostly garbage.
        for j in 0..5 {
            s.store(StoreMode::Set, format!("fill{j}").as_bytes(), &v, 0, 3600)
                .unwrap();
        }
    }
    clock.set(T0 + 1000);
    let before = s.stats().used_segments;
    // Overwrite the fillers until the heap must make room.
    for round in 0..200 {
        for j in 0..5 {
            s.store(
                StoreMode::Set,
                format!("fill{j}").as_bytes(),
                &v,
                round,
                3600,
            )
            .unwrap();
        }
    }
    let st = s.stats();
    assert_eq!(st.evictions, 0, "compaction, not eviction");
    assert!(st.total_segments <= before + 40);
    let mut moved = 0;
    for (k, cas, flags) in &keep {
        let item = s.peek(k.as_bytes()).expect("kept");
        assert_eq!(
            (item.cas(), item.flags(), item.value()),
            (*cas, *flags, &v[..])
        );
        assert_eq!(item.ttl_remaining(), 3600 - 1000);
        if item.last_access_ago() == 0 {
            // Copied at T0 + 1000 into a segment opened then: the access was clamped.
            moved += 1;
        } else {
            assert_eq!(item.last_access_ago(), 1000);
        }
    }
    assert!(moved > 0, "compaction moved some keepers");
}

#[test]
fn a_heap_beyond_the_index_reach_is_refused() {
    let err = Store::new(StoreConfig {
        memory_limit: index::HEAP_MAX + (1 << 30),
        ..StoreConfig::default()
    })
    .err()
    .expect("refused");
    match err {
        StoreError::Config(msg) => assert!(msg.contains("256 GiB"), "{msg}"),
        other => panic!("{other:?}"),
    }
}
