//! Memory under churn: the 64 KiB get:set 1:1 load of `bench/compare` in-process, printing
//! where the heap's segments are as it runs (free warm/cold, sealed by live share, pinned),
//! and the resident heap against the live data.
//!
//! Like the server under `corvid bench --connections 8`, eight "connections" each hold
//! the pin of the last value they fetched (a queued reply) until their next request.
//!
//! cargo run --release -p store --example churn [-- KEYS VALUE_BYTES ROUNDS [cold]]
//!
//! Defaults: 2,000 keys of 65,536 bytes, 100,000 requests, `-m 1024`, every key stored
//! once first (as `corvid bench --prefill`); `cold` starts empty instead, as
//! memtier_benchmark does, so keys fill in while older values are overwritten.

use store::{ItemRef, Store, StoreConfig, StoreMode};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let cold = args.last().is_some_and(|a| a == "cold");
    if cold {
        args.pop();
    }
    let args: Vec<usize> = args
        .iter()
        .map(|a| a.parse().expect("KEYS VALUE_BYTES ROUNDS [cold]"))
        .collect();
    let keys = args.first().copied().unwrap_or(2_000);
    let len = args.get(1).copied().unwrap_or(65_536);
    let rounds = args.get(2).copied().unwrap_or(100_000);
    let s = Store::new(StoreConfig {
        memory_limit: 1024 << 20,
        ..StoreConfig::default()
    })
    .expect("store");
    let value = vec![b'v'; len];
    let key = |k: usize| format!("key:{k:012}");
    for k in (0..keys).filter(|_| !cold) {
        s.store(StoreMode::Set, key(k).as_bytes(), &value, 0, 0)
            .expect("prefill");
    }
    let how = if cold { "starting empty" } else { "prefilled" };
    println!("{keys} keys of {len} B {how}; {rounds} requests, get:set 1:1, 8 connections");
    report(&s, 0);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut held: Vec<Option<ItemRef<'_>>> = (0..8).map(|_| None).collect();
    for round in 1..=rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = (x % keys as u64) as usize;
        let conn = round % held.len();
        // The connection's previous reply has been sent: its pin goes.
        held[conn] = None;
        if x >> 63 == 0 {
            held[conn] = s.get(key(k).as_bytes());
        } else {
            s.store(StoreMode::Set, key(k).as_bytes(), &value, 0, 0)
                .expect("set");
        }
        if round % (rounds / 10).max(1) == 0 {
            report(&s, round);
        }
    }
}

fn report(s: &Store, round: usize) {
    let c = s.census();
    let live = c.live_bytes as f64 / f64::from(1 << 20);
    let seg = s.config().segment_size as f64 / f64::from(1 << 20);
    println!(
        "{round:>8}: resident {:>4} segments ({:.0} MiB) for {live:.0} MiB live ({:.2}x); \
         free warm {} cold {}, open {}, sealed by live share <=1/4 {} <=1/2 {} <=3/4 {} \
         >3/4 {}, pinned {}",
        c.resident,
        c.resident as f64 * seg,
        c.resident as f64 * seg / live.max(1e-9),
        c.free_warm,
        c.free_cold,
        c.open,
        c.sealed_by_live[0],
        c.sealed_by_live[1],
        c.sealed_by_live[2],
        c.sealed_by_live[3],
        c.pinned,
    );
}
