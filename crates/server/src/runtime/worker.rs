//! A worker thread: one `mio::Poll`, the sessions it owns, its ports, its run queue.
//!
//! Each loop turn: poll (not waiting when work is pending), drive the sessions that had
//! events, take up to [`MESSAGES_PER_TURN`] messages (new connections, completions from
//! other threads, shutdown), drive the sessions that yielded last turn, fire due
//! deadlines, and once a second close idle sessions. After each of these steps (after
//! all the events of a poll, not after each), opened sessions are registered and
//! worker-local completions delivered; a session that received completions is then
//! driven once, whatever their number, so a proxy's backend connection that many
//! clients wrote to in one turn makes one `writev`, and a client that got replies from
//! several backends one write.

use super::agenda::{Agenda, LOCAL_PER_TURN};
use super::counters::bump;
use super::handler::{Handler, Port, Service, WorkerShared};
use super::handshakes::Handshakes;
use super::id::ConnId;
use super::queue::Message;
use super::ring::{Reaped, Ring};
use super::session::{Drive, Env, Readiness, Session, Wake};
use channel::BufferPool;
use mio::{Events, Poll, Token};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod arrival;
mod closing;
pub(crate) mod handle;
mod ring_turn;

const WAKER: Token = Token(usize::MAX);
/// Ports' tokens count down from just below the waker's.
const FIRST_PORT: usize = usize::MAX - 1;
/// Run-queue messages taken per loop turn, so posts cannot starve sessions.
const MESSAGES_PER_TURN: usize = 64;
/// Size of pooled read buffers and reply scratch. A request line plus a value up to
/// this size is served from the read buffer; larger values go straight into their
/// target. 16 KiB by measurement (docs/io.md, `bench/thresholds`); `CORVID_READ_BUFFER`
/// at build time overrides it for such measurements.
pub const BUFFER_SIZE: usize =
    crate::config::build_size(option_env!("CORVID_READ_BUFFER"), 16 * 1024);
/// Spare buffers a worker keeps.
const POOL_KEEP: usize = 64;
/// How long a shutting-down worker waits for slow readers and parked sessions.
pub(crate) const DRAIN_DEADLINE: Duration = Duration::from_secs(4);
/// How often a worker with idle timeouts or a shutdown to watch wakes up on its own.
const TICK: Duration = Duration::from_millis(100);

/// The poll token of port `i`.
pub(crate) fn port_token(i: usize) -> Token {
    Token(FIRST_PORT - i)
}

/// What the worker is woken for besides readiness events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ready {
    Session(ConnId),
    Port(usize),
}

pub(crate) struct Worker<H: Handler> {
    env: Env<H>,
    poll: Poll,
    /// Indexed by slot.
    sessions: Vec<Option<Session<H>>>,
    ports: Vec<Box<dyn Port<H>>>,
    /// Sessions and ports with work left and no readiness event coming.
    ready: Vec<Ready>,
    /// Sessions woken by completions or deadlines, to drive once each.
    woken: Vec<ConnId>,
    stopping: Option<Instant>,
    /// TLS handshakes: a budget per turn, a deadline each.
    handshakes: Handshakes,
    /// Completions reaped from the ring this turn (storage kept between turns).
    reaped: Vec<Reaped>,
}

impl<H: Handler> Worker<H> {
    pub(crate) fn new(
        shared: WorkerShared<H::Completion>,
        service: Arc<H::Service>,
        poll: Poll,
        ports: Vec<Box<dyn Port<H>>>,
    ) -> Worker<H> {
        let local = service.local(shared.index);
        let ring = Ring::configured(&shared.config);
        let handshake_timeout = shared
            .config
            .tls
            .as_ref()
            .map_or(Duration::from_secs(10), |tls| tls.handshake_timeout);
        Worker {
            env: Env {
                service,
                shared,
                agenda: Agenda::new(local),
                pool: BufferPool::new(BUFFER_SIZE, POOL_KEEP),
                ring,
                stopping: false,
            },
            poll,
            sessions: Vec::new(),
            ports,
            ready: Vec::new(),
            woken: Vec::new(),
            stopping: None,
            handshakes: Handshakes::new(handshake_timeout),
            reaped: Vec::new(),
        }
    }

