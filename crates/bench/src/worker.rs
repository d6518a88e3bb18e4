//! One load thread: a mio event loop driving its share of the connections, in closed
//! loop (keep `pipeline` requests in flight) or open loop (send on a fixed schedule and
//! time each request from when it was due, so a stalled server cannot hide its stalls
//! by slowing the client down).

use crate::codec::Protocol;
use crate::config::{Config, Stop};
use crate::connection::{Connection, Request, Stream, Turn};
use crate::content::Content;
use crate::distribution::KeyDist;
use crate::error::BenchError;
use crate::report::Tally;
use crate::rng::Rng;
use crate::timer::Timer;
use mio::{Events, Interest, Poll, Token};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long to wait for the last replies after sending stops.
const DRAIN: Duration = Duration::from_secs(5);

/// Upper bound on one poll, so deadlines are noticed even when nothing happens.
const TICK: Duration = Duration::from_millis(100);

/// The open-loop timer's token; connections use their index.
const TIMER: Token = Token(usize::MAX);

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

/// Requests in flight per connection while prefilling, whatever the measured pipeline.
const PREFILL_DEPTH: usize = 16;

/// The running state of one phase: what is left to send, what is owed, and when.
struct Plan {
    phase: Phase,
    start: Instant,
    /// Requests not yet sent.
    remaining: u64,
    /// Requests sent and not yet answered, over all connections.
    outstanding: usize,
    /// Connections not retired.
    live: usize,
    /// Requests in flight allowed per connection.
    window: usize,
    deadline: Option<Instant>,
    /// Open loop: time between sends; `None` is closed loop.
    interval: Option<Duration>,
    /// Open loop: when the next request is due.
    next_due: Instant,
    /// Prefill: the next key id to set.
    prefill_next: u64,
}

