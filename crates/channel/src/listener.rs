//! Listening sockets: bound as memcached binds them, accepting [`Stream`]s.
//!
//! ```no_run
//! use channel::{Accepted, Listener};
//! let mut listener = Listener::tcp("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
//! match listener.accept() {
//!     Accepted::Stream(stream) => println!("a client: {}", stream.peer()),
//!     Accepted::Retry => {}      // none waiting: wait for readiness
//!     Accepted::Again(_) => {}   // out of descriptors: try again soon, no edge will come
//! }
//! ```

use crate::Stream;
use mio::event::Source;
use mio::net::{TcpListener, UnixListener};
use mio::{Interest, Registry, Token};
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A bound, listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A Unix domain socket.
    Unix(UnixListener),
}

/// What one `accept` achieved.
#[derive(Debug)]
pub enum Accepted {
    /// A new connection, non-blocking (and without Nagle's delay, for TCP).
    Stream(Stream),
    /// Nobody waiting; wait for readiness.
    Retry,
    /// Accepting failed for a while (out of descriptors or memory, interrupted): clients
    /// may still wait in the backlog, and no new edge will announce them, so try again
    /// soon.
    Again(io::Error),
}

impl Listener {
    /// Listens on `addr` with address reuse (and v6 only for a v6 address), as memcached.
    pub fn tcp(addr: SocketAddr, backlog: i32) -> io::Result<Listener> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(backlog)?;
        Ok(Listener::Tcp(TcpListener::from_std(socket.into())))
    }

    /// Listens on the Unix socket `path` with permissions `mask`, replacing a stale
    /// socket file from an earlier run (memcached removes it too).
    pub fn unix(path: &Path, mask: u32) -> io::Result<Listener> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mask))?;
        Ok(Listener::Unix(listener))
    }

    /// The TCP address bound (port 0 resolved); None for a Unix socket.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix(_) => None,
        }
    }

    /// The descriptor, for `stats conns`.
    pub fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l) => l.as_raw_fd(),
        }
    }

    /// Accepts one connection.
    pub fn accept(&mut self) -> Accepted {
        let result = match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                // Replies are small and latency-bound: never wait for Nagle.
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }),
            Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
        };
        match result {
            Ok(stream) => Accepted::Stream(stream),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Accepted::Retry,
            // EMFILE, ENFILE, ENOBUFS, ENOMEM, EINTR: the client stays in the backlog.
            Err(e) => Accepted::Again(e),
        }
    }
}

impl Source for Listener {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.register(r, t, i),
            Listener::Unix(l) => l.register(r, t, i),
        }
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.reregister(r, t, i),
            Listener::Unix(l) => l.reregister(r, t, i),
        }
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.deregister(r),
            Listener::Unix(l) => l.deregister(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    #[test]
    fn a_tcp_listener_accepts_a_nonblocking_stream() {
        let mut l = Listener::tcp("127.0.0.1:0".parse().expect("addr"), 16).expect("listen");
        let addr = l.local_addr().expect("tcp");
        assert!(matches!(l.accept(), Accepted::Retry));
        let _client = std::net::TcpStream::connect(addr).expect("connect");
        let mut stream = loop {
            match l.accept() {
                Accepted::Stream(s) => break s,
                Accepted::Retry => std::thread::yield_now(),
                Accepted::Again(e) => panic!("accept: {e}"),
            }
        };
        assert!(stream.peer().starts_with("tcp:127.0.0.1:"));
        assert_eq!(stream.read(&mut [0u8; 4]), Outcome::Retry);
    }
}
