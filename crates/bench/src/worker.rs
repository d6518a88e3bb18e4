//! One load thread: a mio event loop driving its share of the connections, in closed
//! loop (keep `pipeline` requests in flight) or open loop (send on a fixed schedule and
//! time each request from when it was due, so a stalled server cannot hide its stalls
//! by slowing the client down).

use crate::config::{Config, Stop};
use crate::connection::{Connection, Request, Stream};
use crate::content::Content;
use crate::distribution::KeyDist;
use crate::error::BenchError;
use crate::report::Tally;
use crate::rng::Rng;
use crate::wire::Protocol;
use mio::{Events, Interest, Poll, Token};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long to wait for the last replies after sending stops.
const DRAIN: Duration = Duration::from_secs(5);

/// Upper bound on one poll, so deadlines are noticed even when nothing happens.
const TICK: Duration = Duration::from_millis(100);

/// Live counters the main thread reads once a second for the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    pub requests: AtomicU64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub errors: AtomicU64,
}

impl Progress {
    fn publish(&self, tally: &Tally, last: &mut [u64; 4]) {
        let now = [tally.requests(), tally.hits, tally.misses, tally.errors()];
        for ((counter, now), last) in [&self.requests, &self.hits, &self.misses, &self.errors]
            .into_iter()
            .zip(now)
            .zip(last.iter_mut())
        {
            counter.fetch_add(now - *last, Ordering::Relaxed);
            *last = now;
        }
    }
}

/// Where the requests of a phase come from.
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    /// Set every key this thread owns once (ids `first`, `first + step`, ...).
    Prefill { first: u64, step: u64 },
    /// The configured mix, `requests` of them at most.
    Measure { requests: u64 },
}

pub struct Worker {
    poll: Poll,
    events: Events,
    conns: Vec<Connection>,
    protocol: Protocol,
    content: Content,
    key_dist: KeyDist,
    rng: Rng,
    config: Config,
    ids: Vec<u64>,
    /// Connections with unsent requests, flushed once per turn.
    dirty: Vec<usize>,
}

