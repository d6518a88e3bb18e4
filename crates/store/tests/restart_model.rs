//! Warm restart under long random runs: a store stopped and restarted every few thousand
//! operations answers exactly as a model and as a twin store that never restarts, and a
//! restored full heap evicts and stays consistent.

mod restart_support;

use restart_support::*;
use std::collections::HashMap;
use std::sync::Arc;
use store::{Clock, ManualClock, Store, StoreConfig, StoreMode, StoreOutcome};

/// A deterministic xorshift stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Random operations against a model and against a twin store that never restarts, with
/// a clean stop and a restart every few thousand: the restarted store answers exactly as
/// the model and the twin, before and after each restart, and its gauges match the twin's.
#[test]
fn a_restored_store_goes_on_exactly_like_the_one_that_stopped() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = Dir::new();
    // No eviction, so the model knows every item.
    let config = StoreConfig {
        evict: false,
        ..cfg(64)
    };
    let (mut s, _) = open(&dir.file(), config.clone(), &clock);
    let twin = Store::with_clock(config.clone(), clock.clone()).unwrap();
    let mut model: HashMap<String, (Vec<u8>, u64)> = HashMap::new(); // value, deadline
    let mut rng = Rng(0x5eed);
    for round in 0..6 {
        for _ in 0..4000 {
            let k = format!("k{}", rng.next() % 2000);
            let now = clock.now();
            match rng.next() % 10 {
                0..=4 => {
                    let len = (rng.next() % 300) as usize;
                    let ttl = [0i64, 0, 30, 600][(rng.next() % 4) as usize];
                    let v = vec![b'0' + (rng.next() % 10) as u8; len];
                    let cas = set(&s, &k, &v, 0, ttl);
                    assert_eq!(cas, set(&twin, &k, &v, 0, ttl), "CAS of {k}");
                    let deadline = if ttl == 0 { u64::MAX } else { now + ttl as u64 };
                    model.insert(k, (v, deadline));
                }
                5 => {
                    assert_eq!(s.delete(k.as_bytes()), twin.delete(k.as_bytes()));
                    model.remove(&k);
                }
                6 => {
                    let live = model.get(&k).is_some_and(|(_, d)| *d > now);
                    let r = s.store(StoreMode::Append, k.as_bytes(), b"+", 0, 0);
                    let t = twin.store(StoreMode::Append, k.as_bytes(), b"+", 0, 0);
                    assert_eq!(r, t, "append {k} in round {round}");
                    assert_eq!(live, matches!(r, Ok(StoreOutcome::Stored { .. })));
                    if live {
                        model.get_mut(&k).unwrap().0.push(b'+');
                    }
                }
                7 => clock.advance(rng.next() % 7),
                _ => {
                    let live = model.get(&k).filter(|(_, d)| *d > now);
                    let want = live.map(|(v, _)| v.as_slice());
                    assert_eq!(value(&s, &k).as_deref(), want, "{k} in round {round}");
                    assert_eq!(value(&twin, &k).as_deref(), want, "twin's {k}");
                }
            }
        }
        s.save(&[]).unwrap();
        drop(s);
        clock.advance(rng.next() % 40);
        let (again, r) = open(&dir.file(), config.clone(), &clock);
        restored_items(&r);
        s = again;
        // The twin sweeps as the restart did.
        twin.sweep();
        let (a, b) = (s.stats(), twin.stats());
        assert_eq!(
            (a.curr_items, a.bytes, a.used_segments),
            (b.curr_items, b.bytes, b.used_segments),
            "gauges after restart {round}"
        );
        for i in 0..2000 {
            let k = format!("k{i}");
            let live = model.get(&k).filter(|(_, d)| *d > clock.now());
            let want = live.map(|(v, _)| v.as_slice());
            assert_eq!(value(&s, &k).as_deref(), want, "{k} after restart {round}");
            // Reads unlink expired items: keep the twin's reads the same.
            assert_eq!(value(&twin, &k).as_deref(), want);
        }
    }
}

/// A restored full heap evicts like any other: fill far past -m after a restart, and
/// every value read back is the one written for its key.
#[test]
fn a_restored_full_heap_evicts_and_stays_consistent() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = Dir::new();
    let v = |i: u32| -> Vec<u8> {
        let mut v = i.to_le_bytes().repeat(100);
        v.truncate(300 + (i % 200) as usize);
        v
    };
    let (s, _) = open(&dir.file(), cfg(16), &clock);
    for i in 0..80_000u32 {
        set(&s, &format!("e{i}"), &v(i), 0, 0);
    }
    assert!(s.stats().evictions > 0, "the heap filled");
    s.save(&[]).unwrap();
    drop(s);
    let (s, r) = open(&dir.file(), cfg(16), &clock);
    assert!(restored_items(&r) > 10_000);
    for i in 80_000..200_000u32 {
        set(&s, &format!("e{i}"), &v(i), 0, 0);
    }
    let mut found = 0;
    for i in 0..200_000u32 {
        if let Some(got) = value(&s, &format!("e{i}")) {
            assert_eq!(got, v(i), "e{i}");
            found += 1;
        }
    }
    assert!(found > 10_000, "{found}");
    assert!(s.stats().evictions > 0);
}
