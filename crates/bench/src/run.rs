//! Runs a whole benchmark: connects every thread's connections, prefills, measures,
//! prints progress once a second, and merges the threads' tallies into one report.

use crate::config::{Config, Stop};
use crate::content::Content;
use crate::error::BenchError;
use crate::report::{Report, Tally};
use crate::worker::{Phase, Progress, Worker};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

enum Message {
    Prefilled(Result<Tally, BenchError>),
    Measured(Result<Tally, BenchError>),
}

pub fn run(config: &Config) -> Result<Report, BenchError> {
    config.validate()?;
    let content = Content::new(config.keys, config.key_size, config.value_size)?;
    let threads = config.threads;
    let mut workers = Vec::with_capacity(threads);
    for t in 0..threads {
        let connections = share(config.connections as u64, threads, t) as usize;
        let seed = config.seed.wrapping_mul(0x9e37_79b9).wrapping_add(t as u64);
        workers.push(Worker::new(config, connections, content.clone(), seed)?);
    }
    let requests = |t: usize| match config.stop {
        Stop::Requests(n) => share(n, threads, t),
        Stop::After(_) => u64::MAX,
    };
    let prefill_progress = Arc::new(Progress::default());
    let measure_progress = Arc::new(Progress::default());
    let barrier = Arc::new(Barrier::new(threads));
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::with_capacity(threads);
    for (t, mut worker) in workers.into_iter().enumerate() {
        let (tx, barrier) = (tx.clone(), barrier.clone());
        let (prefill_progress, measure_progress) =
            (prefill_progress.clone(), measure_progress.clone());
        let prefill = config.prefill;
        let requests = requests(t);
        handles.push(std::thread::spawn(move || {
            if prefill {
                let phase = Phase::Prefill {
                    first: t as u64,
                    step: threads as u64,
                };
                let result = worker.run(phase, &prefill_progress);
                let failed = result.is_err();
                let _ = tx.send(Message::Prefilled(result));
                // Everyone measures from the same moment, on a full cache.
                barrier.wait();
                if failed {
                    return;
                }
            }
            if requests > 0 {
                let result = worker.run(Phase::Measure { requests }, &measure_progress);
                let _ = tx.send(Message::Measured(result));
            } else {
                let _ = tx.send(Message::Measured(Ok(Tally::new())));
            }
        }));
    }
    drop(tx);

    let mut prefill_tally = Tally::new();
    let mut tally = Tally::new();
    let mut prefilled = 0;
    let mut measured = 0;
    let mut failure = None;
    let mut ticker = Ticker::new(config.progress);
    let expected_prefills = if config.prefill { threads } else { 0 };
    while measured < threads {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(Message::Prefilled(result)) => {
                prefilled += 1;
                match result {
                    Ok(t) => prefill_tally.merge(&t),
                    Err(e) => failure = Some(e),
                }
                if prefilled == expected_prefills {
                    ticker.finish_prefill(&prefill_tally, config.keys);
                }
            }
            Ok(Message::Measured(result)) => {
                measured += 1;
                match result {
                    Ok(t) => tally.merge(&t),
                    Err(e) => failure = Some(e),
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if prefilled < expected_prefills {
                    ticker.tick("prefill", &prefill_progress);
                } else {
                    ticker.tick("", &measure_progress);
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    for handle in handles {
        handle.join().map_err(|_| BenchError::ThreadPanicked)?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if measured < threads {
        return Err(BenchError::ThreadPanicked);
    }
    if tally.broken_connections as usize >= config.connections {
        return Err(BenchError::AllConnectionsLost);
    }
    Ok(Report::new(config, &tally))
}

/// Thread `t`'s share of `total`, spreading the remainder over the first threads.
fn share(total: u64, threads: usize, t: usize) -> u64 {
    let threads = threads as u64;
    total / threads + u64::from((t as u64) < total % threads)
}

/// The once-a-second progress line on stderr.
struct Ticker {
    enabled: bool,
    started: Instant,
    last: Instant,
    last_requests: u64,
}

impl Ticker {
    fn new(enabled: bool) -> Self {
        let now = Instant::now();
        Ticker {
            enabled,
            started: now,
            last: now,
            last_requests: 0,
        }
    }

    fn tick(&mut self, label: &str, progress: &Progress) {
        let now = Instant::now();
        let requests = progress.requests.load(Ordering::Relaxed);
        let hits = progress.hits.load(Ordering::Relaxed);
        let misses = progress.misses.load(Ordering::Relaxed);
        let errors = progress.errors.load(Ordering::Relaxed);
        let rate = (requests - self.last_requests.min(requests)) as f64
            / now.duration_since(self.last).as_secs_f64().max(1e-9);
        self.last = now;
        self.last_requests = requests;
        if !self.enabled {
            return;
        }
        let lookups = hits + misses;
        let hit_ratio = if lookups == 0 {
            0.0
        } else {
            100.0 * hits as f64 / lookups as f64
        };
        eprintln!(
            "[{:>4.0}s] {label:<8}{requests:>12} requests {rate:>12.0} req/s  hits {hit_ratio:>5.1}%  errors {errors}",
            now.duration_since(self.started).as_secs_f64()
        );
    }

    fn finish_prefill(&mut self, tally: &Tally, keys: u64) {
        if self.enabled || tally.errors() > 0 {
            eprintln!(
                "prefill: {} of {keys} keys set in {:.2} s, {} errors",
                tally.requests(),
                tally.elapsed.as_secs_f64(),
                tally.errors()
            );
        }
        let now = Instant::now();
        self.started = now;
        self.last = now;
        self.last_requests = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_add_up() {
        for (total, threads) in [(10, 3), (2, 4), (0, 2), (1000, 1)] {
            let sum: u64 = (0..threads).map(|t| share(total, threads, t)).sum();
            assert_eq!(sum, total);
        }
        assert_eq!(share(10, 3, 0), 4);
        assert_eq!(share(10, 3, 2), 3);
    }
}
