//! `stats latency`: the per-command latency histograms (see `runtime::latency`), summed
//! over the workers. memcached has no such group; its lines are Corvid's own:
//!
//! ```text
//! STAT get:count 1520          requests answered
//! STAT get:sum_us 18849        their latencies added up, in microseconds
//! STAT get:p50_us 16           the upper bound of the bucket holding the median
//! STAT get:p90_us 32           ... the 90th, 99th and 99.9th percentiles
//! STAT get:p99_us 64
//! STAT get:p999_us 128
//! STAT get:bucket_8us 10       requests that took more than 4 and at most 8 µs
//! STAT get:bucket_16us 1200    (non-empty buckets only; the last is `bucket_inf`)
//! ```
//!
//! Only commands answered at least once are listed, in a fixed order. A percentile in
//! the unbounded last bucket reads `inf`.

use crate::runtime::latency::bucket_bound_us;
use crate::runtime::{Histogram, RuntimeStats};
use std::io::Write as _;

/// Each named command's histogram, summed over every worker.
pub(crate) fn summed(
    runtime: &RuntimeStats,
    names: &[&'static str],
) -> Vec<(&'static str, Histogram)> {
    names
        .iter()
        .enumerate()
        .map(|(kind, &name)| {
            let mut h = Histogram::default();
            for w in &runtime.workers {
                h.add_from(&w.latency, kind);
            }
            (name, h)
        })
        .collect()
}

/// Appends the `stats latency` lines (without `END`).
pub(crate) fn write(out: &mut Vec<u8>, runtime: &RuntimeStats, names: &[&'static str]) {
    for (name, h) in summed(runtime, names) {
        let count = h.count();
        if count == 0 {
            continue;
        }
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            "STAT {name}:count {count}\r\nSTAT {name}:sum_us {}\r\n",
            h.sum_ns / 1000
        );
        for (label, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
            let _ = match h.percentile(q) {
                Some(us) => write!(out, "STAT {name}:{label}_us {us}\r\n"),
                None => write!(out, "STAT {name}:{label}_us inf\r\n"),
            };
        }
        for (k, &n) in h.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let _ = match bucket_bound_us(k) {
                Some(us) => write!(out, "STAT {name}:bucket_{us}us {n}\r\n"),
                None => write!(out, "STAT {name}:bucket_inf {n}\r\n"),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_answered_commands_with_percentiles_and_buckets() {
        let runtime = RuntimeStats::new(2, Vec::new());
        runtime.workers[0].latency.record(1, 3, 5_000);
        runtime.workers[1].latency.record(1, 1, 100_000);
        let mut out = Vec::new();
        write(&mut out, &runtime, &["get", "set"]);
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            "STAT set:count 4\r\nSTAT set:sum_us 115\r\nSTAT set:p50_us 8\r\n\
             STAT set:p90_us 128\r\nSTAT set:p99_us 128\r\nSTAT set:p999_us 128\r\n\
             STAT set:bucket_8us 3\r\nSTAT set:bucket_128us 1\r\n"
        );
    }
}
