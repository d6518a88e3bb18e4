//! Threads hammering overlapping keys: no lost cas/incr update, no torn or foreign value,
//! pins honoured under eviction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use store::{DeltaOutcome, ManualClock, Store, StoreConfig, StoreMode, StoreOutcome};

const THREADS: usize = 4;

/// A small deterministic generator, so failures replay.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// key || payload || checksum(key || payload): a reader can tell a torn value, a value
/// that belongs to another key, and a value overwritten by a reused segment.
fn make_value(key: &[u8], rng: &mut Rng) -> Vec<u8> {
    make_value_of(key, 16 + rng.below(3000) as usize, rng)
}

fn make_value_of(key: &[u8], len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut v = key.to_vec();
    let fill = rng.next() as u8;
    v.extend((0..len).map(|i| fill.wrapping_add(i as u8)));
    let sum = fnv(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

fn check_value(key: &[u8], v: &[u8]) {
    assert!(v.len() >= key.len() + 8, "short value for {key:?}");
    assert_eq!(&v[..key.len()], key, "value of another key");
    let (body, sum) = v.split_at(v.len() - 8);
    assert_eq!(
        fnv(body).to_le_bytes(),
        sum,
        "torn value for {:?}",
        String::from_utf8_lossy(key)
    );
}

#[test]
fn no_lost_updates_no_torn_values() {
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let s = Store::with_clock(
        StoreConfig {
            memory_limit: 256 << 20,
            ..StoreConfig::default()
        },
        clock,
    )
    .unwrap();
    const COUNTERS: usize = 8;
    for i in 0..COUNTERS {
        s.store(StoreMode::Set, format!("ctr{i}").as_bytes(), b"0", 0, 0)
            .unwrap();
    }
    let increments = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let s = &s;
            let increments = &increments;
            scope.spawn(move || {
                let mut rng = Rng(0x9e37_79b9 + t as u64 * 7919);
                let mut mine = 0u64;
                for _ in 0..20_000 {
                    match rng.below(10) {
                        0..=2 => {
                            let key = format!("blob{}", rng.below(64));
                            let v = make_value(key.as_bytes(), &mut rng);
                            s.store(StoreMode::Set, key.as_bytes(), &v, 7, 0).unwrap();
                        }
                        3..=5 => {
                            let key = format!("blob{}", rng.below(64));
                            if let Some(item) = s.get(key.as_bytes()) {
                                assert_eq!(item.flags(), 7);
                                check_value(key.as_bytes(), item.value());
                            }
                        }
                        6..=7 => {
                            // cas-increment loop
                            let key = format!("ctr{}", rng.below(COUNTERS as u64));
                            loop {
                                let item = s.get(key.as_bytes()).expect("counter exists");
                                let n: u64 = std::str::from_utf8(item.value())
                                    .unwrap()
                                    .trim_end()
                                    .parse()
                                    .unwrap();
                                let cas = item.cas();
                                drop(item);
                                let next = (n + 1).to_string();
                                match s
                                    .store(
                                        StoreMode::Cas(cas),
                                        key.as_bytes(),
                                        next.as_bytes(),
                                        0,
                                        0,
                                    )
                                    .unwrap()
                                {
                                    StoreOutcome::Stored { .. } => break,
                                    StoreOutcome::Exists => continue,
                                    other => panic!("cas: {other:?}"),
                                }
                            }
                            mine += 1;
                        }
                        8 => {
                            let key = format!("ctr{}", rng.below(COUNTERS as u64));
                            match s.delta(key.as_bytes(), 1, true) {
                                DeltaOutcome::Value { .. } => mine += 1,
                                other => panic!("incr: {other:?}"),
                            }
                        }
                        _ => {
                            let key = format!("blob{}", rng.below(64));
                            s.delete(key.as_bytes());
                        }
                    }
                }
                increments.fetch_add(mine, Ordering::Relaxed);
            });
        }
    });
    let total: u64 = (0..COUNTERS)
        .map(|i| {
            let item = s.get(format!("ctr{i}").as_bytes()).unwrap();
            std::str::from_utf8(item.value())
                .unwrap()
                .trim_end()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(total, increments.load(Ordering::Relaxed));
    assert_eq!(s.pinned_items(), 0);
    assert_eq!(s.open_reservations(), 0);
}

#[test]
fn eviction_under_readers_holding_pins() {
    // 4 segments of 1 MiB and ~6 MB of writes per thread: constant eviction while readers
    // hold ItemRefs across other operations.
    evict_while_reading(4, false);
}

#[test]
fn eviction_copying_read_items_under_readers() {
    // 16 segments (so a spare exists) and a clock that moves: evictions copy recently read
    // items forward while other threads read, pin and overwrite them.
    evict_while_reading(16, true);
}

fn evict_while_reading(mib: usize, ticking: bool) {
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let s = Store::with_clock(
        StoreConfig {
            memory_limit: mib << 20,
            ..StoreConfig::default()
        },
        clock.clone(),
    )
    .unwrap();
    let rounds = 6_000 * mib / 4;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let s = &s;
            let clock = &clock;
            scope.spawn(move || {
                let mut rng = Rng(0x1234_5678 + t as u64 * 104_729);
                let mut held = Vec::new();
                for i in 0..rounds {
                    if ticking && t == 0 && i % 50 == 0 {
                        clock.advance(1);
                    }
                    let key = format!("k{}", rng.below(2_000 * mib as u64 / 4));
                    if rng.below(2) == 0 {
                        let v = make_value(key.as_bytes(), &mut rng);
                        match s.store(StoreMode::Set, key.as_bytes(), &v, 0, 0) {
                            Ok(StoreOutcome::Stored { .. }) => {}
                            // Every segment pinned at once is possible in principle.
                            Err(store::StoreError::OutOfMemory) => {}
                            other => panic!("{other:?}"),
                        }
                    } else if let Some(item) = s.get(key.as_bytes()) {
                        check_value(key.as_bytes(), item.value());
                        held.push((key, item));
                    }
                    if held.len() > 8 || i % 97 == 0 {
                        for (k, item) in held.drain(..) {
                            check_value(k.as_bytes(), item.value());
                        }
                    }
                }
                for (k, item) in held.drain(..) {
                    check_value(k.as_bytes(), item.value());
                }
            });
        }
    });
    let st = s.stats();
    assert!(st.evictions > 0, "the test must evict: {st:?}");
    assert_eq!(s.pinned_items(), 0);
}

