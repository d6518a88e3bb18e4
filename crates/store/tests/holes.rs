//! Large items reuse the room that dead large items left in their segments (holes): an
//! overwrite load keeps the heap near the live data without moving anything, readers never
//! see a reused hole, a hole never keeps its segment alive past its TTL bucket, and
//! segments full of reused holes and fillers still walk correctly (flush, sweep, eviction).

use std::collections::HashMap;
use std::sync::Arc;
use store::{ManualClock, Store, StoreConfig, StoreMode, StoreOutcome};

const T0: u64 = 1_800_000_000;
const KIB64: usize = 64 << 10;

fn store_with(mib: usize) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = StoreConfig {
        memory_limit: mib << 20,
        ..StoreConfig::default()
    };
    (Store::with_clock(cfg, clock.clone()).unwrap(), clock)
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A value of `len` bytes that says which key and which write it is, everywhere.
fn value(key: u64, version: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    v[..8].copy_from_slice(&version.to_le_bytes());
    for (i, b) in v.iter_mut().enumerate().skip(8) {
        *b = (key as u8).wrapping_mul(31) ^ (version as u8) ^ (i as u8);
    }
    v
}

fn set(s: &Store, key: &str, v: &[u8], exptime: i64) {
    let out = s.store(StoreMode::Set, key.as_bytes(), v, 0, exptime);
    assert!(
        matches!(out, Ok(StoreOutcome::Stored { .. })),
        "{key}: {out:?}"
    );
}

#[test]
fn overwrites_of_large_values_reuse_their_room() {
    // 200 keys of 64 KiB (about 13 segments of live data) overwritten 20 times over in a
    // 64 MiB heap: each new value takes the room an old one left, so the heap touches
    // hardly more segments than the live data needs, and nothing is moved or evicted.
    let (s, _c) = store_with(64);
    let keys = 200u64;
    let mut version = vec![0u64; keys as usize];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for round in 0..20 * keys {
        let k = if round < keys { round } else { rng.below(keys) };
        version[k as usize] = round;
        set(&s, &format!("k{k}"), &value(k, round, KIB64), 0);
    }
    let st = s.stats();
    assert_eq!(st.evictions, 0, "{st:?}");
    assert_eq!(st.curr_items, keys);
    // 15 of these items fit a 1 MiB segment: 14 segments hold them.
    assert!(st.resident_segments <= 17, "{st:?}");
    for k in 0..keys {
        let item = s
            .get(format!("k{k}").as_bytes())
            .expect("every key survives");
        assert_eq!(
            item.value(),
            &value(k, version[k as usize], KIB64)[..],
            "key {k}"
        );
    }
}

#[test]
fn a_reader_keeps_the_bytes_of_an_overwritten_value() {
    let (s, _c) = store_with(64);
    for k in 0..40u64 {
        set(&s, &format!("k{k}"), &value(k, 0, KIB64), 0);
    }
    let held = s.get(b"k3").unwrap();
    // Its hole is recorded, but its segment is pinned: nobody may write there.
    set(&s, "k3", &value(3, 1, KIB64), 0);
    for round in 2..200u64 {
        let k = round % 40;
        set(&s, &format!("k{k}"), &value(k, round, KIB64), 0);
    }
    assert_eq!(held.value(), &value(3, 0, KIB64)[..]);
    drop(held);
    assert_eq!(s.pinned_items(), 0);
    assert!(s.stats().resident_segments <= 6, "{:?}", s.stats());
}

