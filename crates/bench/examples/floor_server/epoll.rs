//! The floor server on epoll: Corvid's system call pattern and nothing else.
//!
//! Edge-triggered readiness; per readable connection `recv` until a read returns less
//! than the room offered (the socket is then drained, and new bytes raise a new edge, so
//! no `EAGAIN` read), answering each batch as it comes; then one `send` (`sendmsg` when
//! the replies are in several pieces) per connection. A connection whose replies the
//! kernel did not take waits for its writable edge. With a store, the rest of a value is
//! received straight into its slot by a `readv` that also brings what follows it into
//! the read buffer (Corvid's large-value read).

use crate::answer::{Answerer, Output, MAX_IOVECS};
use crate::store::Block;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Readiness events taken per `epoll_wait`.
const EVENTS: usize = 1024;
/// The listener's `epoll_data`.
const LISTENER: u64 = u64::MAX;
/// A connection stops reading while this much of its output is unsent.
const HIGH_WATER: usize = 1 << 20;

struct Conn {
    fd: OwnedFd,
    /// Received bytes not yet answered (the start of a request) are at the front.
    buf: Vec<u8>,
    filled: usize,
    /// The data block being received.
    block: Block,
    out: Output,
    /// Stopped reading while its output was over `HIGH_WATER`: read again once drained.
    stalled: bool,
    /// The peer closed its side (`EPOLLRDHUP`): read to the end, not to a short read.
    hup: bool,
}

/// What a connection's turn asks for.
enum Step {
    Keep,
    Close,
}

pub fn serve(listener: TcpListener, answerer: Answerer, receive: usize) -> io::Result<()> {
    // SAFETY: epoll_create1 takes no pointers.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
    add(
        epfd.as_raw_fd(),
        listener.as_raw_fd(),
        libc::EPOLLIN as u32,
        LISTENER,
    )?;
    let mut conns: Vec<Option<Box<Conn>>> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    loop {
        // SAFETY: `events` holds EVENTS entries the kernel may write.
        let n =
            unsafe { libc::epoll_wait(epfd.as_raw_fd(), events.as_mut_ptr(), EVENTS as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in &events[..n as usize] {
            let (flags, token) = (event.events, event.u64);
            if token == LISTENER {
                accept(&listener, epfd.as_raw_fd(), receive, &mut conns)?;
                continue;
            }
            let Some(slot) = conns.get_mut(token as usize) else {
                continue;
            };
            let Some(conn) = slot.as_mut() else {
                continue;
            };
            if flags & libc::EPOLLRDHUP as u32 != 0 {
                conn.hup = true;
            }
            let step = if flags & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
                conn.read(&answerer)
            } else {
                conn.writable(&answerer)
            };
            if let Step::Close = step {
                // Dropping the connection closes its socket (and takes it out of epoll).
                *slot = None;
            }
        }
    }
}

fn add(epfd: RawFd, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut event = libc::epoll_event { events, u64: token };
    // SAFETY: both descriptors are open; the event is a live struct the call reads.
    if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut event) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn accept(
    listener: &TcpListener,
    epfd: RawFd,
    receive: usize,
    conns: &mut Vec<Option<Box<Conn>>>,
) -> io::Result<()> {
    loop {
        // SAFETY: no address is asked for (null pointers are allowed).
        let fd = unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) => Ok(()),
                // A connection that reset before it was accepted, or out of descriptors
                // for now: go on serving the others.
                Some(libc::ECONNABORTED | libc::EINTR | libc::EMFILE | libc::ENFILE) => Ok(()),
                _ => Err(e),
            };
        }
        // SAFETY: a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        debug_assert!(
            nodelay(fd.as_raw_fd()),
            "TCP_NODELAY is inherited from the listener"
        );
        let token = fd.as_raw_fd() as usize;
        let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        if add(epfd, fd.as_raw_fd(), events, token as u64).is_err() {
            continue; // dropped: closed
        }
        if conns.len() <= token {
            conns.resize_with(token + 1, || None);
        }
        conns[token] = Some(Box::new(Conn {
            fd,
            buf: vec![0; receive],
            filled: 0,
            block: Block::default(),
            out: Output::default(),
            stalled: false,
            hup: false,
        }));
    }
}