    pub(crate) fn run(&mut self) {
        {
            let service = self.env.service.clone();
            let (mut cx, _) = self.env.split(None);
            service.start(&mut cx);
        }
        self.after_drive();
        let mut events = Events::with_capacity(1024);
        let mut messages = Vec::new();
        let mut more_messages = false;
        let mut last_sweep = Instant::now();
        loop {
            self.env.service.turn_end(self.env.shared.index);
            let timeout = self.timeout(more_messages);
            if timeout != Some(Duration::ZERO) {
                self.env.agenda.tally.idle();
            }
            self.handshakes.new_turn();
            // On the ring, the ring waits and the epoll is read, without waiting, only
            // when it has events.
            let epoll_wait = match self.env.ring.is_some() {
                false => Some(timeout),
                true => match self.ring_turn(timeout) {
                    Ok(epoll_ready) => epoll_ready.then_some(Some(Duration::ZERO)),
                    Err(e) => {
                        eprintln!(
                            "worker {}: io_uring_enter failed: {e}",
                            self.env.shared.index
                        );
                        self.settle_ring();
                        return;
                    }
                },
            };
            if let Some(wait) = epoll_wait {
                if let Err(e) = self.poll.poll(&mut events, wait) {
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        eprintln!("worker {}: poll failed: {e}", self.env.shared.index);
                        self.settle_ring();
                        return;
                    }
                }
                for event in events.iter() {
                    let token = event.token();
                    if token == WAKER {
                        more_messages = true;
                    } else if let Some(id) = ConnId::from_token(token) {
                        self.drive_one(id, Readiness::Event(event));
                    } else {
                        self.drive_port(FIRST_PORT - token.0);
                    }
                }
            }
            self.after_drive();
            self.rest_of_turn(&mut messages, &mut more_messages, &mut last_sweep);
            if self.done() {
                return;
            }
        }
    }

    /// Everything of a loop turn after the events: messages, the ready list, deadlines,
    /// idle sessions.
    fn rest_of_turn(
        &mut self,
        messages: &mut Vec<Message<H::Completion>>,
        more_messages: &mut bool,
        last_sweep: &mut Instant,
    ) {
        if *more_messages {
            *more_messages = self.env.shared.queue.drain(MESSAGES_PER_TURN, messages);
            for message in messages.drain(..) {
                self.receive(message);
            }
            self.after_drive();
        }
        if !self.ready.is_empty() {
            self.drive_ready();
        }
        if self.env.agenda.next_deadline().is_some() {
            self.expire_deadlines();
        }
        if self.handshakes.next_deadline().is_some() {
            self.expire_handshakes();
        }
        if let Some(idle) = self.env.shared.config.idle_timeout {
            if last_sweep.elapsed() >= Duration::from_secs(1) {
                *last_sweep = Instant::now();
                self.close_idle(idle);
            }
        }
    }

    /// Whether the worker is done: stopping, and every session closed or the drain
    /// deadline passed (then it closes the rest).
    fn done(&mut self) -> bool {
        let Some(since) = self.stopping else {
            return false;
        };
        if self.sessions.iter().all(Option::is_none) || since.elapsed() > DRAIN_DEADLINE {
            for slot in 0..self.sessions.len() {
                self.close(slot);
            }
            self.settle_ring();
            return true;
        }
        false
    }

    fn timeout(&self, more_messages: bool) -> Option<Duration> {
        if !self.ready.is_empty()
            || more_messages
            || self.env.agenda.has_work()
            || !self.woken.is_empty()
        {
            return Some(Duration::ZERO);
        }
        let mut timeout =
            if self.stopping.is_some() || self.env.shared.config.idle_timeout.is_some() {
                Some(TICK)
            } else {
                None
            };
        for at in [
            self.env.agenda.next_deadline(),
            self.handshakes.next_deadline(),
        ]
        .into_iter()
        .flatten()
        {
            let until = at.saturating_duration_since(Instant::now());
            timeout = Some(timeout.map_or(until, |t| t.min(until)));
        }
        timeout
    }

    /// Drives what yielded last turn.
    fn drive_ready(&mut self) {
        let ready = std::mem::take(&mut self.ready);
        for r in &ready {
            match *r {
                Ready::Session(id) => self.drive_one(id, Readiness::Turn),
                Ready::Port(i) => self.drive_port(i),
            }
        }
        self.after_drive();
        // Hand the vector's storage back so the ready list does not reallocate.
        let mut ready = ready;
        ready.clear();
        if self.ready.is_empty() {
            self.ready = ready;
        }
    }

    fn receive(&mut self, message: Message<H::Completion>) {
        match message {
            Message::Adopt(stream, security, listener) => self.adopt(stream, security, listener),
            Message::Complete(id, completion) => self.deliver(id, Wake::Completion(completion)),
            Message::Shutdown => {
                // Whatever was delivered before is driven first, then every session stops.
                self.after_drive();
                self.begin_shutdown();
            }
        }
    }

    fn begin_shutdown(&mut self) {
        self.stopping = Some(Instant::now());
        self.env.stopping = true;
        for slot in 0..self.sessions.len() {
            let Some(session) = self.sessions[slot].as_mut() else {
                continue;
            };
            session.stop();
            let id = session.id();
            self.drive_one(id, Readiness::Turn);
        }
    }

    /// Drives one session, unless it has closed; `ready` says what woke it.
    #[inline]
    fn drive_one(&mut self, id: ConnId, ready: Readiness<'_>) {
        let Some(session) = open_session(&mut self.sessions, id) else {
            return;
        };
        if session.stream.is_handshaking() {
            if !self.handshakes.admit() {
                // Over this turn's handshake budget: next turn (once in the list).
                if !session.deferred {
                    session.deferred = true;
                    self.ready.push(Ready::Session(id));
                }
                return;
            }
            session.deferred = false;
        }
        let drive = session.drive(&mut self.env, ready);
        self.settle_latency();
        match drive {
            Drive::Wait => {}
            Drive::Yielded => self.ready.push(Ready::Session(id)),
            Drive::Close => self.close(id.slot() as usize),
        }
    }

    /// Charges the turn just driven to the requests it answered (its replies are written
    /// by now, as far as the socket took them).
    #[inline]
    fn settle_latency(&mut self) {
        if self.env.agenda.tally.started() {
            let counters = &self.env.shared.counters;
            self.env.agenda.tally.finish(&counters.latency);
        }
    }

    /// Hands a completion or a deadline to a session, or counts it stale. The session is
    /// driven later, once, with every other session woken meanwhile (`drive_woken`).
    fn deliver(&mut self, id: ConnId, wake: Wake<H::Completion>) {
        let env = &mut self.env;
        let Some(session) = open_session(&mut self.sessions, id) else {
            if matches!(wake, Wake::Completion(_)) {
                bump(&env.shared.counters().stale_completions, 1);
            }
            return;
        };
        if session.wake(env, wake) && !session.woken {
            session.woken = true;
            self.woken.push(id);
        }
    }

    /// Drives each woken session once.
    fn drive_woken(&mut self) {
        let mut woken = std::mem::take(&mut self.woken);
        for &id in &woken {
            if let Some(session) = open_session(&mut self.sessions, id) {
                session.woken = false;
                self.drive_one(id, Readiness::Turn);
            }
        }
        // Keep the vector's storage, so that waking allocates nothing.
        woken.clear();
        if self.woken.is_empty() {
            self.woken = woken;
        }
    }

    /// Registers sessions handlers opened, delivers worker-local completions, and drives
    /// the sessions they woke. Called once after each thing the worker does (after all
    /// the events of a poll), never from within another delivery, so sessions completing
    /// each other make a loop, not a deep stack.
    #[inline]
    fn after_drive(&mut self) {
        if self.env.agenda.has_work() || !self.woken.is_empty() {
            self.run_agenda();
        }
    }

    #[cold]
    fn run_agenda(&mut self) {
        let mut budget = LOCAL_PER_TURN;
        loop {
            self.insert_opened();
            while budget > 0 {
                // A completion resumes its session at once, and that handler may open a
                // session and complete it in one go: the new session must exist before
                // the completion addressed to it is delivered, or it is dropped as stale.
                if !self.env.agenda.opens.is_empty() {
                    self.insert_opened();
                }
                let Some((id, completion)) = self.env.agenda.completions.pop_front() else {
                    break;
                };
                budget -= 1;
                self.deliver(id, Wake::Completion(completion));
            }
            if self.woken.is_empty() {
                return;
            }
            self.drive_woken();
            if budget == 0 {
                // The rest waits for the next turn (the poll does not block while it
                // does).
                return;
            }
        }
    }

    /// Registers the sessions handlers opened.
    fn insert_opened(&mut self) {
        while let Some((id, stream, handler)) = self.env.agenda.opens.pop() {
            self.insert(Session::new(stream, id, None, handler));
        }
    }

    fn expire_deadlines(&mut self) {
        let now = Instant::now();
        while let Some((at, id)) = self.env.agenda.due(now) {
            self.deliver(id, Wake::Deadline(at));
        }
        self.after_drive();
    }

    /// Closes sessions whose TLS handshake did not finish in time.
    fn expire_handshakes(&mut self) {
        let now = Instant::now();
        while let Some(id) = self.handshakes.due(now) {
            let Some(session) = open_session(&mut self.sessions, id) else {
                continue;
            };
            if session.stream.is_handshaking() {
                session.stream.abandon_handshake();
                self.close(id.slot() as usize);
            }
        }
        self.after_drive();
    }

    fn drive_port(&mut self, i: usize) {
        if self.stopping.is_some() || i >= self.ports.len() {
            return;
        }
        self.env.agenda.tally.begin();
        let (mut cx, pool) = self.env.split(None);
        let more = self.ports[i].ready(&mut cx, pool);
        self.settle_latency();
        if more {
            self.ready.push(Ready::Port(i));
        }
        self.after_drive();
    }
}

/// Session `id` in its slot, unless it has closed (the slot is empty or holds a later
/// connection).
#[inline]
fn open_session<H: Handler>(
    sessions: &mut [Option<Session<H>>],
    id: ConnId,
) -> Option<&mut Session<H>> {
    sessions
        .get_mut(id.slot() as usize)?
        .as_mut()
        .filter(|s| s.id() == id && !s.is_dying())
}
