//! get hit, set, and a 90/10 get/set mix, on 1 and 2 threads.
//!
//! cargo bench -p store --bench store

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use store::{Store, StoreConfig, StoreMode};

const KEYS: usize = 100_000;

fn keys() -> Vec<Vec<u8>> {
    (0..KEYS)
        .map(|i| format!("memtier-{i}").into_bytes())
        .collect()
}

fn filled() -> (Store, Vec<Vec<u8>>) {
    let s = Store::new(StoreConfig {
        memory_limit: 256 << 20,
        ..StoreConfig::default()
    })
    .expect("store");
    let keys = keys();
    let v = [b'v'; 100];
    for k in &keys {
        s.store(StoreMode::Set, k, &v, 0, 0).expect("set");
    }
    (s, keys)
}

#[derive(Clone, Copy)]
enum Work {
    Get,
    Set,
    Mix,
}

/// Runs `iters` operations spread over `threads` threads and returns the wall time.
fn run(s: &Store, keys: &[Vec<u8>], work: Work, threads: usize, iters: u64) -> Duration {
    let v = [b'w'; 100];
    let go = AtomicBool::new(false);
    let per = iters / threads as u64 + 1;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let go = &go;
            scope.spawn(move || {
                while !go.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
                for _ in 0..per {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let k = &keys[(x % KEYS as u64) as usize];
                    let set = match work {
                        Work::Get => false,
                        Work::Set => true,
                        Work::Mix => x % 10 < 1,
                    };
                    if set {
                        let _ = std::hint::black_box(s.store(StoreMode::Set, k, &v, 0, 0));
                    } else if let Some(item) = s.get(k) {
                        std::hint::black_box(item.value()[0]);
                    }
                }
            });
        }
        let start = Instant::now();
        go.store(true, Ordering::Release);
        // The scope joins the threads before returning; time is measured around it.
        start
    })
    .elapsed()
}

fn bench(c: &mut Criterion) {
    let (s, keys) = filled();
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    for (name, work) in [
        ("get_hit", Work::Get),
        ("set", Work::Set),
        ("mix_90_10", Work::Mix),
    ] {
        for threads in [1usize, 2] {
            g.bench_function(BenchmarkId::new(name, format!("{threads}t")), |b| {
                b.iter_custom(|iters| run(&s, &keys, work, threads, iters));
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
