//! A connected byte stream, whatever carries it: TCP, a Unix socket, or TLS over TCP.
//!
//! ```no_run
//! use channel::{Outcome, Stream};
//! # fn serve(mut stream: Stream) {
//! let mut buf = [0u8; 64];
//! match stream.read(&mut buf) {
//!     Outcome::Done(n) => println!("{n} bytes from {}", stream.peer()),
//!     Outcome::Retry => {} // wait for readiness
//!     Outcome::Abort(why) => println!("gone: {why:?}"),
//! }
//! # }
//! ```
//!
//! Every IO call goes through [`crate::outcome`], so callers see the three outcomes and
//! never an errno.

use crate::outcome::{self, Outcome};
use crate::socket_calls;
use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

/// An accepted (or connected) stream socket.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain stream socket.
    Unix(UnixStream),
    /// TLS over TCP (`-Z`); made by [`Stream::into_tls`].
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::TlsStream>),
}

impl Stream {
    /// Starts a TCP connection to `addr` (non-blocking, without Nagle's delay), for an
    /// outbound session. It completes in the background: the stream turns writable once
    /// connected, writes before that say `Retry`, and a connection that failed answers
    /// `Abort` to its next read or write.
    pub fn connect(addr: SocketAddr) -> io::Result<Stream> {
        let stream = TcpStream::connect(addr)?;
        // Replies are small and latency-bound: never wait for Nagle.
        let _ = stream.set_nodelay(true);
        Ok(Stream::Tcp(stream))
    }

    /// This stream (an accepted TCP connection) as a TLS stream of `context` whose
    /// handshake has not begun; `mutual` requires a client certificate. A Unix socket
    /// stays as it is (TLS is for TCP). None when `context` cannot make one (an `mtls:`
    /// listener without a CA, which start-up refuses): drop the connection.
    #[cfg(feature = "tls")]
    pub fn into_tls(self, context: &crate::tls::TlsContext, mutual: bool) -> Option<Stream> {
        match self {
            Stream::Tcp(tcp) => context
                .accept(tcp, mutual)
                .map(|tls| Stream::Tls(Box::new(tls))),
            other => Some(other),
        }
    }

    /// Starts a connection to the Unix socket `path` (non-blocking), for an outbound
    /// session. A listening socket whose backlog is full answers `Retry` until it
    /// accepts (the connect completes in the background, as for TCP).
    pub fn connect_unix(path: &std::path::Path) -> io::Result<Stream> {
        Ok(Stream::Unix(UnixStream::connect(path)?))
    }

    /// Turns on TCP keepalive probes (a proxy's `tcpkeepalive:`); a Unix socket has none.
    pub fn set_keepalive(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => socket2::SockRef::from(s).set_keepalive(true),
            Stream::Unix(_) => Ok(()),
            // The proxy opens no TLS streams.
            #[cfg(feature = "tls")]
            Stream::Tls(_) => Ok(()),
        }
    }

    /// A description for `stats conns` and logs.
    pub fn peer(&self) -> String {
        match self {
            Stream::Tcp(s) => match s.peer_addr() {
                Ok(a) => format!("tcp:{a}"),
                Err(_) => "tcp:?".to_string(),
            },
            Stream::Unix(_) => "unix:".to_string(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => match s.tcp.peer_addr() {
                Ok(a) => format!("tcp:{a}"),
                Err(_) => "tcp:?".to_string(),
            },
        }
    }

    /// The peer's address; None for a Unix socket (or a peer already gone).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.peer_addr().ok(),
            Stream::Unix(_) => None,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp.peer_addr().ok(),
        }
    }

    /// The local address the connection reached; None for a Unix socket.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.local_addr().ok(),
            Stream::Unix(_) => None,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp.local_addr().ok(),
        }
    }

    /// The descriptor, for `stats conns` and logs.
    pub fn fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp.as_raw_fd(),
        }
    }

    /// Whether the stream may hold input that no readiness edge will announce (a TLS
    /// stream that decrypted more records than it handed out). A reader of such a stream
    /// must not conclude from a short read that the next read would say `Retry`. Plain
    /// sockets never do: the kernel's buffer is the only buffer.
    pub fn buffers_input(&self) -> bool {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => false,
            #[cfg(feature = "tls")]
            Stream::Tls(_) => true,
        }
    }

    /// For a stream that [buffers input](Stream::buffers_input): whether its last read
    /// left nothing behind, in the stream or in the socket, so that the next read would
    /// only say `Retry` until a readiness edge (the edge-triggered shortcut a plain
    /// socket's short read gives). Plain sockets answer false: their reader judges by
    /// its own short read.
    pub fn input_drained(&self) -> bool {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => false,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.drained(),
        }
    }

    /// Whether output the stream accepted still waits inside it (TLS records the socket
    /// has not taken yet): the connection is not done writing until
    /// [`Stream::send_held`] says so.
    pub fn holds_output(&self) -> bool {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => false,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.holds_output(),
        }
    }

    /// Sends what the stream holds: `Done(0)` when nothing is left, `Retry` when the
    /// socket is full.
    pub fn send_held(&mut self) -> Outcome {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => Outcome::Done(0),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => match s.send_held() {
                Ok(()) => Outcome::Done(0),
                Err(e) => outcome::classify(&e).unwrap_or(Outcome::Retry),
            },
        }
    }

    /// Whether a TLS handshake is under way (its reads cost cryptography).
    pub fn is_handshaking(&self) -> bool {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => false,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.is_handshaking(),
        }
    }

    /// A TLS handshake was given up on (too slow): counted as a handshake error.
    pub fn abandon_handshake(&self) {
        #[cfg(feature = "tls")]
        if let Stream::Tls(s) = self {
            s.count_abandoned_handshake();
        }
    }

    /// Reads once into `buf` (which must not be empty).
    pub fn read(&mut self, buf: &mut [u8]) -> Outcome {
        outcome::read(self, buf)
    }

    /// Writes `bytes` once; a short write is `Done(n)`.
    pub fn write(&mut self, bytes: &[u8]) -> Outcome {
        outcome::write(self, bytes)
    }

    /// Closes the sending direction (FIN after everything written), keeping reads open.
    /// A TLS stream sends its close_notify first.
    pub fn shutdown_write(&mut self) -> Outcome {
        let result = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.shutdown_write(),
        };
        match result {
            Ok(()) => Outcome::Done(0),
            Err(e) => outcome::classify(&e).unwrap_or(Outcome::Retry),
        }
    }
}

