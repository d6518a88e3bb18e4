//! What one routing decision costs: `cargo run --release -p proxy --example decide_cost`
//! times `decide` for 1,000,000 keys per distribution (10 to 20-byte keys, four servers)
//! and prints nanoseconds per decision, with the continuum size. For instruction counts
//! that machine noise cannot move, run it under `valgrind --tool=callgrind` with
//! `DECIDE_COST_KEYS=100000 DECIDE_COST_ONLY=ketama/fnv1a_64` and divide the inclusive
//! count of `proxy::route::single` (where `decide` ends for a pool route) by the keys.

use std::hint::black_box;
use std::time::Instant;

use proxy::{Decision, Health, Operation, ProxyConfig, RouteId};

fn main() {
    let keys: usize = std::env::var("DECIDE_COST_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let only = std::env::var("DECIDE_COST_ONLY").ok();
    let names: Vec<String> = (0..keys).map(|i| format!("user:{i}:profile")).collect();
    for (distribution, hash) in [
        ("ketama", "fnv1a_64"),
        ("ketama", "md5"),
        ("ketama", "murmur"),
        ("modula", "fnv1a_64"),
    ] {
        if only
            .as_ref()
            .is_some_and(|o| *o != format!("{distribution}/{hash}"))
        {
            continue;
        }
        let yaml = format!(
            "p:\n  listen: 127.0.0.1:22121\n  hash: {hash}\n  distribution: {distribution}\n  servers:\n   - 10.0.0.1:11211:1\n   - 10.0.0.2:11211:1\n   - 10.0.0.3:11211:1\n   - 10.0.0.4:11211:1\n"
        );
        let config = ProxyConfig::from_twemproxy_yaml(&yaml).expect("valid");
        let health = Health::new(&config.pools);
        let start = Instant::now();
        let mut sum = 0u64;
        for key in &names {
            if let Decision::Forward(f) = config.route(
                RouteId(0),
                &health,
                black_box(key.as_bytes()),
                Operation::Read,
                0,
            ) {
                sum += u64::from(f.targets[0].server);
            }
        }
        let elapsed = start.elapsed();
        println!(
            "{distribution:>6} {hash:>8}: {:6.1} ns per decision ({} points; checksum {sum})",
            elapsed.as_nanos() as f64 / keys as f64,
            health.ring(0).points().len()
        );
    }
    for n in 1..=12u32 {
        let servers: String = (0..n)
            .map(|i| format!("   - 10.0.0.{}:11211:1\n", i + 1))
            .collect();
        let yaml = format!("p:\n  listen: 127.0.0.1:1\n  servers:\n{servers}");
        let config = ProxyConfig::from_twemproxy_yaml(&yaml).expect("valid");
        let points = config.pools[0].ring(|_| true).points().len();
        println!(
            "{n:>2} equal servers: {points} points ({} per server)",
            points / n as usize
        );
    }
}