#[test]
fn reservations_filled_concurrently_stay_invisible() {
    let s = Store::new(StoreConfig {
        memory_limit: 8 << 20,
        ..StoreConfig::default()
    })
    .unwrap();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let s = &s;
            scope.spawn(move || {
                let mut rng = Rng(77 + t as u64);
                for i in 0..3_000 {
                    let key = format!("r{}", rng.below(100));
                    let v = make_value(key.as_bytes(), &mut rng);
                    let mut r = s.reserve(key.as_bytes(), v.len(), 0, 0).unwrap();
                    // Fill in two halves with reads in between: a reader must never see it.
                    let half = v.len() / 2;
                    r.value_mut()[..half].copy_from_slice(&v[..half]);
                    if let Some(item) = s.get(key.as_bytes()) {
                        check_value(key.as_bytes(), item.value());
                    }
                    r.value_mut()[half..].copy_from_slice(&v[half..]);
                    if i % 5 == 0 {
                        drop(r); // client went away
                    } else {
                        assert!(matches!(
                            r.commit(StoreMode::Set),
                            StoreOutcome::Stored { .. }
                        ));
                    }
                }
            });
        }
    });
    assert_eq!(s.open_reservations(), 0);
}

#[test]
fn large_values_reuse_holes_under_readers() {
    // Values of 4 to 24 KiB leave holes that new values take while other threads read,
    // hold ItemRefs across many operations, delete, and abandon uploads midway; with a
    // 4 MiB heap for about 1.5 MiB of live data, compaction and eviction run too. A reader
    // must never see a value change under its pin, nor a hole's new occupant.
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let s = Store::with_clock(
        StoreConfig {
            memory_limit: 4 << 20,
            ..StoreConfig::default()
        },
        clock.clone(),
    )
    .unwrap();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let s = &s;
            let clock = &clock;
            scope.spawn(move || {
                let mut rng = Rng(0x5eed_0000 + t as u64 * 65_537);
                let mut held = Vec::new();
                for i in 0..2_000 {
                    if t == 0 && i % 200 == 0 {
                        clock.advance(1);
                    }
                    let key = format!("big{}", rng.below(100));
                    match rng.below(10) {
                        0..=3 => {
                            let len = 4096 + rng.below(20 << 10) as usize;
                            let v = make_value_of(key.as_bytes(), len, &mut rng);
                            match s.store(StoreMode::Set, key.as_bytes(), &v, 0, 0) {
                                Ok(StoreOutcome::Stored { .. }) => {}
                                Err(store::StoreError::OutOfMemory) => {}
                                other => panic!("{other:?}"),
                            }
                        }
                        4 => {
                            s.delete(key.as_bytes());
                        }
                        5 => {
                            if let Ok(mut r) = s.reserve(key.as_bytes(), 20_000, 0, 0) {
                                r.value_mut()[..1000].fill(0xab);
                            }
                        }
                        _ => {
                            if let Some(item) = s.get(key.as_bytes()) {
                                check_value(key.as_bytes(), item.value());
                                held.push((key, item));
                            }
                        }
                    }
                    if held.len() > 6 || i % 89 == 0 {
                        for (k, item) in held.drain(..) {
                            check_value(k.as_bytes(), item.value());
                        }
                    }
                }
                for (k, item) in held.drain(..) {
                    check_value(k.as_bytes(), item.value());
                }
            });
        }
    });
    assert_eq!(s.pinned_items(), 0);
    assert_eq!(s.open_reservations(), 0);
    for i in 0..100 {
        let key = format!("big{i}");
        if let Some(item) = s.get(key.as_bytes()) {
            check_value(key.as_bytes(), item.value());
        }
    }
}
