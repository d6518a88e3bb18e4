//! A session's IO on the io_uring backend: the same seam as the epoll calls in
//! `session/socket_io.rs` (`fill`, `fill_target`, `flush`, `linger`), with operations submitted to
//! the worker's [`Ring`] and their completions fed back through
//! [`Session::ring_complete`].
//!
//! At most one receive and one send are in flight per session. The receive is multishot
//! while the session reads requests: armed once, it completes each time data arrives. A
//! session that must stop reading (parked, backpressured, its input near the limit, or
//! about to receive a value straight into its reservation) cancels it, and arms one again
//! when it reads on; bytes that arrive before the cancel takes effect are kept in its
//! read buffer, as if read. A send takes the whole
//! send queue with it (swapped with an empty one), so the handler keeps composing into
//! the other queue while the kernel reads this one: nothing the kernel reads moves or
//! changes until the send's completion. Everything the kernel touches lives in the
//! session's boxed [`RingIo`] or in memory the session owns until then (a pinned value,
//! the handler's target), and a session is never freed with an operation in flight.

use super::counters::bump;
use super::handler::Handler;
use super::life::{CloseReason, Life};
use super::ring::{Op, RECV_BUFFER, RECV_BUFFERS};
use super::session::{Drive, Env, Reading, Session, Step, MAX_INPUT};
use channel::IOVECS_PER_CALL;
use io_uring::cqueue;
use std::io::IoSlice;

/// The rest of a value at least this long is received straight into its target, not
/// through a provided buffer and the read buffer.
const DIRECT_MIN: usize = RECV_BUFFER;
/// A session with more input than this waiting stops its multishot receive (and receives
/// once at a time, for no more than the room left under `MAX_INPUT`, until it is back
/// under): a client that pipelines faster than its requests are served.
const MULTISHOT_INPUT: usize = MAX_INPUT / 4;
/// The most input a session holds. Past `MULTISHOT_INPUT` its receive is cancelled at the
/// next `io_uring_enter`, before the kernel receives anything more; until then, what it
/// received in the last one can still arrive, at most every provided buffer. Only a
/// cancel that found its receive between two steps (and is made again) lets more in,
/// and then the connection is closed.
const INPUT_CAP: usize = MULTISHOT_INPUT + (RECV_BUFFERS as usize + 1) * RECV_BUFFER;

/// What the worker does with a session after one of its completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// Drive it now.
    Drive,
    /// Drive it next turn (a receive found no provided buffer).
    Later,
    /// Nothing: the completion changes nothing it waits for.
    Nothing,
}

impl<H: Handler> Session<H> {
    /// Whether an operation is in flight (the session must not be freed).
    pub(crate) fn ring_busy(&self) -> bool {
        self.ring
            .as_ref()
            .is_some_and(|io| io.recv.is_some() || io.sending || io.watching || io.cancels > 0)
    }

    /// Closed, waiting for its operations' completions.
    pub(crate) fn is_dying(&self) -> bool {
        self.ring.as_ref().is_some_and(|io| io.dying)
    }

    /// The worker closes it with operations in flight: cancel them; the session is
    /// freed at the last completion.
    pub(crate) fn start_dying(&mut self, env: &mut Env<H>) {
        let slot = self.id().slot();
        if let (Some(io), Some(ring)) = (self.ring.as_deref_mut(), env.ring.as_mut()) {
            if !io.dying {
                io.dying = true;
                io.cancels += u8::from(ring.cancel(slot, io.file));
            }
        }
    }

