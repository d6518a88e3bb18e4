//! The io_uring backend's ring, one per worker (`-o io_backend=uring`; docs/io.md,
//! "io_uring").
//!
//! A worker submits its sessions' receives and sends here and reaps their completions,
//! all in one `io_uring_enter` per loop turn. A session's receive is multishot: submitted
//! once, it completes each time data arrives, taking a buffer from a ring of provided
//! buffers only then, so an idle connection with a receive armed holds no memory; the
//! session copies the bytes into its read buffer and the buffer goes straight back.
//! Sockets are registered in the ring's file table, so operations name them by index
//! (`IOSQE_FIXED_FILE`). The rest of a large value is received straight into its
//! reservation. The worker's epoll (its run queue's waker, UDP ports, TLS sessions) is
//! watched through the ring as well, by a poll of the epoll descriptor.
//!
//! Memory the kernel writes or reads while an operation is in flight (a provided buffer,
//! a value's reservation, a send queue's bytes and its iovecs) stays alive and in place
//! until the operation's completion has been reaped: a session that closes with
//! operations in flight is kept (its operations cancelled) until the last of them
//! completes, and the ring waits for every operation before its buffers are freed.

mod files;
mod provided;

use channel::SendQueue;
pub(crate) use files::File;
use files::Files;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use provided::Buffers;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

/// Size of one provided receive buffer: a whole pooled read buffer's worth.
pub(crate) const RECV_BUFFER: usize = 16 * 1024;
/// Provided buffers per worker (a power of two). A buffer is held only between a
/// receive's completion and the copy out of it in the same turn; receives that find
/// none left complete with `ENOBUFS` and are submitted again next turn.
pub(crate) const RECV_BUFFERS: u16 = 128;
/// The provided-buffer group of every receive.
const GROUP: u16 = 0;
/// Submission queue entries; the completion queue is four times as large (and the
/// kernel keeps overflowing completions rather than drop them).
const ENTRIES: u32 = 1024;

/// `user_data` of the epoll descriptor's poll, and of the ring's own cancellation of
/// everything (when dropped).
const EPOLL: u64 = u64::MAX;
const CANCEL: u64 = u64::MAX - 1;

/// What a session's operation was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// A receive into a provided buffer.
    Recv = 0,
    /// A receive straight into the handler's target (a value's reservation).
    RecvInto = 1,
    /// A send of the session's in-flight queue.
    Send = 2,
    /// A poll for a hang-up (reset, error) while parked, when nothing else would see it.
    Watch = 3,
    /// A cancellation of the session's multishot receive, or of all its operations.
    /// Its result is how many it found: none (`ENOENT`) while one is still in flight
    /// means it was between two steps in the kernel, and the session cancels again.
    Cancel = 4,
}

impl Op {
    fn tag(self, slot: u32) -> u64 {
        (u64::from(slot) << 3) | self as u64
    }

    fn from_tag(tag: u64) -> Option<(u32, Op)> {
        let op = match tag & 7 {
            0 => Op::Recv,
            1 => Op::RecvInto,
            2 => Op::Send,
            3 => Op::Watch,
            4 => Op::Cancel,
            _ => return None,
        };
        Some((u32::try_from(tag >> 3).ok()?, op))
    }
}

/// A reaped completion.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reaped {
    /// The worker's epoll has events.
    Epoll,
    /// A session's operation finished: `result` as the system call would return it
    /// (negative errno on failure), `flags` the completion's (the provided buffer).
    Session {
        slot: u32,
        op: Op,
        result: i32,
        flags: u32,
    },
}

