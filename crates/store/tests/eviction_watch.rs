//! The eviction watch (`watch evictions` in the server): told of every evicted item,
//! with what memcached's eviction line says, and of nothing while it does not want to be.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use store::{Evicted, EvictionWatch, Store, StoreConfig, StoreMode};

/// What an eviction report said: key, fetched, TTL left, value length.
type Report = (Vec<u8>, bool, i64, usize);

#[derive(Default)]
struct Recorder {
    wanted: AtomicBool,
    seen: Mutex<Vec<Report>>,
}

impl EvictionWatch for Recorder {
    fn wanted(&self) -> bool {
        self.wanted.load(Relaxed)
    }

    fn evicted(&self, item: &Evicted<'_>) {
        let mut seen = self.seen.lock().expect("lock");
        seen.push((item.key.to_vec(), item.fetched, item.ttl, item.value_len));
    }
}

#[test]
fn every_eviction_is_reported_while_wanted() {
    let store = Store::new(StoreConfig {
        memory_limit: 8 << 20,
        ..StoreConfig::default()
    })
    .expect("a store");
    let recorder = Arc::new(Recorder::default());
    assert!(store.set_eviction_watch(recorder.clone()));
    assert!(!store.set_eviction_watch(recorder.clone()), "only once");
    let value = vec![b'v'; 10_000];
    let fill = |from: usize, n: usize| {
        for i in from..from + n {
            let key = format!("key{i}");
            let exptime = if i.is_multiple_of(2) { 0 } else { 100_000 };
            store
                .store(StoreMode::Set, key.as_bytes(), &value, 0, exptime)
                .expect("stored");
        }
    };
    fill(0, 3_000);
    let before = store.stats().evictions;
    assert!(before > 0, "the test must evict");
    assert!(
        recorder.seen.lock().expect("lock").is_empty(),
        "not wanted yet"
    );
    recorder.wanted.store(true, Relaxed);
    fill(3_000, 3_000);
    let evicted = store.stats().evictions - before;
    let seen = recorder.seen.lock().expect("lock");
    assert!(evicted > 0);
    assert_eq!(seen.len() as u64, evicted, "one report per eviction");
    for (key, fetched, ttl, len) in seen.iter() {
        assert!(key.starts_with(b"key"), "{key:?}");
        assert!(!fetched);
        assert_eq!(*len, value.len());
        let i: usize = std::str::from_utf8(&key[3..])
            .expect("utf8")
            .parse()
            .expect("n");
        if i.is_multiple_of(2) {
            assert_eq!(*ttl, -1, "never expires");
        } else {
            assert!((99_000..=100_000).contains(ttl), "{ttl}");
        }
    }
}
