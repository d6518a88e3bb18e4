//! One TLS connection over a TCP socket, as `std::io::Read` and `Write` of plaintext, so
//! the session reads and writes it as it reads and writes any stream.
//!
//! Reading decrypts: it hands out plaintext rustls already holds, and otherwise reads
//! records from the socket, decrypts them and tries again; during the handshake the same
//! reads drive it (and write its replies). rustls may hold plaintext no readiness edge
//! will announce, hence the stream's `buffers_input` and `input_drained`.
//!
//! Writing encrypts at most `ssl_wbuf_size` bytes of plaintext per call, one record per
//! piece of the gather list (a large value leaves by reference, straight from where it
//! lies into rustls' record buffer: the encryption is the copy), then sends the records
//! with one `writev`. Encrypted bytes the socket did not take stay in rustls
//! ([`TlsStream::holds_output`]); no more plaintext is taken until they are sent, so
//! what a connection holds is bounded by `ssl_wbuf_size`.

use super::counters::TlsCounters;
use mio::net::TcpStream;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// A server-side TLS connection over TCP.
pub struct TlsStream {
    pub(crate) tcp: TcpStream,
    conn: rustls::ServerConnection,
    wbuf_size: usize,
    counters: Arc<TlsCounters>,
    /// The handshake finished (and was counted).
    established: bool,
    /// The socket read made by the latest `read` call got less than it asked for: the
    /// kernel had nothing more at that moment.
    socket_short: bool,
    /// Decrypted bytes rustls holds that have not been read yet.
    plaintext: usize,
}

/// The socket as rustls reads it, noting whether a read came back short.
struct Probe<'a> {
    tcp: &'a mut TcpStream,
    short: bool,
}

impl Read for Probe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.tcp.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("tcp", &self.tcp)
            .field("established", &self.established)
            .finish_non_exhaustive()
    }
}

impl TlsStream {
    pub(crate) fn new(
        tcp: TcpStream,
        mut conn: rustls::ServerConnection,
        wbuf_size: usize,
        counters: Arc<TlsCounters>,
    ) -> TlsStream {
        // The bound is ours (one `wbuf_size` of plaintext at a time, see `write_vectored`).
        conn.set_buffer_limit(None);
        TlsStream {
            tcp,
            conn,
            wbuf_size: wbuf_size.max(1),
            counters,
            established: false,
            socket_short: false,
            plaintext: 0,
        }
    }

    /// Whether a read now would only say `WouldBlock` until the next readiness edge:
    /// rustls holds no decrypted bytes and the last socket read emptied the socket
    /// (bytes arriving later raise a new edge). Saves the `recv` that would say EAGAIN.
    pub fn drained(&self) -> bool {
        self.established && self.socket_short && self.plaintext == 0
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether encrypted bytes wait for the socket to take them.
    pub fn holds_output(&self) -> bool {
        self.conn.wants_write()
    }

    /// Sends encrypted bytes waiting in rustls. `WouldBlock` when some remain.
    pub fn send_held(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Ends the TLS session (close_notify) and the sending direction of the socket.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        match self.send_held() {
            Ok(()) => {}
            // Best effort: a full socket loses the close_notify, not the replies before.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        self.tcp.shutdown(std::net::Shutdown::Write)
    }

    /// Counts a handshake that never finished (the worker's handshake deadline).
    pub fn count_abandoned_handshake(&self) {
        if !self.established {
            self.counters.handshake_errors.fetch_add(1, Relaxed);
        }
    }

    /// Reads records from the socket and decrypts them until there is plaintext, the
    /// socket has nothing more (`WouldBlock`), or the connection ends.
    fn receive(&mut self) -> io::Result<()> {
        let mut probe = Probe {
            tcp: &mut self.tcp,
            short: false,
        };
        let read = self.conn.read_tls(&mut probe);
        self.socket_short = probe.short && matches!(read, Ok(n) if n > 0);
        read?;
        let state = self.conn.process_new_packets();
        if let Ok(state) = &state {
            self.plaintext = state.plaintext_bytes_to_read();
        }
        if let Err(error) = state {
            let counter = if self.established {
                &self.counters.proto_errors
            } else {
                &self.counters.handshake_errors
            };
            counter.fetch_add(1, Relaxed);
            // The alert rustls queued tells the peer why; then the connection is done.
            let _ = self.send_held();
            return Err(io::Error::new(io::ErrorKind::InvalidData, error));
        }
        if !self.established && !self.conn.is_handshaking() {
            self.established = true;
            self.counters.handshakes.fetch_add(1, Relaxed);
        }
        // Handshake messages, alerts, session tickets: out now if the socket takes them,
        // otherwise the session's next flush sends them (`holds_output`).
        match self.send_held() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // What an earlier call saw of the socket may be stale (an edge may have come
        // since): only a socket read made by this call may say it is empty.
        self.socket_short = false;
        loop {
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Plaintext, Ok(0) for a close_notify, UnexpectedEof for a bare TCP close.
                other => {
                    if let Ok(n) = other {
                        self.plaintext = self.plaintext.saturating_sub(n);
                    }
                    return other;
                }
            }
            self.receive()?;
        }
    }

    /// Fills the parts in order (a value's tail, then the read buffer behind it).
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let mut total = 0;
        for buf in bufs.iter_mut().filter(|b| !b.is_empty()) {
            let result = if total == 0 {
                self.read(buf)
            } else {
                // Only what rustls already holds: never wait for more once some arrived.
                let held = self.conn.reader().read(buf);
                if let Ok(n) = held {
                    self.plaintext = self.plaintext.saturating_sub(n);
                }
                held
            };
            match result {
                Ok(n) => {
                    total += n;
                    if n < buf.len() {
                        break;
                    }
                }
                Err(_) if total > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    /// Encrypts up to `ssl_wbuf_size` bytes of the gather list (a record per piece) and
    /// sends the records; `WouldBlock` while earlier records still wait for the socket.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.send_held()?;
        let mut taken = 0;
        for buf in bufs.iter().filter(|b| !b.is_empty()) {
            let room = self.wbuf_size - taken;
            if room == 0 {
                break;
            }
            let piece = &buf[..buf.len().min(room)];
            let n = self.conn.writer().write(piece)?;
            taken += n;
            if n < piece.len() {
                break;
            }
        }
        match self.send_held() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(taken),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_held()
    }
}
