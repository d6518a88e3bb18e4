//! TLS for the load generator (`--tls-ca`): a rustls client that trusts the CA file
//! given, and a non-blocking stream over it that the event loop reads and writes like a
//! socket. The handshake is done at connect time (blocking, untimed, like the connect),
//! so the measured phase sees only records.
//!
//! Reads are greedy: they fill the caller's buffer from what rustls holds and what the
//! socket has, until the buffer is full or the socket says `WouldBlock`. So a short read
//! still means "nothing more until the next readiness edge", as it does for a socket,
//! and the worker's edge-triggered loop never leaves decrypted replies behind.

use crate::error::BenchError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

/// Plaintext rustls may hold unsent: a connection's output goes out in records as the
/// socket takes them.
const SEND_LIMIT: usize = 256 * 1024;

/// A client configuration trusting the CA certificates in `ca` (PEM).
pub fn client_config(ca: &Path) -> Result<Arc<ClientConfig>, BenchError> {
    let fail = |why: String| BenchError::Flag(format!("--tls-ca {}: {why}", ca.display()));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| fail(e.to_string()))? {
        roots
            .add(cert.map_err(|e| fail(e.to_string()))?)
            .map_err(|e| fail(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Completes a handshake on the blocking `tcp`, then hands both to the event loop.
pub fn handshake(
    mut tcp: std::net::TcpStream,
    config: Arc<ClientConfig>,
    name: &str,
) -> io::Result<TlsStream> {
    let name = ServerName::try_from(name.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    conn.set_buffer_limit(Some(SEND_LIMIT));
    tcp.set_nonblocking(true)?;
    Ok(TlsStream {
        tcp: mio::net::TcpStream::from_std(tcp),
        conn,
    })
}

/// An established client TLS connection over a non-blocking socket.
pub struct TlsStream {
    pub(crate) tcp: mio::net::TcpStream,
    conn: ClientConnection,
}

impl TlsStream {
    /// Sends the records rustls holds; `WouldBlock` when the socket is full.
    fn send(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.tcp)?;
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut total = 0;
        loop {
            match self.conn.reader().read(&mut buf[total..]) {
                Ok(0) if total == 0 => return Ok(0),
                Ok(n) => {
                    total += n;
                    if total == buf.len() {
                        return Ok(total);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return if total > 0 { Ok(total) } else { Err(e) },
            }
            match self.conn.read_tls(&mut self.tcp) {
                Ok(0) => return Ok(total),
                Ok(_) => {
                    self.conn
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                Err(e) if total > 0 && e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.send() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Room in rustls still takes plaintext; the records follow on writable.
            }
            other => other?,
        }
        let n = self.conn.writer().write(buf)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.send() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// `--handshakes`: `threads` clients each connecting, completing a handshake, asking
/// `version` and closing, over and over for `duration`. Returns the handshakes completed
/// and failed.
pub fn handshake_rate(
    addr: std::net::SocketAddr,
    config: Arc<ClientConfig>,
    name: &str,
    threads: usize,
    duration: std::time::Duration,
) -> (u64, u64) {
    let end = std::time::Instant::now() + duration;
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (config, name) = (config.clone(), name.to_string());
            std::thread::spawn(move || {
                let (mut done, mut failed) = (0u64, 0u64);
                while std::time::Instant::now() < end {
                    match one_handshake(addr, config.clone(), &name) {
                        Ok(()) => done += 1,
                        Err(_) => failed += 1,
                    }
                }
                (done, failed)
            })
        })
        .collect();
    workers
        .into_iter()
        .filter_map(|w| w.join().ok())
        .fold((0, 0), |(d, f), (d2, f2)| (d + d2, f + f2))
}

fn one_handshake(
    addr: std::net::SocketAddr,
    config: Arc<ClientConfig>,
    name: &str,
) -> io::Result<()> {
    let tcp = std::net::TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let name = ServerName::try_from(name.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    stream.write_all(b"version\r\n")?;
    let mut reply = [0u8; 64];
    let n = stream.read(&mut reply)?;
    if !reply[..n].starts_with(b"VERSION ") {
        return Err(io::ErrorKind::InvalidData.into());
    }
    Ok(())
}
