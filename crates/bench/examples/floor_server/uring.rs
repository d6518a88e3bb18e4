//! The floor server on io_uring: the least an io_uring server can do per request.
//!
//! One ring (`SINGLE_ISSUER | DEFER_TASKRUN`: completions' kernel work runs when the loop
//! enters the ring, in one batch per turn). A multishot accept puts each connection
//! straight into the registered file table (no descriptor, no `io_uring_register` per
//! connection), and one multishot receive per connection takes provided buffers as data
//! arrives. Requests are answered straight from the provided buffer (only a partial
//! request line is copied out), every connection with replies gets one send per turn,
//! and one `io_uring_enter` per turn submits them all and waits for the next
//! completions. With a store, a set's data is copied from the provided buffers into its
//! slot (as Corvid's io_uring backend does for a value whose rest is under 64 KiB).
//!
//! Memory the kernel uses while an operation is in flight stays put: a connection is a
//! `Box` (its iovecs and `msghdr` do not move) whose in-flight output is not touched
//! until its send completes, and it is freed only when neither its receive nor its send
//! is in flight. The provided buffers live as long as the process: the loop never ends
//! but by an error, and their memory is then leaked rather than freed under the kernel.

use crate::answer::{Answerer, Output, MAX_IOVECS};
use crate::store::Block;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::alloc::Layout;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};

const ENTRIES: u32 = 1024;
/// The provided-buffer group of every receive.
const GROUP: u16 = 0;
/// Bytes of provided buffers in all (their count is a power of two).
const PROVIDED_BYTES: usize = 16 << 20;
/// Most registered files (and connections).
const MOST_FILES: u32 = 1 << 16;

/// `user_data`: the accept, or a connection's index and what its operation was.
const ACCEPT: u64 = u64::MAX;
const RECV: u64 = 0;
const SEND: u64 = 1;
/// A close or a cancellation: nothing waits for its completion.
const OTHER: u64 = 2;

fn tag(index: u32, op: u64) -> u64 {
    (u64::from(index) << 2) | op
}

struct Conn {
    /// The start of a request line that the last receive cut off.
    partial: Vec<u8>,
    /// The data block being received (with a store, copied from the provided buffers
    /// into its slot).
    block: Block,
    /// Replies being composed, and replies the kernel is sending (untouched until the
    /// send completes).
    out: Output,
    sending_out: Output,
    sending: bool,
    receiving: bool,
    /// Finished (end of stream, an error, `quit`): closed once nothing is in flight.
    closing: bool,
    cancelled: bool,
    /// On the list of connections to send for at the end of the turn.
    dirty: bool,
    iov: [libc::iovec; MAX_IOVECS],
    msg: libc::msghdr,
}

/// The ring of provided buffers: `count` buffers of `size` bytes the kernel picks from
/// as receives complete (`IORING_REGISTER_PBUF_RING`).
struct Provided {
    entries: *mut types::BufRingEntry,
    memory: *mut u8,
    count: u16,
    size: usize,
    tail: u16,
}

impl Provided {
    fn new(ring: &IoUring, size: usize) -> io::Result<Provided> {
        let count = (PROVIDED_BYTES / size).clamp(16, 1 << 15);
        let count = 1u16 << (usize::BITS - 1 - count.leading_zeros()); // a power of two
        let entries_layout = Layout::from_size_align(
            (usize::from(count) * std::mem::size_of::<types::BufRingEntry>()).max(4096),
            4096,
        )
        .map_err(io::Error::other)?;
        let memory_layout =
            Layout::from_size_align(usize::from(count) * size, 4096).map_err(io::Error::other)?;
        // SAFETY: both layouts have a non-zero size. Never freed: see the module doc.
        let (entries, memory) = unsafe {
            (
                std::alloc::alloc_zeroed(entries_layout) as *mut types::BufRingEntry,
                std::alloc::alloc_zeroed(memory_layout),
            )
        };
        if entries.is_null() || memory.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        // SAFETY: `entries` is page aligned, holds `count` entries and is never freed.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries as u64, count, GROUP, 0)?;
        }
        let mut provided = Provided {
            entries,
            memory,
            count,
            size,
            tail: 0,
        };
        for bid in 0..count {
            provided.give(bid);
        }
        Ok(provided)
    }

    /// Offers buffer `bid` (back) to the kernel.
    fn give(&mut self, bid: u16) {
        let index = usize::from(self.tail & (self.count - 1));
        // SAFETY: `index < count` and `bid < count` (the kernel names only buffers it was
        // given): the entry and the buffer are inside their allocations. The kernel
        // reads an entry only once the tail below covers it.
        unsafe {
            let entry = &mut *self.entries.add(index);
            entry.set_addr(self.memory.add(usize::from(bid) * self.size) as u64);
            entry.set_len(self.size as u32);
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail is a u16 inside the first entry, which the kernel reads
        // concurrently: it is only accessed atomically here.
        let tail =
            unsafe { AtomicU16::from_ptr(types::BufRingEntry::tail(self.entries) as *mut u16) };
        tail.store(self.tail, Ordering::Release);
    }

    /// The first `len` bytes of buffer `bid`, which a completion handed back.
    fn received(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.count || len > self.size {
            return None;
        }
        // SAFETY: the completion that named `bid` gave it back: the kernel does not
        // touch it until `give` offers it again, and `len` is within it.
        Some(unsafe {
            std::slice::from_raw_parts(self.memory.add(usize::from(bid) * self.size), len)
        })
    }
}