// A plain socket's calls bypass glibc's cancellation-point wrappers (`socket_calls`).
impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => socket_calls::recv(s.as_raw_fd(), buf),
            Stream::Unix(s) => socket_calls::recv(s.as_raw_fd(), buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => socket_calls::readv(s.as_raw_fd(), bufs),
            Stream::Unix(s) => socket_calls::readv(s.as_raw_fd(), bufs),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read_vectored(bufs),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => socket_calls::send(s.as_raw_fd(), buf),
            Stream::Unix(s) => socket_calls::send(s.as_raw_fd(), buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => socket_calls::writev(s.as_raw_fd(), bufs),
            Stream::Unix(s) => socket_calls::writev(s.as_raw_fd(), bufs),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp.register(r, t, i),
        }
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp.reregister(r, t, i),
        }
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp.deregister(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unix_pair_reads_writes_and_half_closes() {
        let (a, b) = std::os::unix::net::UnixStream::pair().expect("pair");
        a.set_nonblocking(true).expect("nonblocking");
        b.set_nonblocking(true).expect("nonblocking");
        let mut a = Stream::Unix(UnixStream::from_std(a));
        let mut b = Stream::Unix(UnixStream::from_std(b));
        assert!(!a.buffers_input());
        let mut buf = [0u8; 8];
        assert_eq!(b.read(&mut buf), Outcome::Retry);
        assert_eq!(a.write(b"ping"), Outcome::Done(4));
        assert_eq!(b.read(&mut buf), Outcome::Done(4));
        assert_eq!(&buf[..4], b"ping");
        assert_eq!(a.shutdown_write(), Outcome::Done(0));
        assert!(matches!(b.read(&mut buf), Outcome::Abort(_)));
        assert_eq!(a.peer(), "unix:");
        assert!(a.fd() >= 0);
    }

    #[test]
    fn an_outbound_tcp_stream_connects_in_the_background() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let mut out = Stream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut peer, _) = listener.accept().expect("accept");
        // Writable once connected: retry until the write goes through.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while out.write(b"hello") == Outcome::Retry {
            assert!(std::time::Instant::now() < deadline, "never connected");
            std::thread::yield_now();
        }
        let mut got = [0u8; 5];
        std::io::Read::read_exact(&mut peer, &mut got).expect("read");
        assert_eq!(&got, b"hello");
        assert!(out.peer().starts_with("tcp:127.0.0.1:"));
    }

    #[test]
    fn an_outbound_unix_stream_connects() {
        let dir = std::env::temp_dir().join(format!("chan-unix-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("listen");
        let mut out = Stream::connect_unix(&path).expect("connect");
        let (mut peer, _) = listener.accept().expect("accept");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while out.write(b"hi") == Outcome::Retry {
            assert!(std::time::Instant::now() < deadline, "never connected");
            std::thread::yield_now();
        }
        let mut got = [0u8; 2];
        std::io::Read::read_exact(&mut peer, &mut got).expect("read");
        assert_eq!(&got, b"hi");
        assert!(Stream::connect_unix(&dir.join("none")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