/// Whether `fd` has `TCP_NODELAY` set.
fn nodelay(fd: RawFd) -> bool {
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket; `on` and `len` are live and sized as said.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &mut on as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    rc == 0 && on != 0
}

impl Conn {
    /// Reads and answers until the socket is drained, then sends the replies.
    fn read(&mut self, answerer: &Answerer) -> Step {
        loop {
            if self.out.pending() >= HIGH_WATER {
                self.stalled = true;
                break;
            }
            let room = self.buf.len() - self.filled;
            let spare = self.buf[self.filled..].as_mut_ptr() as *mut libc::c_void;
            let target = self.block.target();
            let offered = room + target.map_or(0, |(_, len)| len);
            let n = match target {
                None => {
                    // SAFETY: the destination is the unused tail of `buf`, `room` bytes.
                    unsafe { libc::recv(self.fd.as_raw_fd(), spare, room, 0) }
                }
                Some((slot, len)) => {
                    let iov = [
                        libc::iovec {
                            iov_base: slot as *mut libc::c_void,
                            iov_len: len,
                        },
                        libc::iovec {
                            iov_base: spare,
                            iov_len: room,
                        },
                    ];
                    // SAFETY: the first part is the unfilled rest of a store slot (never
                    // freed, written by nothing else meanwhile), the second the unused
                    // tail of `buf`.
                    unsafe { libc::readv(self.fd.as_raw_fd(), iov.as_ptr(), 2) }
                }
            };
            if n == 0 {
                return Step::Close;
            }
            if n < 0 {
                match io::Error::last_os_error().raw_os_error() {
                    Some(libc::EAGAIN) => break,
                    Some(libc::EINTR) => continue,
                    _ => return Step::Close,
                }
            }
            let n = n as usize;
            let direct = target.map_or(0, |(_, len)| n.min(len));
            self.block.advance(direct);
            self.filled += n - direct;
            match answerer.answer(&self.buf[..self.filled], &mut self.block, &mut self.out) {
                Ok(used) => {
                    self.buf.copy_within(used..self.filled, 0);
                    self.filled -= used;
                }
                Err(_) => return Step::Close,
            }
            if n < offered && !self.hup {
                break; // drained: the next bytes raise a new edge
            }
        }
        self.flush()
    }

    /// The socket took bytes off its send buffer: send the rest, and read again if
    /// reading stopped for the output.
    fn writable(&mut self, answerer: &Answerer) -> Step {
        if let Step::Close = self.flush() {
            return Step::Close;
        }
        if self.stalled && self.out.is_empty() {
            self.stalled = false;
            return self.read(answerer);
        }
        Step::Keep
    }

    fn flush(&mut self) -> Step {
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_IOVECS];
        while !self.out.is_empty() {
            let n = if let Some(bytes) = self.out.contiguous() {
                // SAFETY: `bytes` is live for the call.
                unsafe {
                    libc::send(
                        self.fd.as_raw_fd(),
                        bytes.as_ptr() as *const libc::c_void,
                        bytes.len(),
                        libc::MSG_NOSIGNAL,
                    )
                }
            } else {
                let count = self.out.iovecs(&mut iov);
                // SAFETY: all-zero is a valid msghdr (no address, no control data).
                let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
                msg.msg_iov = iov.as_mut_ptr();
                msg.msg_iovlen = count;
                // SAFETY: the iovecs point into `self.out`, unchanged during the call.
                unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) }
            };
            if n < 0 {
                match io::Error::last_os_error().raw_os_error() {
                    Some(libc::EAGAIN) => return Step::Keep, // the writable edge resumes it
                    Some(libc::EINTR) => continue,
                    _ => return Step::Close,
                }
            }
            self.out.advance(n as usize);
        }
        Step::Keep
    }
}
