//! Hit ratio of the store alone under a skewed load: what eviction keeps, as a count, with
//! no network and no timing in the way (a manual clock that advances one second every
//! `--per-second` requests, so a heap that turns over within a second can be replayed
//! exactly).
//!
//! ```sh
//! cargo run --release -p store --example hit_ratio -- [VALUE_BYTES] [KEYS] [SKEW] [REQUESTS] [MIB] [PER_SECOND]
//! ```
//! Defaults: 4096-byte values, 64,000 keys (about 4x what 64 MiB holds), zipf 0.99,
//! 3,000,000 requests, `-m 64`, 30,000 requests a second. get:set is 10:1 and a miss is
//! not followed by a set, as `bench/hit-ratio` does over the network. The hit ratio is
//! taken over the second half of the requests (the first half fills and turns the heap
//! over). Prints the hit ratio, evictions, and items at the end.

use std::sync::Arc;
use store::{ManualClock, Store, StoreConfig, StoreMode};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value: usize = arg(&args, 0, 4096);
    let keys: usize = arg(&args, 1, 64_000);
    let skew: f64 = arg(&args, 2, 0.99);
    let requests: u64 = arg(&args, 3, 3_000_000);
    let mib: usize = arg(&args, 4, 64);
    let per_second: u64 = arg(&args, 5, 30_000);

    // Zipf over ranks, ranks shuffled onto keys so hot keys are spread over the key space.
    let mut cdf: Vec<f64> = (1..=keys).map(|r| 1.0 / (r as f64).powf(skew)).collect();
    let mut sum = 0.0;
    for w in cdf.iter_mut() {
        sum += *w;
        *w = sum;
    }
    for w in cdf.iter_mut() {
        *w /= sum;
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut perm: Vec<usize> = (0..keys).collect();
    for i in (1..keys).rev() {
        perm.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    let names: Vec<Vec<u8>> = (0..keys)
        .map(|k| format!("key:{k:012}").into_bytes())
        .collect();

    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let s = Store::with_clock(
        StoreConfig {
            memory_limit: mib << 20,
            ..StoreConfig::default()
        },
        clock.clone(),
    )
    .expect("store");
    let v = vec![b'v'; value];
    let (mut gets, mut hits) = (0u64, 0u64);
    let (mut evictions_at_half, mut kept_at_half) = (0, 0);
    for i in 0..requests {
        if i > 0 && i.is_multiple_of(per_second) {
            clock.advance(1);
        }
        if i == requests / 2 {
            let st = s.stats();
            evictions_at_half = st.evictions;
            kept_at_half = st.moves_to_warm;
        }
        let u = rng.unit();
        let rank = cdf.partition_point(|&c| c < u).min(keys - 1);
        let key = &names[perm[rank]];
        if rng.next().is_multiple_of(11) {
            s.store(StoreMode::Set, key, &v, 0, 0).expect("set");
        } else {
            let hit = s.get(key).is_some();
            if i >= requests / 2 {
                gets += 1;
                hits += u64::from(hit);
            }
        }
    }
    let st = s.stats();
    println!(
        "value {value} keys {keys} zipf {skew} -m {mib}: hit ratio {:.3}% ({hits} of {gets}) \
         (in the measured half: evictions {}, kept {}; evicted_active {}, items {})",
        hits as f64 * 100.0 / gets.max(1) as f64,
        st.evictions - evictions_at_half,
        st.moves_to_warm - kept_at_half,
        st.evicted_active,
        st.curr_items
    );
}