/// What is in flight for one session, and what its completions said.
pub(crate) struct RingIo<P> {
    /// Its socket, as operations name it.
    pub(crate) file: File,
    pub(crate) recv: Option<Op>,
    /// The receive in flight is multishot: armed until a completion without
    /// `IORING_CQE_F_MORE` ends it (a cancel, `ENOBUFS`, an error, the end of stream).
    pub(crate) recv_multi: bool,
    /// That multishot receive is being cancelled (the session stopped reading): not
    /// cancelled again, and no other receive armed, until it ends.
    pub(crate) recv_stopping: bool,
    /// Cancellations in flight (the session is not freed before they complete).
    pub(crate) cancels: u8,
    pub(crate) sending: bool,
    /// A hang-up watch is in flight.
    pub(crate) watching: bool,
    /// The peer closed its side (a receive returned 0).
    pub(crate) eof: bool,
    /// A receive or send failed: the connection is finished.
    pub(crate) failed: bool,
    /// Closed by the worker; freed once nothing is in flight.
    pub(crate) dying: bool,
    /// What the send in flight is sending (and its unsent rest).
    pub(crate) flying: SendQueue<P>,
    /// The iovecs of a send of several segments (grown on first need, so that the many
    /// sessions that only ever send one contiguous reply carry none).
    pub(crate) iov: Vec<libc::iovec>,
    pub(crate) msg: libc::msghdr,
}

impl<P: channel::Payload> RingIo<P> {
    pub(crate) fn new(file: File) -> Box<RingIo<P>> {
        Box::new(RingIo {
            file,
            recv: None,
            recv_multi: false,
            recv_stopping: false,
            cancels: 0,
            sending: false,
            watching: false,
            eof: false,
            failed: false,
            dying: false,
            flying: SendQueue::new(),
            iov: Vec::new(),
            // SAFETY: all-zero is a valid msghdr (no name, no control data).
            msg: unsafe { std::mem::zeroed() },
        })
    }

    /// Unsent bytes handed to the kernel.
    pub(crate) fn flying(&self) -> usize {
        self.flying.pending()
    }

    pub(crate) fn finished(&self) -> bool {
        self.eof || self.failed
    }
}

/// Said once per process: the first worker that cannot have its ring.
static RING_REFUSED: AtomicBool = AtomicBool::new(false);

/// The shortest rest of a large value for which a session stops its multishot receive
/// and receives the rest straight into the value's reservation (docs/io.md, "64 KiB
/// values on io_uring"): a shorter rest comes through provided buffers, one copy more.
pub(crate) const DIRECT_STOP: usize = RECV_BUFFER;

/// What the ring uses beyond one-shot operations on plain descriptors. Both are on;
/// `CORVID_URING=oneshot,plainfd` (either word) turns them off, and `direct=N` sets
/// [`DIRECT_STOP`], to measure what each brings (bench/compare `--backends
/// uring,uring/oneshot,uring/direct=65536`; docs/io.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Features {
    /// Multishot receives.
    pub(crate) multishot: bool,
    /// Sockets registered in the ring's file table.
    pub(crate) fixed_files: bool,
    /// The shortest rest of a value received straight into its reservation when a
    /// multishot receive must be stopped for it.
    pub(crate) direct_stop: usize,
}

impl Features {
    pub(crate) const ALL: Features = Features {
        multishot: true,
        fixed_files: true,
        direct_stop: DIRECT_STOP,
    };

    /// `ALL`, less what `CORVID_URING` turns off.
    fn from_env() -> Features {
        let off = std::env::var("CORVID_URING").unwrap_or_default();
        let off: Vec<&str> = off.split(',').map(str::trim).collect();
        let direct_stop = off
            .iter()
            .find_map(|word| word.strip_prefix("direct=")?.parse().ok())
            .unwrap_or(Features::ALL.direct_stop);
        Features {
            multishot: Features::ALL.multishot && !off.contains(&"oneshot"),
            fixed_files: Features::ALL.fixed_files && !off.contains(&"plainfd"),
            direct_stop,
        }
    }
}

/// One worker's io_uring and its provided receive buffers.
pub(crate) struct Ring {
    // Declared first, so dropped before the buffers it may write into (Drop waits for
    // every operation anyway).
    ring: IoUring,
    buffers: Buffers,
    /// The registered file table (None: operations name plain descriptors).
    files: Option<Files>,
    multishot: bool,
    direct_stop: usize,
    /// Session operations submitted and not yet reaped.
    in_flight: usize,
    epoll_armed: bool,
}

impl Ring {
    /// The worker's ring when the configuration asks for one; where the kernel refuses
    /// io_uring, one line says so (once per process) and the worker uses epoll.
    pub(crate) fn configured(config: &crate::ServerConfig) -> Option<Ring> {
        if config.io_backend != crate::IoBackend::Uring {
            return None;
        }
        match Ring::new(Features::from_env()) {
            Ok(ring) => Some(ring),
            Err(e) => {
                if !RING_REFUSED.swap(true, Relaxed) {
                    eprintln!("io_uring unavailable ({e}): using epoll");
                }
                None
            }
        }
    }

