//! Counting what happened (per thread, merged at the end) and presenting it: a table
//! for people, JSON for machines.

use crate::config::{Config, Stop};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// Latencies from 1 ns to one hour at three significant digits.
const HIGHEST_NS: u64 = 3_600_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Set,
    Delete,
}

/// One thread's counts for one phase.
#[derive(Debug, Clone)]
pub struct Tally {
    pub latency: [Histogram<u64>; 3],
    pub hits: u64,
    pub misses: u64,
    pub deleted: u64,
    pub not_found: u64,
    /// A value that failed its check, or a hit for a key that was not asked for.
    pub wrong_values: u64,
    /// Error replies from the server (or statuses that mean failure).
    pub server_errors: u64,
    /// Requests that were never answered: their connection broke or the drain timed out.
    pub lost: u64,
    pub broken_connections: u64,
    /// Open loop: requests that were due before the run ended but were never sent,
    /// because every connection's window was full.
    pub unsent: u64,
    /// Time from the start of the phase to the last reply.
    pub elapsed: Duration,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    pub fn new() -> Self {
        let histogram = || {
            Histogram::new_with_bounds(1, HIGHEST_NS, 3)
                .expect("constant histogram bounds are valid")
        };
        Tally {
            latency: [histogram(), histogram(), histogram()],
            hits: 0,
            misses: 0,
            deleted: 0,
            not_found: 0,
            wrong_values: 0,
            server_errors: 0,
            lost: 0,
            broken_connections: 0,
            unsent: 0,
            elapsed: Duration::ZERO,
        }
    }

    pub fn record(&mut self, op: Op, latency: Duration) {
        let ns = (latency.as_nanos() as u64).clamp(1, HIGHEST_NS);
        self.latency[op as usize].saturating_record(ns);
    }

    pub fn errors(&self) -> u64 {
        self.wrong_values + self.server_errors + self.lost
    }

    pub fn requests(&self) -> u64 {
        self.latency.iter().map(|h| h.len()).sum()
    }

    pub fn merge(&mut self, other: &Tally) {
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            // Same bounds on both sides, so adding cannot fail.
            let _ = mine.add(theirs);
        }
        self.hits += other.hits;
        self.misses += other.misses;
        self.deleted += other.deleted;
        self.not_found += other.not_found;
        self.wrong_values += other.wrong_values;
        self.server_errors += other.server_errors;
        self.lost += other.lost;
        self.broken_connections += other.broken_connections;
        self.unsent += other.unsent;
        self.elapsed = self.elapsed.max(other.elapsed);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    pub requests: u64,
    pub throughput: f64,
    pub latency: Latency,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub protocol: String,
    pub connections: usize,
    pub threads: usize,
    pub pipeline: usize,
    /// `closed` (as fast as replies come back) or `open` (sends at `rate`).
    pub mode: &'static str,
    pub rate: Option<f64>,
    pub keys: u64,
    pub key_size: String,
    pub value_size: String,
    pub key_dist: String,
    pub ratio: String,
    pub multiget: usize,
    /// Most bytes per read and per write on a connection per turn (0: no limit).
    pub read_size: usize,
    pub write_size: usize,
    pub planned_duration_s: Option<f64>,
    pub planned_requests: Option<u64>,
    pub duration_s: f64,
    pub requests: u64,
    /// Requests per second (a multi-get counts once).
    pub throughput: f64,
    pub hits: u64,
    pub misses: u64,
    pub hit_ratio: f64,
    pub deleted: u64,
    pub not_found: u64,
    pub errors: u64,
    pub wrong_values: u64,
    pub server_errors: u64,
    pub lost: u64,
    pub broken_connections: u64,
    /// Open loop only: requests due before the end that never went out (the target
    /// rate was not reached). Not counted in `requests` or in the latencies.
    pub unsent: u64,
    pub latency: Latency,
    pub get: OpReport,
    pub set: OpReport,
    pub delete: OpReport,
    /// Every operation's latency in nanoseconds, for `--hdr-out`.
    #[serde(skip)]
    pub histogram: Histogram<u64>,
}