struct Server {
    ring: IoUring,
    provided: Provided,
    answerer: Answerer,
    conns: Vec<Option<Box<Conn>>>,
    dirty: Vec<u32>,
    /// Connections whose receive ran out of buffers: armed again at the end of the turn.
    rearm: Vec<u32>,
    listener: TcpListener,
}

pub fn serve(listener: TcpListener, answerer: Answerer, receive: usize) -> io::Result<()> {
    let ring = IoUring::builder()
        .setup_cqsize(ENTRIES * 4)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(ENTRIES)?;
    // SAFETY: all-zero is a valid rlimit; getrlimit only writes into it.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: a valid resource and a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let files = u32::try_from(limit.rlim_cur)
        .unwrap_or(MOST_FILES)
        .min(MOST_FILES);
    ring.submitter().register_files_sparse(files)?;
    let provided = Provided::new(&ring, receive)?;
    let mut server = Server {
        ring,
        provided,
        answerer,
        conns: (0..files).map(|_| None).collect(),
        dirty: Vec::new(),
        rearm: Vec::new(),
        listener,
    };
    server.accept();
    let mut reaped: Vec<(u64, i32, u32)> = Vec::with_capacity(ENTRIES as usize * 4);
    loop {
        match server.ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(e) => return Err(e),
        }
        reaped.extend(
            server
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(data, result, flags) in &reaped {
            server.complete(data, result, flags);
        }
        reaped.clear();
        for index in std::mem::take(&mut server.rearm) {
            server.recv(index);
        }
        let mut dirty = std::mem::take(&mut server.dirty);
        for &index in &dirty {
            server.send(index);
        }
        dirty.clear();
        server.dirty = dirty;
    }
}

