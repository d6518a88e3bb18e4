//! The worker's loop turn on the io_uring backend: the ring waits, its completions
//! drive the sessions, and closed sessions are freed once the kernel is done with them
//! (docs/io.md, "io_uring").

use super::{Ready, Worker};
use crate::runtime::handler::Handler;
use crate::runtime::ring::{Op, Reaped};
use crate::runtime::session::Readiness;
use crate::runtime::session_ring::Then;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

impl<H: Handler> Worker<H> {
    /// One turn of the ring: watch the epoll, submit what sessions queued, wait at most
    /// `timeout`, and take in the completions. True if the epoll has events.
    pub(super) fn ring_turn(&mut self, timeout: Option<Duration>) -> std::io::Result<bool> {
        let epoll = self.poll.as_raw_fd();
        let Some(ring) = self.env.ring.as_mut() else {
            return Ok(false);
        };
        ring.arm_epoll(epoll);
        ring.enter(timeout)?;
        Ok(self.reap())
    }

    /// Takes in the ring's completions: each session's, then drives it. True if the
    /// epoll has events.
    fn reap(&mut self) -> bool {
        let mut reaped = std::mem::take(&mut self.reaped);
        if let Some(ring) = self.env.ring.as_mut() {
            ring.reap(&mut reaped);
        }
        let mut epoll = false;
        for r in reaped.drain(..) {
            match r {
                Reaped::Epoll => epoll = true,
                Reaped::Session {
                    slot,
                    op,
                    result,
                    flags,
                } => self.complete_io(slot as usize, op, result, flags),
            }
        }
        self.reaped = reaped;
        epoll
    }

    /// One completion of session `slot`'s operation.
    fn complete_io(&mut self, slot: usize, op: Op, result: i32, flags: u32) {
        let Some(session) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            // Never: a session stays in its slot while it has operations in flight. A
            // provided buffer must still go back.
            if let Some(ring) = self.env.ring.as_mut() {
                ring.take_received(flags, 0, |_| ());
            }
            return;
        };
        let then = session.ring_complete(&mut self.env, op, result, flags);
        if session.is_dying() {
            if !session.ring_busy() {
                self.finish_close(slot);
            }
            return;
        }
        let id = session.id();
        match then {
            Then::Drive => self.drive_one(id, Readiness::Turn),
            Then::Later => self.ready.push(Ready::Session(id)),
            Then::Nothing => {}
        }
    }

    /// Before the worker returns: closed sessions still waiting for their operations'
    /// completions get them (cancelled), so that they are freed after the kernel is done
    /// with their memory. Bounded: the ring's own Drop is the last guard.
    pub(super) fn settle_ring(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while self
            .env
            .ring
            .as_ref()
            .is_some_and(|ring| ring.in_flight() > 0)
            && Instant::now() < deadline
        {
            for slot in 0..self.sessions.len() {
                self.close(slot);
            }
            if let Some(ring) = self.env.ring.as_mut() {
                if ring.enter(Some(Duration::from_millis(10))).is_err() {
                    return;
                }
            }
            self.reap();
        }
    }
}