impl Plan {
    fn sending(&self, now: Instant) -> bool {
        self.remaining > 0 && self.live > 0 && self.deadline.is_none_or(|d| now < d)
    }
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
    /// Connections that stopped reading at their size limit: read again next turn.
    reread: Vec<usize>,
    /// The lists' other halves, swapped in while a turn walks them (no allocation).
    dirty_turn: Vec<usize>,
    reread_turn: Vec<usize>,
    /// Open loop: the connection the next due request tries first.
    next_conn: usize,
    timer: Timer,
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
                config.io,
            ));
        }
        let timer = Timer::new().map_err(BenchError::Poll)?;
        timer
            .register(poll.registry(), TIMER)
            .map_err(BenchError::Poll)?;
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
            reread: Vec::with_capacity(connections),
            dirty_turn: Vec::with_capacity(connections),
            reread_turn: Vec::with_capacity(connections),
            next_conn: 0,
            timer,
        })
    }

    fn plan(&self, phase: Phase) -> Plan {
        let start = Instant::now();
        let live = self.conns.iter().filter(|c| !c.broken).count();
        let mut plan = Plan {
            phase,
            start,
            remaining: 0,
            outstanding: 0,
            live,
            window: self.config.pipeline,
            deadline: None,
            interval: None,
            next_due: start,
            prefill_next: 0,
        };
        match phase {
            Phase::Prefill { first, step } => {
                plan.remaining = self.config.keys.saturating_sub(first).div_ceil(step);
                plan.window = self.config.pipeline.max(PREFILL_DEPTH);
                plan.prefill_next = first;
            }
            Phase::Measure { requests } => {
                plan.remaining = requests;
                if let Stop::After(d) = self.config.stop {
                    plan.deadline = Some(start + d);
                }
                plan.interval = self
                    .config
                    .rate
                    .map(|rate| Duration::from_secs_f64(self.config.threads as f64 / rate));
            }
        }
        plan
    }

    /// Runs one phase to its end and returns what it saw.
    pub fn run(&mut self, phase: Phase, progress: &Progress) -> Result<Tally, BenchError> {
        let mut tally = Tally::new();
        let mut published = [0u64; 4];
        let mut plan = self.plan(phase);
        let mut drain_until: Option<Instant> = None;
        let mut last_reply = plan.start;
        if plan.interval.is_none() {
            // Closed loop fills every window once here; after that a connection is
            // topped up the moment its replies are read, so the server gets the next
            // request while the client is still reading the other connections.
            let now = Instant::now();
            for i in 0..self.conns.len() {
                self.top_up(&mut plan, i, now);
            }
        }
        let mut now = Instant::now();
        loop {
            let sending = plan.sending(now);
            if sending && plan.interval.is_some() {
                self.send_due(&mut plan, now);
            }
            self.reread_last_turn(&mut plan, &mut tally, &mut last_reply);
            self.flush_dirty(&mut plan, &mut tally);
            if !sending {
                if drain_until.is_none() {
                    tally.unsent = plan.unsent(now);
                }
                if plan.outstanding == 0 || plan.live == 0 {
                    break;
                }
                let until = *drain_until.get_or_insert(now + DRAIN);
                if now >= until {
                    break;
                }
            }
            let timeout = if !self.dirty.is_empty() || !self.reread.is_empty() {
                // Work left over from this turn: look for events, do not wait for them.
                Duration::ZERO
            } else {
                match drain_until {
                    Some(until) => until.saturating_duration_since(now).min(TICK),
                    None => plan.timeout(now),
                }
            };
            if let Some(gap) = plan.until_due(now) {
                self.timer.arm(gap).map_err(BenchError::Poll)?;
            }
            if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(BenchError::Poll(e));
                }
            }
            // Taken out for the loop so that sending (which needs `&mut self`) can happen
            // while walking the events; swapped back after, so nothing is allocated.
            let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
            for event in events.iter() {
                if event.token() == TIMER {
                    self.timer.clear();
                    continue;
                }
                let i = event.token().0;
                if self.conns[i].broken {
                    continue;
                }
                let mut ok = true;
                if event.is_writable() {
                    ok = self.write(i);
                }
                if ok && (event.is_readable() || event.is_read_closed() || event.is_error()) {
                    ok = self.read(&mut plan, &mut tally, i, &mut last_reply);
                }
                if !ok {
                    self.retire(&mut plan, &mut tally, i);
                }
            }
            self.events = events;
            progress.publish(&tally, &mut published);
            now = Instant::now();
        }
        for i in 0..self.conns.len() {
            if !self.conns[i].broken && self.conns[i].outstanding() > 0 {
                // Replies still missing after the drain: the connection is out of step
                // with whatever arrives later, so retire it (lost, not broken).
                self.retire(&mut plan, &mut tally, i);
                tally.broken_connections -= 1;
            }
        }
        progress.publish(&tally, &mut published);
        tally.elapsed = last_reply.saturating_duration_since(plan.start);
        Ok(tally)
    }

    /// Closed loop: sends until connection `i` has a full window in flight.
    fn top_up(&mut self, plan: &mut Plan, i: usize, now: Instant) {
        while plan.remaining > 0
            && !self.conns[i].broken
            && self.conns[i].outstanding() < plan.window
        {
            self.send_next(plan, i, now);
        }
    }

    /// Open loop: every request that is due goes out, stamped with the time it was due;
    /// if every window is full it waits, and its waiting is counted in its latency.
    fn send_due(&mut self, plan: &mut Plan, now: Instant) {
        let (Some(interval), n) = (plan.interval, self.conns.len()) else {
            return;
        };
        while plan.remaining > 0 && plan.next_due <= now {
            let mut tries = 0;
            while self.conns[self.next_conn].broken
                || self.conns[self.next_conn].outstanding() >= plan.window
            {
                self.next_conn = (self.next_conn + 1) % n;
                tries += 1;
                if tries == n {
                    return;
                }
            }
            let due = plan.next_due;
            self.send_next(plan, self.next_conn, due);
            self.next_conn = (self.next_conn + 1) % n;
            plan.next_due += interval;
        }
    }

    fn send_next(&mut self, plan: &mut Plan, i: usize, start: Instant) {
        let request = match plan.phase {
            Phase::Prefill { step, .. } => {
                let id = plan.prefill_next;
                plan.prefill_next += step;
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
        plan.remaining -= 1;
        plan.outstanding += 1;
    }

    /// One write for every connection with output waiting; those that stopped at their
    /// write size come back next turn.
    fn flush_dirty(&mut self, plan: &mut Plan, tally: &mut Tally) {
        std::mem::swap(&mut self.dirty, &mut self.dirty_turn);
        let mut turn = std::mem::take(&mut self.dirty_turn);
        for &i in &turn {
            self.conns[i].dirty = false;
            if !self.conns[i].broken && !self.write(i) {
                self.retire(plan, tally, i);
            }
        }
        turn.clear();
        self.dirty_turn = turn;
    }

    /// Reads again from the connections that stopped at their read size last turn.
    fn reread_last_turn(&mut self, plan: &mut Plan, tally: &mut Tally, last: &mut Instant) {
        std::mem::swap(&mut self.reread, &mut self.reread_turn);
        let mut turn = std::mem::take(&mut self.reread_turn);
        for &i in &turn {
            self.conns[i].reread = false;
            if !self.conns[i].broken && !self.read(plan, tally, i, last) {
                self.retire(plan, tally, i);
            }
        }
        turn.clear();
        self.reread_turn = turn;
    }

    /// Writes what connection `i` has queued; false if it broke.
    fn write(&mut self, i: usize) -> bool {
        match self.conns[i].flush() {
            Ok(Turn::Wait) => true,
            Ok(Turn::Again) => {
                if !self.conns[i].dirty {
                    self.conns[i].dirty = true;
                    self.dirty.push(i);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Reads connection `i`'s replies and, in closed loop, sends what they made room
    /// for at once; false if it broke.
    fn read(&mut self, plan: &mut Plan, tally: &mut Tally, i: usize, last: &mut Instant) -> bool {
        let read_at = Instant::now();
        let completed = match self.conns[i].receive(self.protocol, &self.content, read_at, tally) {
            Ok((completed, turn)) => {
                if turn == Turn::Again && !self.conns[i].reread {
                    self.conns[i].reread = true;
                    self.reread.push(i);
                }
                completed
            }
            Err(_) => return false,
        };
        if completed == 0 {
            return true;
        }
        *last = read_at;
        plan.outstanding -= completed;
        if plan.interval.is_none() && plan.sending(read_at) {
            self.top_up(plan, i, Instant::now());
            return self.write(i);
        }
        true
    }

    /// Takes a broken connection out of service; what it owed is counted as lost.
    fn retire(&mut self, plan: &mut Plan, tally: &mut Tally, i: usize) {
        let conn = &mut self.conns[i];
        plan.outstanding -= conn.outstanding();
        conn.abandon(tally);
        tally.broken_connections += 1;
        plan.live -= 1;
        let _ = self.poll.registry().deregister(conn.stream.source());
    }
}

impl Plan {
    /// How long the loop may sleep in epoll.
    fn timeout(&self, now: Instant) -> Duration {
        match self.deadline {
            Some(d) => TICK.min(d.saturating_duration_since(now)),
            None => TICK,
        }
    }

    /// Open loop, while sending: how long until the next request is due, if it is not
    /// due yet (when it is overdue, the loop is waiting for a window, i.e. for replies).
    fn until_due(&self, now: Instant) -> Option<Duration> {
        let due_later = self.interval.is_some() && self.next_due > now && self.sending(now);
        due_later.then(|| self.next_due - now)
    }

    /// Open loop: requests that fell due before the end but never went out. A server
    /// that cannot keep up with --rate must not look better for it.
    fn unsent(&self, now: Instant) -> u64 {
        let Some(interval) = self.interval else {
            return 0;
        };
        let end = self.deadline.map_or(now, |d| d.min(now));
        if self.next_due >= end || self.remaining == 0 {
            return 0;
        }
        let due = (end - self.next_due).as_secs_f64() / interval.as_secs_f64();
        (due.ceil() as u64).min(self.remaining)
    }
}
