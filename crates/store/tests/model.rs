//! Model-based test: random operation sequences applied to the store and to a plain
//! HashMap agree (on a heap large enough that nothing is evicted).

use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use store::{Clock, DeltaOutcome, ManualClock, Store, StoreConfig, StoreMode, StoreOutcome};

const T0: u64 = 1_800_000_000;

#[derive(Debug, Clone)]
enum Op {
    Store(u8, u8, Vec<u8>, u32, i64),
    Cas(u8, bool, Vec<u8>),
    Get(u8),
    Touch(u8, i64),
    Gat(u8, i64),
    Delete(u8),
    Delta(u8, u64, bool),
    Advance(u64),
    Flush,
}

#[derive(Debug, Clone)]
struct ModelItem {
    value: Vec<u8>,
    flags: u32,
    deadline: u64, // 0 never
    cas: u64,
}

fn deadline(exptime: i64, now: u64) -> u64 {
    if exptime == 0 {
        0
    } else if exptime < 0 {
        1
    } else if exptime <= 2_592_000 {
        now + exptime as u64
    } else if exptime as u64 <= now {
        1
    } else {
        exptime as u64
    }
}

/// memcached reads the leading number and ignores anything after a space ("10 20" is 10).
fn parse(v: &[u8]) -> Option<u64> {
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || v.get(digits).is_some_and(|&b| b != b' ') {
        return None;
    }
    std::str::from_utf8(&v[..digits]).ok()?.parse().ok()
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(b'a'..=b'z', 0..20),
        3 => (0u64..u64::MAX).prop_map(|n| n.to_string().into_bytes()),
        3 => (0u64..1000).prop_map(|n| n.to_string().into_bytes()),
        3 => Just(b"18446744073709551615".to_vec()),
        // Large values leave holes that later large values reuse.
        1 => (4000usize..9000, b'a'..=b'z').prop_map(|(n, b)| vec![b; n]),
    ]
}

fn exptime() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => Just(0i64),
        4 => 1i64..20,
        1 => Just(-1i64),
        1 => (T0 as i64 - 5)..(T0 as i64 + 40),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..6;
    prop_oneof![
        6 => (key.clone(), 0u8..5, value(), prop_oneof![Just(0u32), any::<u32>()], exptime())
            .prop_map(|(k, m, v, f, e)| Op::Store(k, m, v, f, e)),
        2 => (key.clone(), any::<bool>(), value()).prop_map(|(k, ok, v)| Op::Cas(k, ok, v)),
        5 => key.clone().prop_map(Op::Get),
        1 => (key.clone(), exptime()).prop_map(|(k, e)| Op::Touch(k, e)),
        1 => (key.clone(), exptime()).prop_map(|(k, e)| Op::Gat(k, e)),
        2 => key.clone().prop_map(Op::Delete),
        3 => (key, prop_oneof![0u64..10, Just(u64::MAX)], any::<bool>())
            .prop_map(|(k, d, i)| Op::Delta(k, d, i)),
        2 => (0u64..8).prop_map(Op::Advance),
        1 => Just(Op::Flush),
    ]
}

