//! Random operation sequences on a small store with a manual clock. Checked after every
//! operation: nothing panics; a hit returns exactly the value last written under its key
//! (a miss is allowed: eviction and expiry may drop anything); pinned items never change
//! under the pin; abandoned reservations leave no trace; counters of outstanding pins and
//! reservations return to zero.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::sync::Arc;
use store::{
    DeltaOutcome, ItemRef, ManualClock, Reservation, Store, StoreConfig, StoreMode, StoreOutcome,
};

const KEYS: [&[u8]; 6] = [
    b"a",
    b"bb",
    b"key-3",
    b"\x01\xff",
    b"n",
    b"long-key-long-key-long-key",
];

/// What the test knows a key holds.
#[derive(Clone, Debug, PartialEq)]
enum Known {
    /// Exactly these bytes and flags (if still there).
    Value(Vec<u8>, u32),
    /// A number written by incr/decr; memcached may pad a shrunk number with spaces.
    Number(u64),
    /// Nothing can be said (e.g. written through a path the model does not follow).
    Unknown,
}

/// Bytes from the fuzzer input, read front to back.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from(self.byte()?) << 8 | u16::from(self.byte()?))
    }
}

fn value_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

/// Checks a hit against the model.
fn check_hit(key: &[u8], item: &ItemRef<'_>, model: &HashMap<&[u8], Known>) {
    assert_eq!(item.key(), key);
    match model.get(key) {
        Some(Known::Value(v, flags)) => {
            assert_eq!(item.value(), &v[..], "value of {key:?}");
            assert_eq!(item.flags(), *flags, "flags of {key:?}");
        }
        Some(Known::Number(n)) => {
            let text = std::str::from_utf8(item.value()).expect("a number is ASCII");
            assert_eq!(text.trim_end_matches(' ').parse::<u64>().ok(), Some(*n));
        }
        Some(Known::Unknown) => {}
        None => panic!("hit on {key:?}, which was never stored or was deleted"),
    }
}