#[test]
fn mixed_sizes_and_keys_reuse_holes_and_still_walk() {
    // Values from 4 to 100 KiB under keys of 2 to 40 bytes: holes are split (the rest of a
    // hole gets a filler and stays a hole if large), so segments mix items and fillers.
    // Everything must read back, and flush + sweep, which walk every segment item by
    // item, must find every item (a misread filler would leave items linked).
    let (s, c) = store_with(256);
    let keys = 300u64;
    let mut live: HashMap<u64, (u64, usize)> = HashMap::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let key = |k: u64| format!("{}{k}", "x".repeat(1 + (k % 37) as usize));
    for round in 0..30 * keys {
        let k = rng.below(keys);
        match rng.below(10) {
            0 => {
                s.delete(key(k).as_bytes());
                live.remove(&k);
            }
            1 => {
                // A client that went away mid-value: its room is a hole at once.
                let mut r = s.reserve(key(k).as_bytes(), 70_000, 0, 0).unwrap();
                r.value_mut().fill(0xee);
                drop(r);
            }
            _ => {
                let len = 4096 + rng.below(96 << 10) as usize;
                set(&s, &key(k), &value(k, round, len), 0);
                live.insert(k, (round, len));
            }
        }
        if round % 1000 == 999 {
            c.advance(1);
        }
    }
    let st = s.stats();
    assert_eq!(st.evictions, 0, "{st:?}");
    assert_eq!(st.curr_items, live.len() as u64);
    let live_bytes: usize = live.values().map(|&(_, len)| len).sum();
    // Appending alone would have touched over 600 segments.
    let resident = st.resident_segments as usize;
    assert!(
        resident << 20 < live_bytes * 2,
        "{resident} segments for {live_bytes} B live"
    );
    for k in 0..keys {
        let item = s.get(key(k).as_bytes());
        match live.get(&k) {
            Some(&(round, len)) => {
                let item = item.unwrap_or_else(|| panic!("key {k} lost"));
                assert_eq!(item.value(), &value(k, round, len)[..], "key {k}");
            }
            None => assert!(item.is_none(), "key {k} was deleted"),
        }
    }
    s.flush_all(0);
    c.advance(1);
    s.sweep();
    let st = s.stats();
    assert_eq!(st.curr_items, 0, "{st:?}");
    assert_eq!(st.bytes, 0, "{st:?}");
    // And again, over the reclaimed segments and the stale holes they had.
    for k in 0..keys {
        set(&s, &key(k), &value(k, 1, 20_000), 0);
    }
    for k in 0..keys {
        assert_eq!(
            s.get(key(k).as_bytes()).unwrap().value(),
            &value(k, 1, 20_000)[..]
        );
    }
}

#[test]
fn a_hole_never_outlives_its_segments_ttl() {
    // 16 items of 64 KiB with a 100 s TTL: the first 15 fill a segment. One is deleted and
    // written again 5 s later, with the same TTL: it dies 5 s after the segment's newest
    // item, so it must not go into the hole, or the segment could not be reclaimed when
    // the others expire.
    let (s, c) = store_with(64);
    for k in 0..16u64 {
        set(&s, &format!("t{k}"), &value(k, 0, KIB64), 100);
    }
    assert!(s.delete(b"t0"));
    c.advance(5);
    set(&s, "t0", &value(0, 1, KIB64), 100);
    c.advance(97);
    assert!(s.sweep() >= 1);
    let st = s.stats();
    assert!(st.reclaimed >= 14, "{st:?}");
    assert_eq!(s.get(b"t0").unwrap().value(), &value(0, 1, KIB64)[..]);
}

#[test]
fn dropped_reservations_leave_their_room_to_the_next() {
    // 100 uploads of 64 KiB abandoned midway: once the first segment is sealed, its holes
    // take the rest, where appending would have used seven segments.
    let (s, _c) = store_with(64);
    for i in 0..100 {
        let mut r = s.reserve(format!("u{i}").as_bytes(), KIB64, 0, 0).unwrap();
        r.value_mut()[..100].fill(1);
    }
    let st = s.stats();
    assert!(st.used_segments <= 3, "{st:?}");
    assert_eq!(s.open_reservations(), 0);
}

#[test]
fn eviction_and_compaction_walk_segments_with_holes() {
    // A heap too small for the data: eviction and compaction take segments whose holes
    // were reused and split. Whatever survives must be a version that was written.
    let (s, c) = store_with(8);
    let keys = 400u64;
    let mut written: HashMap<u64, Vec<(u64, usize)>> = HashMap::new();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for round in 0..20 * keys {
        let k = rng.below(keys);
        let len = 4096 + rng.below(60 << 10) as usize;
        set(&s, &format!("e{k}"), &value(k, round, len), 0);
        written.entry(k).or_default().push((round, len));
        if let Some(item) = s.get(format!("e{}", rng.below(keys)).as_bytes()) {
            drop(item);
        }
        if round % 500 == 0 {
            c.advance(1);
        }
    }
    let st = s.stats();
    assert!(st.evictions > 0, "the test must evict: {st:?}");
    for k in 0..keys {
        if let Some(item) = s.get(format!("e{k}").as_bytes()) {
            let &(round, len) = written[&k].last().unwrap();
            assert_eq!(item.value(), &value(k, round, len)[..], "key {k}");
        }
    }
    assert_eq!(s.pinned_items(), 0);
}