impl Worker {
    pub fn new(
        config: &Config,
        connections: usize,
        content: Content,
        seed: u64,
    ) -> Result<Self, BenchError> {
        let poll = Poll::new().map_err(BenchError::Poll)?;
        let mut conns = Vec::with_capacity(connections);
        for i in 0..connections {
            let mut stream = Stream::connect(&config.target)?;
            poll.registry()
                .register(
                    stream.source(),
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(BenchError::Poll)?;
            conns.push(Connection::new(
                stream,
                config.pipeline.max(PREFILL_DEPTH),
                config.multiget,
            ));
        }
        Ok(Worker {
            poll,
            events: Events::with_capacity(1024),
            conns,
            protocol: config.protocol,
            content,
            key_dist: config.key_dist.build(config.keys),
            rng: Rng::new(seed),
            config: config.clone(),
            ids: vec![0; config.multiget],
            dirty: Vec::with_capacity(connections),
        })
    }

    /// Runs one phase to its end and returns what it saw.
    pub fn run(&mut self, phase: Phase, progress: &Progress) -> Result<Tally, BenchError> {
        let mut tally = Tally::new();
        let mut published = [0u64; 4];
        let start = Instant::now();
        let (mut remaining, deadline, window, interval) = match phase {
            Phase::Prefill { first, step } => {
                let owned = self.config.keys.saturating_sub(first).div_ceil(step);
                (owned, None, self.config.pipeline.max(PREFILL_DEPTH), None)
            }
            Phase::Measure { requests } => {
                let deadline = match self.config.stop {
                    Stop::After(d) => Some(start + d),
                    Stop::Requests(_) => None,
                };
                let interval = self
                    .config
                    .rate
                    .map(|rate| Duration::from_secs_f64(self.config.threads as f64 / rate));
                (requests, deadline, self.config.pipeline, interval)
            }
        };
        let mut prefill_next = match phase {
            Phase::Prefill { first, .. } => first,
            Phase::Measure { .. } => 0,
        };
        let mut next_due = start;
        let mut rr = 0usize;
        let mut drain_until: Option<Instant> = None;
        let mut last_reply = start;
        let mut now = start;
        // Connections that may take more requests in closed loop: all of them at first,
        // then only those that just got replies, so a turn costs O(events), not
        // O(connections).
        let mut ready: Vec<usize> = (0..self.conns.len()).collect();
        let mut outstanding = 0usize;
        let mut live = self.conns.iter().filter(|c| !c.broken).count();
        loop {
            let sending = remaining > 0 && deadline.is_none_or(|d| now < d) && live > 0;
            if !sending {
                if let (Some(interval), None) = (interval, drain_until) {
                    // Requests that fell due before the end but never went out: a
                    // server that cannot keep up with --rate must not look better for it.
                    let end = deadline.map_or(now, |d| d.min(now));
                    if next_due < end && remaining > 0 {
                        let due = (end - next_due).as_secs_f64() / interval.as_secs_f64();
                        tally.unsent = (due.ceil() as u64).min(remaining);
                    }
                }
                if outstanding == 0 || live == 0 {
                    break;
                }
                let until = *drain_until.get_or_insert(now + DRAIN);
                if now >= until {
                    break;
                }
            }
            if sending {
                match interval {
                    None => {
                        // Closed loop: top each ready connection up to its window. The
                        // clock is read again so that parsing the last batch of replies
                        // is not charged to the next requests.
                        now = Instant::now();
                        for &i in &ready {
                            while remaining > 0
                                && !self.conns[i].broken
                                && self.conns[i].outstanding() < window
                            {
                                self.send_next(i, phase, &mut prefill_next, now);
                                remaining -= 1;
                                outstanding += 1;
                            }
                        }
                    }
                    Some(interval) => {
                        // Open loop: every request that is due goes out, stamped with the
                        // time it was due; if every window is full it waits, and its
                        // waiting is counted in its latency.
                        let n = self.conns.len();
                        'due: while remaining > 0 && next_due <= now {
                            let mut tries = 0;
                            while self.conns[rr].broken || self.conns[rr].outstanding() >= window {
                                rr = (rr + 1) % n;
                                tries += 1;
                                if tries == n {
                                    break 'due;
                                }
                            }
                            self.send_next(rr, phase, &mut prefill_next, next_due);
                            rr = (rr + 1) % n;
                            next_due += interval;
                            remaining -= 1;
                            outstanding += 1;
                        }
                    }
                }
                self.flush_dirty(&mut tally, &mut outstanding, &mut live);
            }
            ready.clear();
            let mut timeout = TICK;
            if sending {
                if let Some(d) = deadline {
                    timeout = timeout.min(d.saturating_duration_since(now));
                }
                if interval.is_some() && next_due > now {
                    // epoll sleeps in whole milliseconds, rounded up: sleep the whole
                    // milliseconds before the next send is due and spin the rest, or
                    // every request would start up to a millisecond late.
                    let gap = next_due - now;
                    timeout = timeout.min(Duration::from_millis(gap.as_millis() as u64));
                }
            } else if let Some(until) = drain_until {
                timeout = timeout.min(until.saturating_duration_since(now));
            }
            if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(BenchError::Poll(e));
                }
            }
            now = Instant::now();
            for event in self.events.iter() {
                let i = event.token().0;
                let conn = &mut self.conns[i];
                if conn.broken {
                    continue;
                }
                let mut ok = true;
                if event.is_writable() {
                    ok = conn.flush().is_ok();
                }
                if ok && (event.is_readable() || event.is_read_closed() || event.is_error()) {
                    match conn.receive(self.protocol, &self.content, now, &mut tally) {
                        Ok(0) => {}
                        Ok(n) => {
                            last_reply = now;
                            outstanding -= n;
                            ready.push(i);
                        }
                        Err(_) => ok = false,
                    }
                }
                if !ok {
                    retire(conn, &self.poll, &mut tally, &mut outstanding, &mut live);
                }
            }
            progress.publish(&tally, &mut published);
        }
        for conn in &mut self.conns {
            if !conn.broken && conn.outstanding() > 0 {
                // Replies still missing after the drain: the connection is out of step
                // with whatever arrives later, so retire it.
                retire(conn, &self.poll, &mut tally, &mut outstanding, &mut live);
                tally.broken_connections -= 1;
            }
        }
        progress.publish(&tally, &mut published);
        tally.elapsed = last_reply.saturating_duration_since(start);
        Ok(tally)
    }

    fn send_next(&mut self, i: usize, phase: Phase, prefill_next: &mut u64, start: Instant) {
        let request = match phase {
            Phase::Prefill { step, .. } => {
                let id = *prefill_next;
                *prefill_next += step;
                let len = self.content.value_size().sample(&mut self.rng);
                Request::Set { id, len }
            }
            Phase::Measure { .. } => {
                let ratio = self.config.ratio;
                let pick = self.rng.below(ratio.total());
                if pick < ratio.get as u64 {
                    for slot in self.ids.iter_mut() {
                        *slot = self.key_dist.sample(&mut self.rng);
                    }
                    Request::Get(&self.ids)
                } else if pick < ratio.get as u64 + ratio.set as u64 {
                    let id = self.key_dist.sample(&mut self.rng);
                    let len = self.content.value_size().sample(&mut self.rng);
                    Request::Set { id, len }
                } else {
                    Request::Delete(self.key_dist.sample(&mut self.rng))
                }
            }
        };
        let conn = &mut self.conns[i];
        if !conn.dirty {
            self.dirty.push(i);
        }
        conn.send(request, self.protocol, &self.content, start);
    }

    fn flush_dirty(&mut self, tally: &mut Tally, outstanding: &mut usize, live: &mut usize) {
        for i in self.dirty.drain(..) {
            let conn = &mut self.conns[i];
            if !conn.broken && conn.flush().is_err() {
                retire(conn, &self.poll, tally, outstanding, live);
            }
        }
    }
}

/// Takes a broken connection out of service; what it owed is counted as lost.
fn retire(
    conn: &mut Connection,
    poll: &Poll,
    tally: &mut Tally,
    outstanding: &mut usize,
    live: &mut usize,
) {
    *outstanding -= conn.outstanding();
    conn.abandon(tally);
    tally.broken_connections += 1;
    *live -= 1;
    let _ = poll.registry().deregister(conn.stream.source());
}

/// Requests in flight per connection while prefilling, whatever the measured pipeline.
const PREFILL_DEPTH: usize = 16;
