//! What a 64 KiB value costs to copy, by where it lands: into memory the cache holds, or
//! into memory it does not (a hole of the heap, or the log's head, under a working set
//! far larger than the cache). docs/io.md ("64 KiB values, measured again") explains the
//! user/kernel shift of the io_uring direct receive with these figures.
//!
//! ```text
//! cargo run --release -p bench --example cold_copy            # 256 MiB, 20,000 copies
//! cargo run --release -p bench --example cold_copy -- 512 5000
//! ```

use std::hint::black_box;
use std::time::Instant;

const VALUE: usize = 64 * 1024;

/// A xorshift step: destinations drawn without a pattern the prefetcher could follow.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let copies: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let mut src = vec![1u8; VALUE];
    // Touched once, so that what follows measures the cache, not page faults.
    let mut heap = vec![2u8; mib << 20];
    let slots = heap.len() / VALUE;
    let mut x = 88_172_645_463_325_252u64;
    for round in 1..=3 {
        let start = Instant::now();
        for _ in 0..copies {
            heap[..VALUE].copy_from_slice(black_box(&src));
            black_box(&heap[..VALUE]);
        }
        let cached = start.elapsed().as_nanos() / copies as u128;
        let start = Instant::now();
        for _ in 0..copies {
            let at = (next(&mut x) as usize % slots) * VALUE;
            heap[at..at + VALUE].copy_from_slice(black_box(&src));
            black_box(&heap[at..at + VALUE]);
        }
        let into_cold = start.elapsed().as_nanos() / copies as u128;
        let start = Instant::now();
        for _ in 0..copies {
            let at = (next(&mut x) as usize % slots) * VALUE;
            src.copy_from_slice(black_box(&heap[at..at + VALUE]));
            black_box(&src);
        }
        let from_cold = start.elapsed().as_nanos() / copies as u128;
        println!(
            "round {round}: 64 KiB copy, cached -> cached {cached} ns, cached -> cold \
             {into_cold} ns, cold -> cached {from_cold} ns ({mib} MiB)"
        );
    }
}
