//! Per-command latency: how long the server took from starting on a request to handing
//! its reply to the kernel, in histograms each worker keeps for itself.
//!
//! ```
//! use server::runtime::{Histogram, Latency};
//! let worker = Latency::default();
//! worker.record(3, 2, 1_500); // two requests of kind 3 that took 1.5 µs
//! let h: Histogram = worker.snapshot(3);
//! assert_eq!((h.count(), h.percentile(0.5)), (2, Some(2)));
//! ```
//!
//! What it costs the hot path is what decided the shape:
//!
//! - **Per turn, not per request.** A session's turn reads input, answers every request
//!   it holds and writes the replies with one system call. The clock is read when the
//!   turn first hands input to the handler and again after the write; every request the
//!   turn answered is charged that span. Two clock reads per turn, whatever the
//!   pipelining depth, and none for a turn that only wrote or read nothing. Turns that
//!   run back to back (a worker serving one session after another, without waiting in
//!   between) share a reading: the next turn starts at the moment the last one finished
//!   ([`Tally::idle`] forgets it when the worker is about to wait), so a busy worker reads
//!   the clock once per turn, and a turn's span also holds what little the worker did
//!   for that session before it first handed input to the handler.
//! - **No sharing.** Each worker records into its own histograms (atomics on the
//!   worker's own cache lines, written by that worker only with a plain load and store);
//!   readers (`stats latency`, `/metrics`) sum the workers'. No atomic is ever written
//!   by two threads.
//! - **Counted in a register-sized tally first.** A handler says what kind of request it
//!   answered ([`Tally::add`]: an add and an or on worker-local memory); the histograms
//!   are touched once per kind per turn.
//!
//! Buckets are powers of two of microseconds: bucket `k` counts latencies in
//! (2^(k-1), 2^k] µs (bucket 0: up to 1 µs), the last one everything above 2^23 µs (8.4 s).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Adds `n` to a counter only this thread writes (as `counters::bump`, which imports this
/// module).
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Kinds of request a service may name (`Service::commands`): indexes below this.
pub const KINDS: usize = 32;
/// Buckets per histogram: up to 1 µs, 2 µs, 4 µs ... 2^23 µs, then the rest.
pub const BUCKETS: usize = 25;

/// The upper bound of bucket `k` in microseconds; None for the last (unbounded) one.
pub fn bucket_bound_us(k: usize) -> Option<u64> {
    (k + 1 < BUCKETS).then(|| 1u64 << k)
}

/// The bucket of a latency of `nanos` nanoseconds.
#[inline]
fn bucket_of(nanos: u64) -> usize {
    let micros = nanos.div_ceil(1000);
    if micros <= 1 {
        return 0;
    }
    ((u64::BITS - (micros - 1).leading_zeros()) as usize).min(BUCKETS - 1)
}

/// One worker's histograms, one per kind of request.
#[derive(Debug)]
#[repr(align(64))]
pub struct Latency {
    counts: [[AtomicU64; BUCKETS]; KINDS],
    sums_ns: [AtomicU64; KINDS],
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            counts: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            sums_ns: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Latency {
    /// Records `count` requests of `kind` that took `nanos` each. Only the owning worker
    /// calls this.
    #[inline]
    pub fn record(&self, kind: usize, count: u64, nanos: u64) {
        self.add(kind, bucket_of(nanos), count, nanos);
    }

    /// [`Latency::record`] with the bucket of `nanos` already found.
    #[inline]
    fn add(&self, kind: usize, bucket: usize, count: u64, nanos: u64) {
        let (Some(row), Some(sum)) = (self.counts.get(kind), self.sums_ns.get(kind)) else {
            return;
        };
        if let Some(c) = row.get(bucket) {
            bump(c, count);
        }
        bump(sum, nanos.saturating_mul(count));
    }

    /// A copy of `kind`'s histogram (empty for a kind out of range).
    pub fn snapshot(&self, kind: usize) -> Histogram {
        let mut h = Histogram::default();
        h.add_from(self, kind);
        h
    }

    /// Empties every histogram (`stats reset`). Racing with the owner's `record` can lose
    /// that one record, as memcached's reset can lose a concurrent count.
    pub fn reset(&self) {
        for row in &self.counts {
            for c in row {
                c.store(0, Relaxed);
            }
        }
        for s in &self.sums_ns {
            s.store(0, Relaxed);
        }
    }
}

/// A histogram read out of one or more workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Requests per bucket (not cumulative).
    pub counts: [u64; BUCKETS],
    /// Sum of the latencies, in nanoseconds.
    pub sum_ns: u64,
}

impl Histogram {
    /// Adds `worker`'s histogram of `kind` to this one.
    pub fn add_from(&mut self, worker: &Latency, kind: usize) {
        let Some(row) = worker.counts.get(kind) else {
            return;
        };
        for (mine, theirs) in self.counts.iter_mut().zip(row) {
            *mine += theirs.load(Relaxed);
        }
        self.sum_ns = self
            .sum_ns
            .saturating_add(worker.sums_ns[kind].load(Relaxed));
    }

    /// Requests counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper bound in microseconds of the bucket holding the `q` quantile (0..=1);
    /// None when empty or when it falls in the unbounded last bucket.
    pub fn percentile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (k, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_bound_us(k);
            }
        }
        None
    }
}

