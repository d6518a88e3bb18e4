//! Items whose value went to the cold tier: what they keep, and that the tier hears of
//! every one the store drops, and of none it keeps.

use std::sync::{Arc, Mutex};
use store::{
    ColdTier, InvalidateOutcome, ManualClock, MetaDelete, MetaDeleteOutcome, Relocated, Store,
    StoreConfig, StoreMode, StoreOutcome,
};

const T0: u64 = 1_800_000_000;

/// Records every location the store forgets.
#[derive(Default)]
struct Recorder(Mutex<Vec<(u64, Vec<u8>, usize)>>);

impl ColdTier for Recorder {
    fn forget(&self, location: u64, key: &[u8], value_len: usize) {
        self.0
            .lock()
            .unwrap()
            .push((location, key.to_vec(), value_len));
    }
}

impl Recorder {
    fn taken(&self) -> Vec<(u64, Vec<u8>, usize)> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

fn setup(cfg: StoreConfig) -> (Store, Arc<ManualClock>, Arc<Recorder>) {
    let clock = Arc::new(ManualClock::new(T0));
    let s = Store::with_clock(cfg, clock.clone()).unwrap();
    let rec = Arc::new(Recorder::default());
    assert!(s.set_cold_tier(rec.clone()));
    assert!(!s.set_cold_tier(rec.clone()), "once");
    (s, clock, rec)
}

fn set(s: &Store, key: &str, len: usize, flags: u32, exptime: i64) -> u64 {
    let v = vec![b'v'; len];
    match s.store(StoreMode::Set, key.as_bytes(), &v, flags, exptime) {
        Ok(StoreOutcome::Stored { cas }) => cas,
        other => panic!("{other:?}"),
    }
}

fn externalize(s: &Store, key: &str, location: u64) {
    let item = s.peek(key.as_bytes()).unwrap();
    assert!(s.externalize(&item, location).unwrap());
}

#[test]
fn an_external_item_keeps_its_metadata_and_shrinks() {
    let (s, _, rec) = setup(StoreConfig::default());
    let cas = set(&s, "k", 5000, 77, 3600);
    let before = s.stats();
    externalize(&s, "k", 0x1234);
    let after = s.stats();
    assert_eq!(after.curr_items, before.curr_items);
    assert!(
        after.bytes + 4900 < before.bytes,
        "{} -> {}",
        before.bytes,
        after.bytes
    );
    let item = s.get(b"k").unwrap();
    let ext = item.external().unwrap();
    assert_eq!((ext.location, ext.value_len), (0x1234, 5000));
    assert_eq!((item.flags(), item.cas(), item.key()), (77, cas, &b"k"[..]));
    assert_eq!(item.ttl_remaining(), 3600);
    assert!(
        !item.fetched_before(),
        "fresh on disk, as memcached's header items"
    );
    drop(item);
    assert!(rec.taken().is_empty(), "nothing forgotten by moving out");
    // Externalizing twice, or an item that changed, does nothing.
    let item = s.peek(b"k").unwrap();
    assert!(!s.externalize(&item, 0x99).unwrap());
    drop(item);
    set(&s, "k2", 3000, 0, 0);
    let stale = s.peek(b"k2").unwrap();
    set(&s, "k2", 3000, 0, 0);
    assert!(!s.externalize(&stale, 0x55).unwrap(), "the key moved on");
}

#[test]
fn every_way_of_dropping_an_external_item_tells_the_tier() {
    let (s, clock, rec) = setup(StoreConfig::default());
    for (i, key) in ["over", "del", "exp", "unl", "flush"].iter().enumerate() {
        set(&s, key, 2000, 0, if *key == "exp" { 10 } else { 0 });
        externalize(&s, key, 100 + i as u64);
    }
    set(&s, "over", 10, 0, 0);
    assert_eq!(rec.taken(), vec![(100, b"over".to_vec(), 2000)]);
    assert!(s.delete(b"del"));
    assert_eq!(rec.taken(), vec![(101, b"del".to_vec(), 2000)]);
    assert!(!s.unlink_external(b"unl", 999), "another location: kept");
    assert!(s.unlink_external(b"unl", 103));
    assert_eq!(rec.taken(), vec![(103, b"unl".to_vec(), 2000)]);
    assert!(s.get(b"unl").is_none());
    clock.advance(11);
    assert!(s.get(b"exp").is_none());
    assert_eq!(rec.taken(), vec![(102, b"exp".to_vec(), 2000)]);
    s.flush_all(0);
    clock.advance(1);
    s.sweep();
    let forgotten = rec.taken();
    assert!(
        forgotten.contains(&(104, b"flush".to_vec(), 2000)),
        "{forgotten:?}"
    );
}

#[test]
fn touch_and_invalidate_keep_the_value_where_it_is() {
    let (s, _, rec) = setup(StoreConfig::default());
    let cas = set(&s, "k", 2000, 5, 100);
    externalize(&s, "k", 7);
    assert!(s.touch(b"k", 1000));
    assert_eq!(s.peek(b"k").unwrap().ttl_remaining(), 1000);
    match s.invalidate(b"k", Some(cas)) {
        InvalidateOutcome::Invalidated { cas: new } => assert!(new > cas),
        other => panic!("{other:?}"),
    }
    let item = s.peek(b"k").unwrap();
    assert!(item.is_stale());
    assert_eq!(item.external().map(|e| e.location), Some(7));
    assert_eq!(item.flags(), 5);
    drop(item);
    assert!(rec.taken().is_empty());
    // md with the value removed: an empty item in RAM; the disk copy is forgotten.
    let d = MetaDelete {
        remove_value: true,
        ..MetaDelete::default()
    };
    assert!(matches!(
        s.meta_delete(b"k", d),
        MetaDeleteOutcome::Kept { .. }
    ));
    let item = s.peek(b"k").unwrap();
    assert!(item.external().is_none());
    assert_eq!(item.value(), b"");
    drop(item);
    assert_eq!(rec.taken(), vec![(7, b"k".to_vec(), 2000)]);
}

#[test]
fn commands_needing_the_value_send_the_caller_to_the_disk_first() {
    let (s, _, rec) = setup(StoreConfig::default());
    s.store(StoreMode::Set, b"n", &[b'1'; 600], 0, 0).unwrap();
    externalize(&s, "n", 9);
    let ext = store::External {
        location: 9,
        value_len: 600,
    };
    assert_eq!(s.delta(b"n", 1, true), store::DeltaOutcome::OnDisk(ext));
    assert_eq!(
        s.store(StoreMode::Append, b"n", b"xx", 0, 0).unwrap(),
        StoreOutcome::OnDisk(ext)
    );
    let m = store::MetaDelta {
        incr: true,
        delta: 1,
        compare_cas: None,
        new_cas: None,
        exptime: None,
        vivify: None,
    };
    assert_eq!(s.meta_delta(b"n", m), store::MetaDeltaOutcome::OnDisk(ext));
    assert!(s.peek(b"n").unwrap().external().is_some());
    assert!(rec.taken().is_empty());
    // Read back and recached, the same commands work on the value.
    assert!(s.recache(b"n", 9, &[b'1'; 600]).unwrap());
    assert_eq!(
        s.store(StoreMode::Append, b"n", b"xx", 0, 0).unwrap(),
        StoreOutcome::Stored {
            cas: s.peek(b"n").unwrap().cas()
        }
    );
    assert_eq!(rec.taken(), vec![(9, b"n".to_vec(), 600)]);
}

#[test]
fn recache_brings_the_value_back_unless_the_key_moved_on() {
    let (s, _, rec) = setup(StoreConfig::default());
    let cas = set(&s, "k", 3000, 9, 0);
    externalize(&s, "k", 11);
    let value = vec![b'v'; 3000];
    assert!(!s.recache(b"k", 12, &value).unwrap(), "another location");
    assert!(!s.recache(b"k", 11, &value[1..]).unwrap(), "another length");
    assert!(s.recache(b"k", 11, &value).unwrap());
    let item = s.get(b"k").unwrap();
    assert!(item.external().is_none());
    assert_eq!(
        (item.value(), item.flags(), item.cas()),
        (&value[..], 9, cas)
    );
    drop(item);
    assert_eq!(rec.taken(), vec![(11, b"k".to_vec(), 3000)]);
    assert!(!s.recache(b"k", 11, &value).unwrap(), "already back");
}

#[test]
fn a_recached_value_joins_the_newest_items_not_a_hole() {
    let cfg = StoreConfig {
        memory_limit: 16 << 20,
        ..StoreConfig::default()
    };
    let (s, _, _) = setup(cfg);
    // Sealed segments of 20 KB values; half of them go to the tier, leaving holes a
    // 20 KB value would fit.
    for i in 0..200 {
        set(&s, &format!("k{i}"), 20_000, 0, 0);
    }
    for i in (0..200).step_by(2) {
        externalize(&s, &format!("k{i}"), 1000 + i as u64);
    }
    // Read back because it is hot, k0 goes where new items go (the open segment), not
    // into a hole of an old sealed segment, where the tier's writer (which walks sealed
    // segments) and eviction would take it first.
    assert!(s.recache(b"k0", 1000, &[b'v'; 20_000]).unwrap());
    let mut offered = false;
    s.cold_items(usize::MAX, false, |item| {
        offered |= item.key() == b"k0";
        true
    });
    assert!(!offered, "the recached value sits in a sealed segment");
    // A set of the same size still fills a hole.
    set(&s, "fresh", 20_000, 0, 0);
    let mut fresh = false;
    s.cold_items(usize::MAX, false, |item| {
        fresh |= item.key() == b"fresh";
        true
    });
    assert!(fresh, "a new value takes a hole");
}

#[test]
fn relocation_moves_live_items_and_drops_unread_ones() {
    let (s, _, rec) = setup(StoreConfig::default());
    set(&s, "read", 1000, 0, 0);
    set(&s, "unread", 1000, 0, 0);
    externalize(&s, "read", 20);
    externalize(&s, "unread", 21);
    s.get(b"read").unwrap();
    assert_eq!(s.relocate(b"read", 99, false, || Some(30)), Relocated::Dead);
    assert_eq!(s.relocate(b"read", 20, true, || Some(30)), Relocated::Moved);
    assert_eq!(s.get(b"read").unwrap().external().unwrap().location, 30);
    assert_eq!(
        s.relocate(b"unread", 21, true, || Some(31)),
        Relocated::Dropped
    );
    assert!(s.get(b"unread").is_none());
    assert_eq!(rec.taken(), vec![(21, b"unread".to_vec(), 1000)]);
    set(&s, "full", 1000, 0, 0);
    externalize(&s, "full", 40);
    assert_eq!(s.relocate(b"full", 40, false, || None), Relocated::Lost);
    assert_eq!(rec.taken(), vec![(40, b"full".to_vec(), 1000)]);
    assert_eq!(s.relocate(b"gone", 40, false, || Some(1)), Relocated::Dead);
}

#[test]
fn cold_items_offers_the_oldest_segments_once_and_eviction_forgets_or_keeps() {
    let cfg = StoreConfig {
        memory_limit: 16 << 20,
        ..StoreConfig::default()
    };
    let (s, _, rec) = setup(cfg);
    // Four segments' worth of 20 KiB values (1 MiB segments).
    for i in 0..200 {
        set(&s, &format!("k{i}"), 20_000, 0, 0);
    }
    // The two oldest segments: everything offered goes to "disk".
    let mut offered = Vec::new();
    let mut loc = 1000;
    let n = s.cold_items(2, true, |item| {
        offered.push(item.key().to_vec());
        loc += 1;
        assert!(s.externalize(item, loc).unwrap());
        true
    });
    assert!(n >= 80, "two full segments: {n}");
    assert_eq!(offered[0], b"k0", "oldest first");
    assert_eq!(
        s.cold_items(2, false, |_| true),
        0,
        "external items are not offered"
    );
    assert!(
        s.cold_items(3, false, |_| true) > 0,
        "an unmarking walk sees the third"
    );
    let externalized = loc - 1000;
    // A marking walk skips the segments walked before (they do not count): it starts at
    // the third oldest. Stopping midway leaves it to be offered again.
    let mut first = None;
    assert_eq!(
        s.cold_items(1, true, |item| {
            first = Some(item.key().to_vec());
            false
        }),
        1
    );
    let mut again = None;
    s.cold_items(1, true, |item| {
        again = Some(item.key().to_vec());
        false
    });
    assert_eq!(first, again);
    assert!(first.is_some_and(|k| k != b"k0"), "not the first segment's");
    // Walked to their ends, no segment is offered twice.
    assert!(s.cold_items(100, true, |_| true) > 0);
    assert_eq!(
        s.cold_items(100, true, |_| true),
        0,
        "walked segments are not offered again"
    );
    // Fill far past the heap. Every item forgotten must be gone; every one kept keeps its
    // location.
    for i in 0..2000 {
        set(&s, &format!("f{i}"), 20_000, 0, 0);
    }
    let forgotten = rec.taken();
    for (location, key, len) in &forgotten {
        assert_eq!(*len, 20_000);
        assert!(*location > 1000);
        assert!(s.peek(key).is_none());
    }
    let mut kept = 0;
    for i in 0..200 {
        if let Some(item) = s.peek(format!("k{i}").as_bytes()) {
            if let Some(ext) = item.external() {
                assert!(ext.location > 1000);
                kept += 1;
            }
        }
    }
    assert_eq!(kept + forgotten.len() as u64, externalized);
    // Values cycled through RAM two and a half times; the external items, in segments of
    // their own, were compacted, never evicted.
    assert!(forgotten.is_empty(), "{} forgotten", forgotten.len());
    assert_eq!(kept, externalized);
}

#[test]
fn cold_items_walks_segments_with_holes_and_skips_pinned_ones() {
    let cfg = StoreConfig {
        memory_limit: 16 << 20,
        ..StoreConfig::default()
    };
    let (s, _, _) = setup(cfg);
    // Four segments of 20 KiB values, then half of them overwritten by 9 KiB values: the
    // old ones leave holes in sealed segments, the new ones take them and leave fillers.
    for i in 0..200 {
        set(&s, &format!("k{i}"), 20_000, 0, 0);
    }
    for i in (0..200).step_by(2) {
        set(&s, &format!("k{i}"), 9_000, 0, 0);
    }
    // A walk steps over holes and fillers item by item and offers only live items.
    let mut seen = std::collections::HashSet::new();
    s.cold_items(100, false, |item| {
        let key = String::from_utf8(item.key().to_vec()).unwrap();
        let i: usize = key[1..].parse().unwrap();
        let want = if i.is_multiple_of(2) { 9_000 } else { 20_000 };
        assert_eq!(item.value().len(), want, "{key}");
        assert!(seen.insert(key), "offered once");
        true
    });
    assert!(
        seen.len() >= 150,
        "the sealed segments' live items: {}",
        seen.len()
    );
    // A segment someone holds a pin in is not walked (a hole's writer holds one while its
    // header is half written); once let go, it is.
    let pinned = s.get(b"k1").unwrap();
    let mut first = None;
    s.cold_items(1, false, |item| {
        first = Some(item.key().to_vec());
        false
    });
    assert_eq!(first, None, "the oldest segment is pinned");
    drop(pinned);
    let mut first = None;
    s.cold_items(1, false, |item| {
        first = Some(item.key().to_vec());
        false
    });
    assert!(first.is_some(), "unpinned, the oldest segment is walked");
}
