//! Writers racing through eviction must never lose segments: with eviction on, a full
//! store always makes room. Eight threads setting values of 100 B to 512 KB into a small
//! heap once leaked the eviction spare (two evictors both set one aside, one overwrote the
//! other's), until every segment was lost and every later set failed with OutOfMemory.

use store::{Store, StoreConfig, StoreError, StoreMode};

#[test]
fn racing_evictions_never_run_out_of_memory() {
    const THREADS: u64 = 8;
    const SETS: usize = 20_000;
    let store = Store::new(StoreConfig {
        memory_limit: 16 << 20,
        ..StoreConfig::default()
    })
    .expect("a store");
    let big = vec![b'b'; 512 * 1024];
    let refused: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, big) = (&store, &big);
                s.spawn(move || {
                    let mut x = 0x9e37_79b9_7f4a_7c15 ^ (t + 1);
                    let mut refused = 0;
                    for _ in 0..SETS {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let len = match x % 100 {
                            0..=69 => 100 + (x >> 8) as usize % 900,
                            70..=94 => 1024 + (x >> 8) as usize % (15 * 1024),
                            _ => 16 * 1024 + (x >> 8) as usize % (496 * 1024),
                        };
                        let key = format!("k{}", x % 1_000_000);
                        match store.store(StoreMode::Set, key.as_bytes(), &big[..len], 0, 0) {
                            Ok(_) => {}
                            Err(StoreError::OutOfMemory) => refused += 1,
                            Err(e) => panic!("set of {len} bytes: {e}"),
                        }
                    }
                    refused
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a writer"))
            .sum()
    });
    assert_eq!(refused, 0, "sets refused as out of memory with eviction on");
    for i in 0..100 {
        let key = format!("after{i}");
        assert!(
            store
                .store(StoreMode::Set, key.as_bytes(), &big[..1000], 0, 0)
                .is_ok(),
            "a set after the race failed: segments were lost"
        );
    }
    assert_eq!(store.pinned_items(), 0);
    assert_eq!(store.open_reservations(), 0);
}