/// Nanoseconds on the monotonic clock (`CLOCK_MONOTONIC`, the clock `Instant` reads).
/// Read directly because two `Instant`s cost more to subtract than to read: callgrind
/// counted 37 instructions per turn in `Timespec::sub_timespec` (overflow checks, a
/// `Duration`) plus the conversion to nanoseconds, against a `u64` subtraction here.
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`, which lives for the call;
    // CLOCK_MONOTONIC exists on every Linux, so it cannot fail with a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    // tv_sec and tv_nsec are never negative on the monotonic clock.
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// What a worker's current turn has answered, by kind, and when the turn started.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    counts: [u32; KINDS],
    /// Bit k: `counts[k]` is not zero.
    kinds: u32,
    /// [`monotonic_ns`] when the turn started; 0 when no turn is being timed.
    started: u64,
    /// [`monotonic_ns`] when the last timed turn finished, while the worker has been busy
    /// ever since (0: unknown, or it waited).
    last: u64,
}

impl Tally {
    /// The turn is about to hand input to a handler: the clock starts, unless it has.
    #[inline]
    pub(crate) fn begin(&mut self) {
        if self.started == 0 {
            self.started = match self.last {
                0 => monotonic_ns(),
                last => last,
            };
        }
    }

    /// The worker is about to wait (for events, completions): the next turn reads the
    /// clock afresh.
    #[inline]
    pub(crate) fn idle(&mut self) {
        self.last = 0;
    }

    /// A request of `kind` was answered.
    #[inline]
    pub(crate) fn add(&mut self, kind: usize) {
        if let Some(c) = self.counts.get_mut(kind) {
            *c += 1;
            self.kinds |= 1 << kind;
        }
    }

    /// Whether a turn is being timed.
    #[inline]
    pub(crate) fn started(&self) -> bool {
        self.started != 0
    }

    /// The turn is over (its replies written): charges its span to every request it
    /// answered, in `into`, and starts afresh. The bucket is found once per turn.
    pub(crate) fn finish(&mut self, into: &Latency) {
        let started = std::mem::take(&mut self.started);
        if started == 0 || self.kinds == 0 {
            // Not read now: what the worker does next is not known to follow at once.
            self.last = 0;
            return;
        }
        let now = monotonic_ns();
        self.last = now;
        let nanos = now.saturating_sub(started);
        let bucket = bucket_of(nanos);
        let mut kinds = std::mem::take(&mut self.kinds);
        while kinds != 0 {
            let k = kinds.trailing_zeros() as usize;
            kinds &= kinds - 1;
            let count = u64::from(std::mem::take(&mut self.counts[k]));
            into.add(k, bucket, count, nanos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_of_microseconds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1_000), 0);
        assert_eq!(bucket_of(1_001), 1);
        assert_eq!(bucket_of(2_000), 1);
        assert_eq!(bucket_of(2_001), 2);
        assert_eq!(bucket_of(4_000), 2);
        assert_eq!(bucket_of(1_000_000), 10);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_bound_us(0), Some(1));
        assert_eq!(bucket_bound_us(10), Some(1024));
        assert_eq!(bucket_bound_us(BUCKETS - 1), None);
    }

    #[test]
    fn snapshots_sum_and_reset() {
        let w = Latency::default();
        w.record(0, 3, 500);
        w.record(0, 1, 3_000_000);
        w.record(KINDS, 1, 1); // out of range: ignored
        let h = w.snapshot(0);
        assert_eq!(h.count(), 4);
        assert_eq!(h.sum_ns, 3 * 500 + 3_000_000);
        assert_eq!(h.percentile(0.5), Some(1));
        assert_eq!(h.percentile(1.0), Some(4096));
        let mut both = h;
        both.add_from(&w, 0);
        assert_eq!(both.count(), 8);
        w.reset();
        assert_eq!(w.snapshot(0), Histogram::default());
        assert_eq!(Histogram::default().percentile(0.99), None);
    }

    #[test]
    fn the_monotonic_clock_agrees_with_instant() {
        let (t0, i0) = (monotonic_ns(), std::time::Instant::now());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (t1, elapsed) = (monotonic_ns(), i0.elapsed());
        assert!(t0 > 0 && t1 >= t0);
        let ns = u64::try_from(elapsed.as_nanos()).expect("fits");
        // Both read CLOCK_MONOTONIC; they differ only by when each was read.
        assert!((t1 - t0).abs_diff(ns) < 5_000_000, "{} vs {ns}", t1 - t0);
    }

    #[test]
    fn a_tally_charges_its_turn_to_each_kind_once() {
        let w = Latency::default();
        let mut t = Tally::default();
        t.finish(&w); // nothing started: nothing recorded
        t.begin();
        t.add(2);
        t.add(2);
        t.add(5);
        assert!(t.started());
        t.finish(&w);
        assert!(!t.started());
        assert_eq!(w.snapshot(2).count(), 2);
        assert_eq!(w.snapshot(5).count(), 1);
        // A turn that answered nothing records nothing.
        t.begin();
        t.finish(&w);
        assert_eq!(w.snapshot(2).count(), 2);
    }

    #[test]
    fn back_to_back_turns_share_a_clock_reading_until_the_worker_waits() {
        let w = Latency::default();
        let mut t = Tally::default();
        t.begin();
        t.add(1);
        t.finish(&w);
        let finished = t.last;
        assert!(finished > 0);
        // The next turn starts where the last one finished: no clock read.
        t.begin();
        assert_eq!(t.started, finished);
        t.add(1);
        t.finish(&w);
        assert!(t.last >= finished);
        assert_eq!(w.snapshot(1).count(), 2);
        // After a wait, the clock is read afresh.
        t.idle();
        std::thread::sleep(std::time::Duration::from_millis(2));
        t.begin();
        assert!(t.started >= finished + 1_000_000);
        // A turn that answered nothing forgets the reading too.
        t.finish(&w);
        assert_eq!(t.last, 0);
    }
}