impl Server {
    /// Queues an entry, handing the queue to the kernel first if it is full.
    ///
    /// # Safety
    /// Whatever `entry` points at stays valid, in place, until its completion is reaped.
    unsafe fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: the caller's promise.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            let _ = self.ring.submit();
        }
    }

    fn accept(&mut self) {
        let entry = opcode::AcceptMulti::new(types::Fd(self.listener.as_raw_fd()))
            .allocate_file_index(true)
            .build()
            .user_data(ACCEPT);
        // SAFETY: points at no memory; the listener outlives the loop.
        unsafe { self.push(entry) };
    }

    fn recv(&mut self, index: u32) {
        let Some(conn) = self.conns[index as usize].as_mut() else {
            return;
        };
        if conn.closing || conn.receiving {
            return;
        }
        conn.receiving = true;
        let entry = opcode::RecvMulti::new(types::Fixed(index), GROUP)
            .build()
            .user_data(tag(index, RECV));
        // SAFETY: the kernel writes only into provided buffers, which are never freed.
        unsafe { self.push(entry) };
    }

    /// Sends connection `index`'s replies, unless a send is in flight (its completion
    /// sends what was composed meanwhile).
    fn send(&mut self, index: u32) {
        let Some(conn) = self.conns[index as usize].as_mut() else {
            return;
        };
        conn.dirty = false;
        if conn.sending || conn.closing {
            return;
        }
        if conn.sending_out.is_empty() {
            if conn.out.is_empty() {
                return;
            }
            std::mem::swap(&mut conn.out, &mut conn.sending_out);
        }
        conn.sending = true;
        let entry = match conn.sending_out.contiguous() {
            Some(bytes) => {
                opcode::Send::new(types::Fixed(index), bytes.as_ptr(), bytes.len() as u32)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
            }
            None => {
                let count = conn.sending_out.iovecs(&mut conn.iov);
                conn.msg.msg_iov = conn.iov.as_mut_ptr();
                conn.msg.msg_iovlen = count;
                opcode::SendMsg::new(types::Fixed(index), &conn.msg)
                    .flags(libc::MSG_NOSIGNAL as u32)
                    .build()
            }
        };
        // SAFETY: the bytes are `sending_out`'s (its scratch buffer or the leaked
        // pattern), and the iovecs and msghdr are in the boxed connection: none moves or
        // changes until this send's completion, and the connection is not freed while
        // `sending`.
        unsafe { self.push(entry.user_data(tag(index, SEND))) };
    }

    fn complete(&mut self, data: u64, result: i32, flags: u32) {
        if data == ACCEPT {
            if result >= 0 {
                if let Some(slot) = self.conns.get_mut(result as usize) {
                    *slot = Some(new_conn());
                    self.recv(result as u32);
                }
            }
            if !cqueue::more(flags) {
                self.accept();
            }
            return;
        }
        let index = (data >> 2) as u32;
        match data & 3 {
            RECV => self.received(index, result, flags),
            SEND => self.sent(index, result),
            _ => {}
        }
    }

    fn received(&mut self, index: u32, result: i32, flags: u32) {
        let bid = cqueue::buffer_select(flags);
        let Some(conn) = self.conns.get_mut(index as usize).and_then(|c| c.as_mut()) else {
            if let Some(bid) = bid {
                self.provided.give(bid);
            }
            return;
        };
        if !cqueue::more(flags) {
            conn.receiving = false;
        }
        if result > 0 {
            let bid = bid.unwrap_or(u16::MAX);
            let data = self.provided.received(bid, result as usize);
            if !conn.closing {
                match data {
                    Some(data) => answer(&self.answerer, conn, data),
                    None => conn.closing = true,
                }
            }
            if data.is_some() {
                self.provided.give(bid);
            }
            if !conn.out.is_empty() && !conn.dirty {
                conn.dirty = true;
                self.dirty.push(index);
            }
            if !conn.receiving && !conn.closing {
                self.rearm.push(index);
            }
        } else if result == -libc::ENOBUFS && !conn.closing {
            self.rearm.push(index);
        } else {
            conn.closing = true; // end of stream, or an error
        }
        self.finish(index);
    }

    fn sent(&mut self, index: u32, result: i32) {
        let Some(conn) = self.conns.get_mut(index as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        conn.sending = false;
        if result < 0 {
            conn.closing = true;
        } else {
            conn.sending_out.advance(result as usize);
            let more = !conn.sending_out.is_empty() || !conn.out.is_empty();
            if more && !conn.dirty {
                conn.dirty = true;
                self.dirty.push(index);
            }
        }
        self.finish(index);
    }

    /// A closing connection is freed, and its file closed, once nothing is in flight;
    /// until then its receive is cancelled.
    fn finish(&mut self, index: u32) {
        let Some(conn) = self.conns[index as usize].as_mut() else {
            return;
        };
        if !conn.closing {
            return;
        }
        if conn.receiving {
            if !conn.cancelled {
                conn.cancelled = true;
                let entry = opcode::AsyncCancel::new(tag(index, RECV))
                    .build()
                    .user_data(tag(index, OTHER));
                // SAFETY: points at no memory.
                unsafe { self.push(entry) };
            }
            return;
        }
        if conn.sending {
            return;
        }
        self.conns[index as usize] = None;
        let entry = opcode::Close::new(types::Fixed(index))
            .build()
            .user_data(tag(index, OTHER));
        // SAFETY: points at no memory.
        unsafe { self.push(entry) };
    }
}

fn new_conn() -> Box<Conn> {
    Box::new(Conn {
        partial: Vec::new(),
        block: Block::default(),
        out: Output::default(),
        sending_out: Output::default(),
        sending: false,
        receiving: false,
        closing: false,
        cancelled: false,
        dirty: false,
        iov: [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_IOVECS],
        // SAFETY: all-zero is a valid msghdr (no address, no control data).
        msg: unsafe { std::mem::zeroed() },
    })
}

/// Answers what a receive brought, straight from its buffer unless a partial request
/// line waits in front of it.
fn answer(answerer: &Answerer, conn: &mut Conn, data: &[u8]) {
    let result = if conn.partial.is_empty() {
        answerer
            .answer(data, &mut conn.block, &mut conn.out)
            .map(|used| {
                conn.partial.extend_from_slice(&data[used..]);
            })
    } else {
        conn.partial.extend_from_slice(data);
        answerer
            .answer(&conn.partial, &mut conn.block, &mut conn.out)
            .map(|used| {
                conn.partial.drain(..used);
            })
    };
    if result.is_err() {
        conn.closing = true;
    }
}