fuzz_target!(|data: &[u8]| {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let config = StoreConfig {
        memory_limit: 4 << 20,
        item_size_max: 256 << 10,
        segment_size: 256 << 10,
        ..StoreConfig::default()
    };
    let store = match Store::with_clock(config, clock.clone()) {
        Ok(s) => s,
        Err(e) => panic!("store: {e}"),
    };
    let mut model: HashMap<&[u8], Known> = HashMap::new();
    let mut pins: Vec<(ItemRef<'_>, Vec<u8>)> = Vec::new();
    let mut reservations: Vec<(Reservation<'_>, &[u8], Vec<u8>, u32)> = Vec::new();
    let mut input = Input(data);
    while let (Some(op), Some(k)) = (input.byte(), input.byte()) {
        let key = KEYS[usize::from(k) % KEYS.len()];
        let arg = input.u16().unwrap_or(0);
        // Mostly small values, sometimes big enough to force eviction of a 4 MiB heap.
        let len = if arg & 0x8000 != 0 {
            usize::from(arg & 0x7fff) * 8
        } else {
            usize::from(arg % 300)
        };
        let flags = u32::from(k >> 4);
        let exptime = match k % 8 {
            0 => -1,
            1 => 2,
            2 => 100,
            _ => 0,
        };
        match op % 16 {
            0 | 1 => {
                let v = value_of(len, op);
                if let Ok(StoreOutcome::Stored { .. }) =
                    store.store(StoreMode::Set, key, &v, flags, exptime)
                {
                    model.insert(key, Known::Value(v, flags));
                }
            }
            2 => {
                let v = value_of(len, op);
                let mode = match k % 3 {
                    0 => StoreMode::Add,
                    1 => StoreMode::Replace,
                    _ => StoreMode::Cas(u64::from(arg)),
                };
                if let Ok(StoreOutcome::Stored { .. }) = store.store(mode, key, &v, flags, exptime)
                {
                    model.insert(key, Known::Value(v, flags));
                }
            }
            3 => {
                let v = value_of(len % 64, op);
                let append = k & 1 == 0;
                let mode = if append {
                    StoreMode::Append
                } else {
                    StoreMode::Prepend
                };
                match store.store(mode, key, &v, flags, exptime) {
                    Ok(StoreOutcome::Stored { .. }) => {
                        let next = match model.get(key) {
                            Some(Known::Value(old, f)) => {
                                let joined = if append {
                                    [&old[..], &v[..]].concat()
                                } else {
                                    [&v[..], &old[..]].concat()
                                };
                                Known::Value(joined, *f)
                            }
                            _ => Known::Unknown,
                        };
                        model.insert(key, next);
                    }
                    _ => {
                        // Not stored: the key was absent (or the result too large).
                    }
                }
            }
            4 | 5 => {
                if let Some(item) = store.get(key) {
                    check_hit(key, &item, &model);
                }
            }
            6 => {
                if let Some(item) = store.get_and_touch(key, exptime) {
                    check_hit(key, &item, &model);
                }
            }
            7 => {
                store.touch(key, exptime);
            }
            8 => {
                store.delete(key);
                model.remove(key);
            }
            9 => match store.delta(key, u64::from(arg), k & 1 == 0) {
                DeltaOutcome::Value { value, .. } => {
                    model.insert(key, Known::Number(value));
                }
                DeltaOutcome::NotFound | DeltaOutcome::NonNumeric => {}
                DeltaOutcome::OnDisk(_) => panic!("an item on disk in a store without a disk tier"),
            },
            10 => {
                let v = (u64::from(arg) * 7).to_string().into_bytes();
                if let Ok(StoreOutcome::Stored { .. }) =
                    store.store(StoreMode::Set, key, &v, 0, exptime)
                {
                    model.insert(key, Known::Value(v, 0));
                }
            }
            11 => {
                // Pin an item across later writes: its bytes must not change under the pin.
                if let Some(item) = store.peek(key) {
                    check_hit(key, &item, &model);
                    let copy = item.value().to_vec();
                    pins.push((item, copy));
                }
                if pins.len() > 8 {
                    let (item, copy) = pins.remove(0);
                    assert_eq!(item.value(), &copy[..], "a pinned item changed");
                }
            }
            12 => {
                // Reserve now, commit or abandon later.
                if let Ok(mut r) = store.reserve(key, len, flags, exptime) {
                    let v = value_of(len, op ^ k);
                    r.value_mut().copy_from_slice(&v);
                    reservations.push((r, key, v, flags));
                }
                if reservations.len() > 4 {
                    let (r, key, v, flags) = reservations.remove(0);
                    if arg & 1 == 0 {
                        if let StoreOutcome::Stored { .. } = r.commit(StoreMode::Set) {
                            model.insert(key, Known::Value(v, flags));
                        }
                    } else {
                        drop(r);
                    }
                }
            }
            13 => {
                // The model keeps its values. flush_all is memcached's time threshold, and a
                // later delayed flush_all moves it into the future, so items flushed but not
                // yet reclaimed are visible again (memcached 1.6.18 does the same until its
                // LRU crawler has reclaimed them). Values never change, though.
                store.flush_all(i64::from(arg % 4));
            }
            14 => {
                clock.advance(u64::from(arg % 200));
                store.refresh_clock();
                store.sweep();
            }
            _ => {
                // Meta primitives: invalidate marks stale (value unchanged), claim a win
                // token, vivify a placeholder on a miss.
                match arg % 3 {
                    0 => {
                        store.invalidate(key, None);
                    }
                    1 => {
                        if let Some(item) = store.peek(key) {
                            check_hit(key, &item, &model);
                            let first = store.claim_win(&item);
                            assert!(!(first && store.claim_win(&item)), "two winners");
                        }
                    }
                    _ => {
                        if let Ok(true) = store.vivify(key, 30) {
                            model.insert(key, Known::Unknown);
                        }
                    }
                }
            }
        }
        assert!(store.pinned_items() >= pins.len());
    }
    for (item, copy) in pins.drain(..) {
        assert_eq!(item.value(), &copy[..], "a pinned item changed");
    }
    reservations.clear();
    assert_eq!(store.pinned_items(), 0, "pins leaked");
    assert_eq!(store.open_reservations(), 0, "reservations leaked");
});