    /// After a turn: a session that must not read (parked, backpressured, over
    /// `MULTISHOT_INPUT` of input waiting) stops its multishot receive. A parked one with no receive in
    /// flight has a poll watch for a reset, which nothing reading would see until the
    /// completion came (once; it stays armed after resuming).
    pub(super) fn ring_settle(&mut self, env: &mut Env<H>) {
        let slot = self.id().slot();
        let parked = self.life == Life::Parked;
        let stop = parked || self.life == Life::Backpressured || self.input.len() > MULTISHOT_INPUT;
        let (Some(io), Some(ring)) = (self.ring.as_deref_mut(), env.ring.as_mut()) else {
            return;
        };
        if io.dying {
            return;
        }
        if stop && io.recv_multi && !io.recv_stopping {
            io.cancels += u8::from(ring.stop_recv(slot));
            io.recv_stopping = true;
        }
        if parked && !io.watching && io.recv.is_none() && !io.finished() {
            io.watching = ring.watch(slot, io.file);
        }
    }

    /// The connection is finished (a reset, an error, or a receive saw its end): what
    /// a parked session checks.
    pub(super) fn ring_hung_up(&self) -> bool {
        self.ring.as_ref().is_some_and(|io| io.failed)
    }

    /// Receives into provided buffers, unless a receive is in flight: multishot while
    /// the input is at most `MULTISHOT_INPUT`, else once, for no more than the room left.
    pub(super) fn ring_fill(&mut self, env: &mut Env<H>) -> Step {
        let closing = matches!(self.life, Life::Closing { .. });
        let slot = self.id().slot();
        let room = MAX_INPUT.saturating_sub(self.input.len());
        let Some(io) = self.ring.as_deref_mut() else {
            return Step::Close;
        };
        if io.recv.is_some() {
            // A multishot receive may have brought more than the limit before it was
            // stopped: the request is over the bound either way.
            return if room == 0 { Step::Close } else { Step::Wait };
        }
        if io.finished() {
            // As with epoll: a closing session that is still busy waits for its
            // completions instead of reading a finished stream again.
            return if closing { Step::Wait } else { Step::Close };
        }
        if room == 0 {
            return Step::Close;
        }
        let Some(ring) = env.ring.as_mut() else {
            return Step::Close;
        };
        let multi = ring.multishot() && self.input.len() <= MULTISHOT_INPUT;
        let pushed = match multi {
            true => ring.recv_multi(slot, io.file),
            false => ring.recv(slot, io.file, room.min(RECV_BUFFER) as u32),
        };
        if !pushed {
            io.failed = true;
            return Step::Close;
        }
        io.recv = Some(Op::Recv);
        io.recv_multi = multi;
        Step::Wait
    }

    /// Fills the handler's target: from the buffer, else straight from the socket (a
    /// receive into the target itself) when much is missing, else through the buffer.
    pub(super) fn ring_fill_target(&mut self, env: &mut Env<H>, filled: usize, len: usize) -> Step {
        let slot = self.id().slot();
        let target = self.handler.target();
        let len = len.min(target.len());
        if filled >= len {
            self.reading = Reading::Parse { need: 0 };
            return Step::Progress;
        }
        let rest = &mut target[filled..len];
        if !self.input.is_empty() {
            let n = self.input.take_into(rest);
            self.reading = Reading::Into {
                filled: filled + n,
                len,
            };
            return Step::Progress;
        }
        if rest.len() < DIRECT_MIN {
            return self.ring_fill(env);
        }
        let (Some(io), Some(ring)) = (self.ring.as_deref_mut(), env.ring.as_mut()) else {
            return Step::Close;
        };
        if io.recv.is_some() {
            // A multishot receive stops first; what it still brings goes straight into
            // the target too (`ring_complete`). A shorter rest comes through it, straight
            // from each provided buffer into the target: one copy more than a receive
            // into the target, but no cancel and no receive armed again after the value.
            if io.recv_multi && !io.recv_stopping && rest.len() >= ring.direct_stop() {
                io.cancels += u8::from(ring.stop_recv(slot));
                io.recv_stopping = true;
            }
            return Step::Wait;
        }
        if io.finished() {
            return Step::Close;
        }
        let want = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        // SAFETY: `rest` is the handler's target (a value's reservation), which the
        // handler keeps, in place, until the value is complete or `gone` is called. The
        // value is complete only once this receive's completion has been counted
        // (`ring_complete`), and `gone` comes only when the session is freed, which waits
        // for every operation in flight. Nothing reads the target meanwhile: the session
        // waits for this receive before it calls the handler's `step` again.
        let pushed = unsafe { ring.recv_into(slot, io.file, rest.as_mut_ptr(), want) };
        if !pushed {
            io.failed = true;
            return Step::Close;
        }
        io.recv = Some(Op::RecvInto);
        Step::Wait
    }

