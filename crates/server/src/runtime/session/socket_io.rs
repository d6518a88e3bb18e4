//! The session's IO seam on the epoll backend: every system call a session makes on its
//! stream (`fill`, `fill_target`, `flush`, `shutdown_write`, `linger`). Each one hands
//! over to `session_ring.rs` when the session's IO is on the worker's ring.

use super::{Drive, Env, Reading, Session, Step, MAX_INPUT};
use crate::runtime::counters::bump;
use crate::runtime::handler::Handler;
use crate::runtime::life::{CloseReason, Life};
use channel::{Abort, Outcome};

/// Reads a lingering session may discard per turn, so that a client that keeps sending
/// cannot hold its worker past the drain deadline.
const LINGER_READS: usize = 64;

/// The session's IO: every system call it makes on its stream.
impl<H: Handler> Session<H> {
    /// Reads more input into the buffer.
    pub(super) fn fill(&mut self, env: &mut Env<H>) -> Step {
        if self.ring.is_some() {
            return self.ring_fill(env);
        }
        if self.drained {
            return Step::Wait;
        }
        match self.input.fill(&mut env.pool, &mut self.stream, MAX_INPUT) {
            Outcome::Done(0) => Step::Close,
            Outcome::Done(n) => {
                bump(&env.shared.counters().bytes_read, n as u64);
                self.drained = self.settled();
                Step::Progress
            }
            Outcome::Retry => Step::Wait,
            // Already closing and still busy: its handler waits for work in flight (a
            // proxy's client for its backends' replies), which only a completion brings;
            // reading the closed stream again would spin.
            Outcome::Abort(_) if matches!(self.life, Life::Closing { .. }) => Step::Wait,
            Outcome::Abort(why) => {
                if why == Abort::Closed {
                    // The client hung up: memcached's "normal" close.
                    self.why = CloseReason::Normal;
                }
                Step::Close
            }
        }
    }

    /// After a read: whether the next one would only say `Retry` until an event (a plain
    /// socket's short read; a TLS stream that holds nothing and read the socket empty).
    pub(super) fn settled(&self) -> bool {
        !self.read_closed
            && if self.edge_reads {
                self.input.last_fill_was_short()
            } else {
                self.stream.input_drained()
            }
    }

    /// Fills the handler's target: first from the buffer, then straight from the socket,
    /// with one `readv` for the rest of the target and, behind it, whatever follows (the
    /// value's "\r\n" and the next request): a large set costs two reads, not three.
    pub(super) fn fill_target(&mut self, env: &mut Env<H>, filled: usize, len: usize) -> Step {
        if self.ring.is_some() {
            return self.ring_fill_target(env, filled, len);
        }
        let target = self.handler.target();
        let len = len.min(target.len());
        if filled < len {
            let rest = &mut target[filled..len];
            if !self.input.is_empty() {
                let n = self.input.take_into(rest);
                self.reading = Reading::Into {
                    filled: filled + n,
                    len,
                };
                return Step::Progress;
            }
            if self.drained {
                return Step::Wait;
            }
            let room = rest.len();
            return match self
                .input
                .fill_behind(&mut env.pool, &mut self.stream, rest)
            {
                Outcome::Done(n) => {
                    bump(&env.shared.counters().bytes_read, n as u64);
                    self.drained = self.settled();
                    self.reading = Reading::Into {
                        filled: filled + n.min(room),
                        len,
                    };
                    Step::Progress
                }
                Outcome::Retry => Step::Wait,
                Outcome::Abort(_) => Step::Close,
            };
        }
        // All in: the handler takes it from here, whatever else is buffered.
        self.reading = Reading::Parse { need: 0 };
        Step::Progress
    }

    /// Writes queued output (and what the stream still holds of earlier writes); false
    /// when the peer is gone.
    pub(super) fn flush(&mut self, env: &mut Env<H>) -> bool {
        if self.ring.is_some() {
            return self.ring_flush(env);
        }
        if self.output.is_empty() {
            return !self.stream.holds_output()
                || !matches!(self.stream.send_held(), Outcome::Abort(_));
        }
        let before = self.output.pending();
        let outcome = self.output.flush(&mut self.stream);
        let sent = before - self.output.pending();
        bump(&env.shared.counters().bytes_written, sent as u64);
        if matches!(outcome, Outcome::Abort(_)) {
            return false;
        }
        // A TLS stream may hold the last records it encrypted: out they go too.
        !(self.stream.holds_output() && matches!(self.stream.send_held(), Outcome::Abort(_)))
    }

    /// Lingering begins: FIN after the last reply. True if the stream is already broken.
    pub(super) fn shutdown_write(&mut self) -> bool {
        matches!(self.stream.shutdown_write(), Outcome::Abort(_))
    }

    /// Reads and drops what a lingering client still sends, until it closes.
    pub(super) fn linger(&mut self, env: &mut Env<H>) -> Drive {
        if self.ring.is_some() {
            return self.ring_linger(env);
        }
        let mut sink = [0u8; 16 * 1024];
        for _ in 0..LINGER_READS {
            match self.stream.read(&mut sink) {
                Outcome::Done(_) => {}
                Outcome::Retry => return Drive::Wait,
                Outcome::Abort(_) => return Drive::Close,
            }
        }
        Drive::Yielded
    }
}
