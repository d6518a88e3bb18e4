//! Instructions per store operation, for callgrind: a deterministic count that the
//! machine's load cannot move, so "did this change cost CPU" has a precise answer.
//!
//! Fills 100,000 `memtier-N` keys with 100-byte values (a manual clock, so no time is
//! read from the OS), then runs `N` operations of one kind on keys picked by a fixed
//! xorshift sequence inside `measured`, the only function callgrind counts:
//!
//! ```sh
//! cargo build --release -p store --example op_cost
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='op_cost::measured' \
//!     --callgrind-out-file=/tmp/cg.get target/release/examples/op_cost get 1000000
//! callgrind_annotate /tmp/cg.get | head   # total Ir / N = instructions per get
//! ```
//!
//! Kinds: `get` (hits), `set` (overwrites of existing keys), `miss` (gets of absent keys).
//! The index's hash seed is random per store, so counts move by a few hundredths of a
//! percent between runs; compare medians of three.

use std::sync::Arc;
use store::{ManualClock, Store, StoreConfig, StoreMode};

const KEYS: usize = 100_000;

#[derive(Clone, Copy)]
enum Kind {
    Get,
    Set,
    Miss,
}

#[inline(never)]
fn measured(s: &Store, keys: &[Vec<u8>], misses: &[Vec<u8>], kind: Kind, n: u64) -> u64 {
    let v = [b'w'; 100];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut sum = 0u64;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % KEYS as u64) as usize;
        match kind {
            Kind::Get => {
                if let Some(item) = s.get(&keys[i]) {
                    sum += u64::from(item.value()[0]);
                }
            }
            Kind::Miss => sum += u64::from(s.get(&misses[i]).is_some()),
            Kind::Set => {
                if s.store(StoreMode::Set, &keys[i], &v, 0, 0).is_ok() {
                    sum += 1;
                }
            }
        }
    }
    sum
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = match args.next().as_deref() {
        Some("get") => Kind::Get,
        Some("set") => Kind::Set,
        Some("miss") => Kind::Miss,
        _ => {
            eprintln!("usage: op_cost get|set|miss [N]");
            std::process::exit(2);
        }
    };
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let s = match Store::with_clock(
        StoreConfig {
            memory_limit: 256 << 20,
            ..StoreConfig::default()
        },
        clock,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("op_cost: {e}");
            std::process::exit(1);
        }
    };
    let keys: Vec<Vec<u8>> = (0..KEYS)
        .map(|i| format!("memtier-{i}").into_bytes())
        .collect();
    let misses: Vec<Vec<u8>> = (0..KEYS)
        .map(|i| format!("absent-{i}").into_bytes())
        .collect();
    let v = [b'v'; 100];
    for k in &keys {
        if s.store(StoreMode::Set, k, &v, 0, 0).is_err() {
            eprintln!("op_cost: fill failed");
            std::process::exit(1);
        }
    }
    let sum = measured(&s, &keys, &misses, kind, n);
    println!("{n} ops, checksum {sum}");
}