    /// Hands queued output to the kernel, unless a send is in flight (the rest goes when
    /// it completes). False when the connection is finished.
    pub(super) fn ring_flush(&mut self, env: &mut Env<H>) -> bool {
        let Some(io) = self.ring.as_deref_mut() else {
            return false;
        };
        if io.failed {
            return false;
        }
        if io.sending || io.dying {
            return true;
        }
        if io.flying.is_empty() {
            if self.output.is_empty() {
                return true;
            }
            std::mem::swap(&mut self.output, &mut io.flying);
        }
        self.submit_send(env)
    }

    /// Sends (the rest of) the in-flight queue.
    fn submit_send(&mut self, env: &mut Env<H>) -> bool {
        let slot = self.id().slot();
        let (Some(io), Some(ring)) = (self.ring.as_deref_mut(), env.ring.as_mut()) else {
            return false;
        };
        let iovec = |slice: &[u8]| libc::iovec {
            iov_base: slice.as_ptr() as *mut libc::c_void,
            iov_len: slice.len(),
        };
        // One contiguous reply (unpipelined requests): no gather list to build (a 64-entry
        // one is a kilobyte to fill per send).
        let pushed = if let Some(bytes) = io.flying.single() {
            // SAFETY: the bytes are `io.flying`'s (its scratch buffer's heap storage, or a
            // pinned value): nothing changes `io.flying` until this send's completion
            // (`ring_flush` does not touch it while `sending`; new output goes to the other
            // queue), and the session is freed only once nothing is in flight. One iovec
            // is copied into the submission, so it need not outlive this call.
            unsafe { ring.send(slot, io.file, &[iovec(bytes)], &mut io.msg) }
        } else {
            let mut slices = [IoSlice::new(&[]); IOVECS_PER_CALL];
            let count = io.flying.gather(&mut slices);
            io.iov.clear();
            io.iov
                .extend(slices[..count].iter().map(|slice| iovec(slice)));
            // SAFETY: as above for the bytes; the iovecs and the msghdr live in this
            // session's boxed `RingIo` (the Vec is changed only by the next send, after
            // this one's completion), which is freed only once nothing is in flight.
            unsafe { ring.send(slot, io.file, &io.iov, &mut io.msg) }
        };
        if !pushed {
            io.failed = true;
            return false;
        }
        io.sending = true;
        true
    }

    /// A lingering session drops what the client still sends, until it closes.
    pub(super) fn ring_linger(&mut self, env: &mut Env<H>) -> Drive {
        self.input.consume(self.input.len());
        match self.ring_fill(env) {
            Step::Close => Drive::Close,
            _ if self.ring.as_ref().is_some_and(|io| io.finished()) => Drive::Close,
            _ => Drive::Wait,
        }
    }

    /// Unsent output handed to the kernel.
    pub(crate) fn flying(&self) -> usize {
        self.ring.as_ref().map_or(0, |io| io.flying())
    }