fn run(ops: Vec<Op>, cas_enabled: bool) {
    let clock = Arc::new(ManualClock::new(T0));
    let s = Store::with_clock(
        StoreConfig {
            cas_enabled,
            ..StoreConfig::default()
        },
        clock.clone(),
    )
    .unwrap();
    let mut model: HashMap<Vec<u8>, ModelItem> = HashMap::new();
    // Without CAS, memcached's flush_all hides everything stored up to the end of the
    // flush's second (it cannot tell earlier from later within it).
    let mut flushed_second = None;
    for op in ops {
        let now = clock.now();
        model.retain(|_, it| it.deadline == 0 || now < it.deadline);
        match op {
            Op::Store(k, m, v, flags, e) => {
                let key = vec![b'k', k];
                let mode = [
                    StoreMode::Set,
                    StoreMode::Add,
                    StoreMode::Replace,
                    StoreMode::Append,
                    StoreMode::Prepend,
                ][m as usize];
                let got = s.store(mode, &key, &v, flags, e).unwrap();
                let cur = model.get(&key).cloned();
                let expect_stored = match mode {
                    StoreMode::Set => true,
                    StoreMode::Add => cur.is_none(),
                    _ => cur.is_some(),
                };
                match got {
                    StoreOutcome::Stored { cas } => {
                        assert!(expect_stored, "{mode:?} stored over {cur:?}");
                        let item = match (mode, cur) {
                            (StoreMode::Append, Some(c)) => ModelItem {
                                value: [c.value, v].concat(),
                                cas,
                                ..c
                            },
                            (StoreMode::Prepend, Some(c)) => ModelItem {
                                value: [v, c.value].concat(),
                                cas,
                                ..c
                            },
                            _ => ModelItem {
                                value: v,
                                flags,
                                deadline: deadline(e, now),
                                cas,
                            },
                        };
                        if !cas_enabled && flushed_second == Some(now) {
                            model.remove(&key);
                        } else {
                            model.insert(key, item);
                        }
                    }
                    StoreOutcome::NotStored => assert!(!expect_stored, "{mode:?}"),
                    other => panic!("{mode:?}: {other:?}"),
                }
            }
            Op::Cas(k, right, v) => {
                let key = vec![b'k', k];
                let cur = model.get(&key).cloned();
                let want = match (&cur, right) {
                    (Some(c), true) => c.cas,
                    (Some(c), false) => c.cas + 1000,
                    (None, _) => 1,
                };
                let got = s.store(StoreMode::Cas(want), &key, &v, 3, 0).unwrap();
                match (cur, got) {
                    (None, StoreOutcome::NotFound) => {}
                    // memcached never matches a CAS of 0: under -C every cas on an
                    // existing item is EXISTS.
                    (Some(_), StoreOutcome::Exists) if !cas_enabled => {}
                    (Some(_), StoreOutcome::Stored { cas }) if right && cas_enabled => {
                        model.insert(
                            key,
                            ModelItem {
                                value: v,
                                flags: 3,
                                deadline: 0,
                                cas,
                            },
                        );
                    }
                    (Some(_), StoreOutcome::Exists) if !right => {}
                    (cur, got) => panic!("cas {right} on {cur:?}: {got:?}"),
                }
            }
            Op::Get(k) => {
                let key = vec![b'k', k];
                let got = s.get(&key);
                match (model.get(&key), got) {
                    (None, None) => {}
                    (Some(m), Some(i)) => {
                        assert_eq!(i.value(), &m.value[..]);
                        assert_eq!(i.flags(), m.flags);
                        assert_eq!(i.cas(), m.cas);
                        let ttl = if m.deadline == 0 {
                            -1
                        } else {
                            (m.deadline - now) as i64
                        };
                        assert_eq!(i.ttl_remaining(), ttl);
                    }
                    (m, i) => panic!("get: model {m:?} store {:?}", i.map(|i| i.value().to_vec())),
                }
            }
            Op::Touch(k, e) | Op::Gat(k, e) => {
                let key = vec![b'k', k];
                let hit = if matches!(op, Op::Touch(..)) {
                    s.touch(&key, e)
                } else {
                    s.get_and_touch(&key, e).is_some()
                };
                match model.get_mut(&key) {
                    Some(m) => {
                        assert!(hit);
                        m.deadline = deadline(e, now);
                    }
                    None => assert!(!hit),
                }
            }
            Op::Delete(k) => {
                let key = vec![b'k', k];
                assert_eq!(s.delete(&key), model.remove(&key).is_some());
            }
            Op::Delta(k, d, incr) => {
                let key = vec![b'k', k];
                let got = s.delta(&key, d, incr);
                match model.get_mut(&key) {
                    None => assert_eq!(got, DeltaOutcome::NotFound),
                    Some(m) => match parse(&m.value) {
                        None => assert_eq!(got, DeltaOutcome::NonNumeric, "{:?}", m.value),
                        Some(n) => {
                            let want = if incr {
                                n.wrapping_add(d)
                            } else {
                                n.saturating_sub(d)
                            };
                            let DeltaOutcome::Value { value, cas } = got else {
                                panic!("{got:?}")
                            };
                            assert_eq!(value, want);
                            let mut text = want.to_string().into_bytes();
                            if text.len() < m.value.len() {
                                text.resize(m.value.len(), b' ');
                            }
                            m.value = text;
                            m.cas = cas;
                        }
                    },
                }
            }
            Op::Advance(d) => clock.advance(d),
            Op::Flush => {
                s.flush_all(0);
                model.clear();
                flushed_second = Some(now);
            }
        }
        let st = s.stats();
        assert!(st.curr_items >= model.len() as u64);
        assert_eq!(st.evictions, 0);
        assert_eq!(s.pinned_items(), 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn store_agrees_with_a_hashmap(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops, true);
    }

    #[test]
    fn store_agrees_with_a_hashmap_without_cas(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops, false);
    }
}

/// `op()` plus jumps of 8 to 17 hours: last-access times in index slots become coarse
/// (segments opened more than 9.1 hours ago) and writers must leave old segments.
fn op_with_long_pauses() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => op(),
        1 => (30_000u64..60_000).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn store_agrees_with_a_hashmap_across_long_pauses(
        ops in proptest::collection::vec(op_with_long_pauses(), 1..120)
    ) {
        run(ops, true);
    }

    #[test]
    fn store_agrees_with_a_hashmap_across_long_pauses_without_cas(
        ops in proptest::collection::vec(op_with_long_pauses(), 1..120)
    ) {
        run(ops, false);
    }
}