    /// A ring with its provided buffers registered; fails where the kernel refuses
    /// io_uring (too old, or forbidden by seccomp or `io_uring_disabled`).
    pub(crate) fn new(features: Features) -> std::io::Result<Ring> {
        // Completions run their kernel-side work only when the worker enters the ring
        // (DEFER_TASKRUN, which needs SINGLE_ISSUER: a ring is used by its worker's thread
        // alone, and made there), in one batch per turn, instead of interrupting it as
        // each socket becomes ready; TASKRUN_FLAG says when such work waits.
        let ring = IoUring::builder()
            .setup_cqsize(ENTRIES * 4)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .build(ENTRIES)?;
        let mut buffers = Buffers::new(RECV_BUFFERS, RECV_BUFFER)?;
        // SAFETY: `entries` is page aligned, holds RECV_BUFFERS entries and lives as
        // long as the ring (the `Ring` owns both; its Drop waits for every operation and
        // the ring fd closes before `buffers` is freed, field order).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                buffers.entries.as_ptr() as u64,
                RECV_BUFFERS,
                GROUP,
                0,
            )?;
        }
        for bid in 0..RECV_BUFFERS {
            buffers.give(bid);
        }
        // Without a table (a descriptor limit too low, a refusal) operations name plain
        // descriptors, which costs only the kernel's lookup of each.
        let files = features.fixed_files.then(|| Files::new(&ring)).flatten();
        Ok(Ring {
            ring,
            buffers,
            files,
            multishot: features.multishot,
            direct_stop: features.direct_stop,
            in_flight: 0,
            epoll_armed: false,
        })
    }

    /// Whether receives are multishot.
    pub(crate) fn multishot(&self) -> bool {
        self.multishot
    }

    /// The shortest rest of a value worth stopping a multishot receive for
    /// ([`DIRECT_STOP`] unless `CORVID_URING` says otherwise).
    pub(crate) fn direct_stop(&self) -> usize {
        self.direct_stop
    }

    /// How session `slot`'s operations will name its socket `fd`: by its index in the
    /// file table when it can be registered there (one `io_uring_register`), else by
    /// the descriptor itself.
    pub(crate) fn register(&mut self, slot: u32, fd: RawFd) -> File {
        match self.files.as_mut() {
            Some(files) => files.register(&self.ring, slot, fd),
            None => File::Fd(fd),
        }
    }

    /// Takes a socket out of the file table (its session is freed: nothing is in
    /// flight on it), so that closing its descriptor closes the connection.
    pub(crate) fn unregister(&mut self, file: File) {
        if let Some(files) = self.files.as_mut() {
            files.unregister(&self.ring, file);
        }
    }

    /// Session operations in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Queues an entry, handing the queue to the kernel first if it is full. False if
    /// the kernel takes nothing (the operation is then not in flight).
    ///
    /// # Safety
    /// Whatever `entry` points at stays valid, in place, and untouched where the
    /// operation writes, until its completion is reaped.
    unsafe fn push(&mut self, entry: &squeue::Entry) -> bool {
        for _ in 0..4 {
            // SAFETY: the caller's promise above.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return true;
            }
            if let Err(e) = self.ring.submit() {
                if e.raw_os_error() != Some(libc::EINTR) && e.raw_os_error() != Some(libc::EBUSY) {
                    return false;
                }
            }
        }
        false
    }

    /// Queues a session's operation, counted in flight if the kernel takes it (the
    /// worker's own polls and the ring's last cancel are not: `push`).
    ///
    /// # Safety
    /// As for `push`.
    unsafe fn push_op(&mut self, entry: &squeue::Entry) -> bool {
        // SAFETY: the caller's promise.
        let pushed = unsafe { self.push(entry) };
        self.in_flight += usize::from(pushed);
        pushed
    }

    /// Receives up to `len` bytes on `file` into a provided buffer, once, for session
    /// `slot`.
    pub(crate) fn recv(&mut self, slot: u32, file: File, len: u32) -> bool {
        let entry = opcode::Recv::new(file.fd(), std::ptr::null_mut(), len)
            .buf_group(GROUP)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT | file.flags())
            .user_data(Op::Recv.tag(slot));
        // SAFETY: the kernel writes into a provided buffer, owned by this ring and freed
        // only after every operation completed; the descriptor is the session's, which
        // stays open while the operation is in flight.
        unsafe { self.push_op(&entry) }
    }

    /// Receives on `file` into provided buffers, completion after completion (each
    /// with the buffer's worth at most) until cancelled or ended, for session `slot`.
    /// Each completion is tagged `Op::Recv`; the last one lacks `IORING_CQE_F_MORE`.
    pub(crate) fn recv_multi(&mut self, slot: u32, file: File) -> bool {
        let entry = opcode::RecvMulti::new(file.fd(), GROUP)
            .build()
            .flags(file.flags())
            .user_data(Op::Recv.tag(slot));
        // SAFETY: as for `recv`: every completion's bytes are in a provided buffer this
        // ring owns, and the descriptor stays open (and registered) until the last
        // completion.
        unsafe { self.push_op(&entry) }
    }

    /// Cancels session `slot`'s multishot receive: it ends with a last completion
    /// (`ECANCELED`, or whatever ended it first). The cancellation completes too
    /// (`Op::Cancel`); false if it could not be submitted.
    pub(crate) fn stop_recv(&mut self, slot: u32) -> bool {
        let entry = opcode::AsyncCancel::new(Op::Recv.tag(slot))
            .build()
            .user_data(Op::Cancel.tag(slot));
        // SAFETY: a cancellation points at no memory.
        unsafe { self.push_op(&entry) }
    }

    /// Receives `len` bytes on `file` straight into `buf`, for session `slot`: one
    /// completion once all of them are in (`MSG_WAITALL`: the kernel receives each
    /// part as it arrives and arms its poll again, with no completion and no new
    /// submission in between), or fewer if the stream ends or fails first.
    ///
    /// # Safety
    /// `buf..buf + len` stays valid and unread by anyone else until the completion is
    /// reaped.
    pub(crate) unsafe fn recv_into(
        &mut self,
        slot: u32,
        file: File,
        buf: *mut u8,
        len: u32,
    ) -> bool {
        let entry = opcode::Recv::new(file.fd(), buf, len)
            .flags(libc::MSG_WAITALL)
            .build()
            .flags(file.flags())
            .user_data(Op::RecvInto.tag(slot));
        // SAFETY: the caller's promise.
        unsafe { self.push_op(&entry) }
    }

    /// Sends the bytes `iov` points at on `file` (through `msg` when more than one
    /// iovec), for session `slot`.
    ///
    /// # Safety
    /// The bytes `iov` points at stay valid and unchanged until the completion is
    /// reaped; so do `iov` itself and `msg` when `iov` holds more than one iovec.
    pub(crate) unsafe fn send(
        &mut self,
        slot: u32,
        file: File,
        iov: &[libc::iovec],
        msg: *mut libc::msghdr,
    ) -> bool {
        let entry = match iov {
            [one] => {
                let len = u32::try_from(one.iov_len).unwrap_or(u32::MAX);
                opcode::Send::new(file.fd(), one.iov_base as *const u8, len)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
            }
            _ => {
                // SAFETY: `msg` is valid (the caller's promise) and only written here.
                unsafe {
                    (*msg).msg_iov = iov.as_ptr() as *mut libc::iovec;
                    (*msg).msg_iovlen = iov.len();
                }
                opcode::SendMsg::new(file.fd(), msg)
                    .flags(libc::MSG_NOSIGNAL as u32)
                    .build()
            }
        };
        let entry = entry.flags(file.flags()).user_data(Op::Send.tag(slot));
        // SAFETY: the caller's promise.
        unsafe { self.push_op(&entry) }
    }

    /// Watches `file` for a hang-up (an error or a reset: `POLLERR`, `POLLHUP`; a
    /// half-close is not one), for session `slot`.
    pub(crate) fn watch(&mut self, slot: u32, file: File) -> bool {
        let entry = opcode::PollAdd::new(file.fd(), (libc::POLLERR | libc::POLLHUP) as u32)
            .build()
            .flags(file.flags())
            .user_data(Op::Watch.tag(slot));
        // SAFETY: a poll points at no memory; the descriptor stays open while in flight.
        unsafe { self.push_op(&entry) }
    }

    /// Cancels every operation on `file` (session `slot` closing); each still
    /// completes, with `ECANCELED` or its result, and is reaped as usual, and so does
    /// the cancellation (`Op::Cancel`). False if it could not be submitted.
    pub(crate) fn cancel(&mut self, slot: u32, file: File) -> bool {
        let which = match file {
            File::Fd(fd) => types::CancelBuilder::fd(types::Fd(fd)),
            File::Fixed(index) => types::CancelBuilder::fd(types::Fixed(index)),
        };
        let entry = opcode::AsyncCancel2::new(which.all())
            .build()
            .user_data(Op::Cancel.tag(slot));
        // SAFETY: a cancellation points at no memory.
        unsafe { self.push_op(&entry) }
    }

    /// Watches the worker's epoll descriptor (one shot, armed again after each event,
    /// so that events left after a full `epoll_wait` are announced again).
    pub(crate) fn arm_epoll(&mut self, epoll: RawFd) {
        if self.epoll_armed {
            return;
        }
        let entry = opcode::PollAdd::new(types::Fd(epoll), libc::POLLIN as u32)
            .build()
            .user_data(EPOLL);
        // SAFETY: a poll points at no memory; the epoll descriptor outlives the ring
        // (the worker owns both and the ring's Drop waits for every operation).
        self.epoll_armed = unsafe { self.push(&entry) };
    }

    /// Submits what is queued and waits for at least one completion, at most `timeout`
    /// (`None`: as long as it takes; zero: no wait, and no system call when nothing is
    /// queued).
    pub(crate) fn enter(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        let result = match timeout {
            Some(t) if t.is_zero() => {
                let mut queue = self.ring.submission();
                queue.sync();
                if queue.is_empty() && !queue.taskrun() && !queue.cq_overflow() {
                    return Ok(());
                }
                drop(queue);
                self.ring.submit()
            }
            None => self.ring.submit_and_wait(1),
            Some(t) => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match result {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
            Ok(_) => Ok(()),
        }
    }

    /// Takes every completion ready into `out`.
    pub(crate) fn reap(&mut self, out: &mut Vec<Reaped>) {
        for cqe in self.ring.completion() {
            match cqe.user_data() {
                EPOLL => {
                    self.epoll_armed = false;
                    out.push(Reaped::Epoll);
                }
                CANCEL => {}
                tag => {
                    let Some((slot, op)) = Op::from_tag(tag) else {
                        continue;
                    };
                    if !cqueue::more(cqe.flags()) {
                        self.in_flight -= 1;
                    }
                    out.push(Reaped::Session {
                        slot,
                        op,
                        result: cqe.result(),
                        flags: cqe.flags(),
                    });
                }
            }
        }
    }

    /// The bytes a receive put in the provided buffer its completion's `flags` name,
    /// with `f` (then the buffer goes back to the kernel). None if the flags name none.
    pub(crate) fn take_received<R>(
        &mut self,
        flags: u32,
        len: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        let bid = cqueue::buffer_select(flags)?;
        let r = f(self.buffers.received(bid, len)?);
        self.buffers.give(bid);
        Some(r)
    }
}

impl Drop for Ring {
    /// Cancels what is still in flight and waits for it (a second at most), so that no
    /// operation outlives the memory it writes into; if some never complete, the
    /// buffers are leaked rather than freed under the kernel.
    fn drop(&mut self) {
        if self.in_flight > 0 {
            let entry = opcode::AsyncCancel2::new(types::CancelBuilder::any().all())
                .build()
                .user_data(CANCEL);
            // SAFETY: a cancellation points at no memory.
            unsafe { self.push(&entry) };
            let mut reaped = Vec::new();
            for _ in 0..100 {
                if self.in_flight == 0 {
                    break;
                }
                let _ = self.enter(Some(Duration::from_millis(10)));
                self.reap(&mut reaped);
                reaped.clear();
            }
        }
        if self.in_flight > 0 {
            self.buffers.leak = true;
        }
    }
}

#[cfg(test)]
mod tests;