    /// Takes in the completion of one of its operations.
    pub(crate) fn ring_complete(
        &mut self,
        env: &mut Env<H>,
        op: Op,
        result: i32,
        flags: u32,
    ) -> Then {
        let slot = self.id().slot();
        let Some(io) = self.ring.as_deref_mut() else {
            return Then::Nothing;
        };
        let counters = env.shared.counters();
        match op {
            Op::Recv | Op::RecvInto => {
                if !cqueue::more(flags) {
                    // The receive ended (a multishot one's last completion).
                    io.recv = None;
                    io.recv_multi = false;
                    io.recv_stopping = false;
                }
                if result == -libc::ENOBUFS {
                    return Then::Later;
                }
                if result == -libc::ECANCELED && !io.dying {
                    // Stopped by the session: it reads on when it can (or arms its watch).
                    return Then::Drive;
                }
                let n = match usize::try_from(result) {
                    Ok(0) => {
                        io.eof = true;
                        // The client hung up: memcached's "normal" close (as on epoll).
                        self.why = CloseReason::Normal;
                        return Then::Drive;
                    }
                    Ok(n) => n,
                    Err(_) => {
                        io.failed = true;
                        return Then::Drive;
                    }
                };
                bump(&counters.bytes_read, n as u64);
                if op == Op::RecvInto {
                    if let Reading::Into { filled, len } = self.reading {
                        self.reading = Reading::Into {
                            filled: filled + n,
                            len,
                        };
                    }
                    return Then::Drive;
                }
                // Bytes a value waits for go straight into its target; the rest (the
                // value's end, requests behind it) into the read buffer, up to
                // `INPUT_CAP`.
                let (input, pool) = (&mut self.input, &mut env.pool);
                let (reading, handler) = (&mut self.reading, &mut self.handler);
                let taken = env.ring.as_mut().and_then(|ring| {
                    ring.take_received(flags, n, |mut bytes| {
                        if let Reading::Into { filled, len } = *reading {
                            let target = handler.target();
                            let len = len.min(target.len());
                            if input.is_empty() && filled < len {
                                let k = bytes.len().min(len - filled);
                                target[filled..filled + k].copy_from_slice(&bytes[..k]);
                                *reading = Reading::Into {
                                    filled: filled + k,
                                    len,
                                };
                                bytes = &bytes[k..];
                            }
                        }
                        if input.len() + bytes.len() > INPUT_CAP {
                            return false;
                        }
                        if !bytes.is_empty() {
                            input.append(pool, bytes);
                        }
                        true
                    })
                });
                if taken != Some(true) {
                    io.failed = true;
                }
                Then::Drive
            }
            Op::Cancel => {
                io.cancels = io.cancels.saturating_sub(1);
                // Found nothing while what it was for is still in flight: the operation
                // was between two steps in the kernel (a multishot receive being
                // requeued). Cancel again.
                if result == -libc::ENOENT {
                    let ring = env.ring.as_mut();
                    if let Some(ring) = ring {
                        if io.dying && (io.recv.is_some() || io.sending || io.watching) {
                            io.cancels += u8::from(ring.cancel(slot, io.file));
                        } else if !io.dying && io.recv_stopping && io.recv.is_some() {
                            io.cancels += u8::from(ring.stop_recv(slot));
                        }
                    }
                }
                Then::Nothing
            }
            Op::Watch => {
                io.watching = false;
                let hangup = (libc::POLLERR | libc::POLLHUP) as i32;
                if result > 0 && result & hangup != 0 {
                    io.failed = true;
                    return Then::Drive;
                }
                Then::Nothing
            }
            Op::Send => {
                io.sending = false;
                let Ok(n) = usize::try_from(result) else {
                    io.failed = true;
                    return Then::Drive;
                };
                bump(&counters.bytes_written, n as u64);
                io.flying.sent(n);
                if !io.flying.is_empty() {
                    // A partial send, or more segments than one send carries.
                    let dying = io.dying;
                    if !dying && !self.submit_send(env) {
                        return Then::Drive;
                    }
                    return Then::Nothing;
                }
                io.flying.release_if_empty(&mut env.pool);
                // Only what waited for the output needs a drive: more output, the
                // watermarks, a close.
                if !self.output.is_empty() || self.life != Life::Active || self.watch_drain {
                    Then::Drive
                } else {
                    // `stats conns` showed it writing: no longer.
                    self.publish_state(0);
                    Then::Nothing
                }
            }
        }
    }

    /// Gives the in-flight queue's storage back (the session is being freed).
    pub(super) fn ring_release(&mut self, env: &mut Env<H>) {
        if let Some(io) = self.ring.as_deref_mut() {
            io.flying.clear(&mut env.pool);
        }
    }
}