impl Report {
    pub fn new(config: &Config, tally: &Tally) -> Self {
        let secs = tally.elapsed.as_secs_f64().max(1e-9);
        let mut all = tally.latency[0].clone();
        for h in &tally.latency[1..] {
            let _ = all.add(h);
        }
        let op = |i: usize| OpReport {
            requests: tally.latency[i].len(),
            throughput: tally.latency[i].len() as f64 / secs,
            latency: Latency::of(&tally.latency[i]),
        };
        let lookups = tally.hits + tally.misses;
        Report {
            target: config.target.to_string(),
            protocol: config.protocol.to_string(),
            connections: config.connections,
            threads: config.threads,
            pipeline: config.pipeline,
            mode: if config.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            rate: config.rate,
            keys: config.keys,
            key_size: config.key_size.to_string(),
            value_size: config.value_size.to_string(),
            key_dist: config.key_dist.to_string(),
            ratio: config.ratio.to_string(),
            multiget: config.multiget,
            read_size: config.io.read,
            write_size: config.io.write,
            planned_duration_s: match config.stop {
                Stop::After(d) => Some(d.as_secs_f64()),
                Stop::Requests(_) => None,
            },
            planned_requests: match config.stop {
                Stop::Requests(n) => Some(n),
                Stop::After(_) => None,
            },
            duration_s: secs,
            requests: tally.requests(),
            throughput: tally.requests() as f64 / secs,
            hits: tally.hits,
            misses: tally.misses,
            hit_ratio: if lookups == 0 {
                0.0
            } else {
                tally.hits as f64 / lookups as f64
            },
            deleted: tally.deleted,
            not_found: tally.not_found,
            errors: tally.errors(),
            wrong_values: tally.wrong_values,
            server_errors: tally.server_errors,
            lost: tally.lost,
            broken_connections: tally.broken_connections,
            unsent: tally.unsent,
            latency: Latency::of(&all),
            get: op(Op::Get as usize),
            set: op(Op::Set as usize),
            delete: op(Op::Delete as usize),
            histogram: all,
        }
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let loop_kind = match self.rate {
            Some(rate) => format!("open loop at {rate:.0} req/s"),
            None => "closed loop".to_string(),
        };
        out += &format!(
            "corvid bench: {} protocol, {}, {} connections on {} threads, pipeline {}, {}\n",
            self.protocol, self.target, self.connections, self.threads, self.pipeline, loop_kind
        );
        out += &format!(
            "workload: {} keys ({}), key size {}, value size {}, {}, multiget {}\n\n",
            self.keys, self.key_dist, self.key_size, self.value_size, self.ratio, self.multiget
        );
        out += &format!(
            "{:<8}{:>12}{:>14}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
            "op", "requests", "req/s", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us"
        );
        let row = |name: &str, requests: u64, throughput: f64, l: &Latency| {
            format!(
                "{:<8}{:>12}{:>14.1}{:>10.1}{:>10.1}{:>10.1}{:>10.1}{:>10.1}\n",
                name, requests, throughput, l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us
            )
        };
        for (name, op) in [
            ("get", &self.get),
            ("set", &self.set),
            ("delete", &self.delete),
        ] {
            if op.requests > 0 {
                out += &row(name, op.requests, op.throughput, &op.latency);
            }
        }
        out += &row("all", self.requests, self.throughput, &self.latency);
        out += &format!(
            "\n{:.2} s; hits {}, misses {} (hit ratio {:.1}%); deleted {}, not found {}\n",
            self.duration_s,
            self.hits,
            self.misses,
            self.hit_ratio * 100.0,
            self.deleted,
            self.not_found
        );
        out += &format!(
            "errors {} (wrong values {}, server errors {}, lost {}; broken connections {})\n",
            self.errors, self.wrong_values, self.server_errors, self.lost, self.broken_connections
        );
        if self.unsent > 0 {
            out += &format!(
                "behind schedule: {} requests were due but never sent (raise --pipeline or \
                 --connections, or the server cannot sustain --rate)\n",
                self.unsent
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Target;

    #[test]
    fn merged_tallies_add_up() {
        let mut a = Tally::new();
        a.record(Op::Get, Duration::from_micros(10));
        a.hits = 1;
        a.elapsed = Duration::from_secs(1);
        let mut b = Tally::new();
        b.record(Op::Set, Duration::from_micros(30));
        b.record(Op::Get, Duration::from_micros(20));
        b.wrong_values = 2;
        b.elapsed = Duration::from_secs(2);
        a.merge(&b);
        assert_eq!(a.requests(), 3);
        assert_eq!(a.errors(), 2);
        assert_eq!(a.elapsed, Duration::from_secs(2));
        let config = Config::new(Target::Tcp("127.0.0.1:1".parse().unwrap()));
        let report = Report::new(&config, &a);
        assert_eq!(report.get.requests, 2);
        assert!((report.throughput - 1.5).abs() < 1e-9);
        assert!((report.latency.max_us - 30.0).abs() < 0.1);
        let table = report.table();
        assert!(table.contains("wrong values 2"), "{table}");
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"p99_us\""));
    }
}
