//! The acceptor thread: owns the listening sockets and the signal pipes, accepts
//! connections and hands each to a worker's run queue, round robin. It enforces `-c`.
//! It does nothing else, so accepting never waits behind other work: in particular no
//! TLS handshake happens here (memcached's acceptor does them, and tops out at a few
//! hundred a second); a worker does it as it reads the connection. SIGHUP reloads the
//! TLS certificates and whatever the service reloads ([`Service::reload`]).

use super::address::socket_name;
use super::counters::{ListenerStats, RuntimeStats};
use super::handler::{Handler, Service};
use super::shutdown::Shutdown;
use super::worker::handle::WorkerHandle;
use crate::{Security, ServerConfig, ServerError};
use channel::{Accepted, Listener, Stream};
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

const SIGNAL: Token = Token(usize::MAX - 1);
const WAKE: Token = Token(usize::MAX - 2);
const HANGUP: Token = Token(usize::MAX - 3);
/// How soon accepting is retried after it stopped short (out of descriptors).
const RETRY: Duration = Duration::from_millis(100);

pub(crate) struct Acceptor {
    poll: Poll,
    listeners: Vec<Listener>,
    /// How each listener's connections are carried, by index.
    security: Vec<Security>,
    config: Arc<ServerConfig>,
    stats: Arc<RuntimeStats>,
    signals: mio::net::UnixStream,
    /// SIGHUP: reload.
    hangups: mio::net::UnixStream,
    shutdown: Arc<Shutdown>,
}

impl Acceptor {
    /// Binds every configured stream socket, so bind errors surface before any thread
    /// starts.
    pub(crate) fn bind(config: Arc<ServerConfig>) -> Result<Acceptor, ServerError> {
        let mut listeners = Vec::new();
        let mut security = Vec::new();
        if let Some(path) = &config.unix_socket {
            let l =
                Listener::unix(path, config.unix_mask).map_err(|source| ServerError::Listen {
                    what: path.display().to_string(),
                    source,
                })?;
            listeners.push(l);
            // TLS is for TCP; a Unix socket stays plain, as memcached's.
            security.push(Security::Plain);
        }
        for addr in &config.tcp {
            let l = Listener::tcp(*addr, config.backlog).map_err(|source| ServerError::Listen {
                what: addr.to_string(),
                source,
            })?;
            listeners.push(l);
            security.push(match &config.tls {
                Some(tls) => tls.security_of(*addr),
                None => Security::Plain,
            });
        }
        Acceptor::with_listeners(config, listeners, security)
    }

    /// Serves `listeners`, bound by the caller (listener `i` is the `i`th), each carried
    /// as `security[i]` says.
    pub(crate) fn with_listeners(
        config: Arc<ServerConfig>,
        mut listeners: Vec<Listener>,
        security: Vec<Security>,
    ) -> Result<Acceptor, ServerError> {
        let poll = Poll::new()?;
        for (i, l) in listeners.iter_mut().enumerate() {
            poll.registry().register(l, Token(i), Interest::READABLE)?;
        }
        // Signals arrive as bytes on a socket pair, so the acceptor's poll sees them.
        let (read_end, write_end) = std::os::unix::net::UnixStream::pair()?;
        read_end.set_nonblocking(true)?;
        write_end.set_nonblocking(true)?;
        let mut signals = mio::net::UnixStream::from_std(read_end);
        // SIGUSR1 is memcached's graceful stop; here every stop is graceful.
        for sig in [
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGUSR1,
        ] {
            signal_hook::low_level::pipe::register(sig, write_end.try_clone()?)?;
        }
        poll.registry()
            .register(&mut signals, SIGNAL, Interest::READABLE)?;
        let (read_end, write_end) = std::os::unix::net::UnixStream::pair()?;
        read_end.set_nonblocking(true)?;
        write_end.set_nonblocking(true)?;
        let mut hangups = mio::net::UnixStream::from_std(read_end);
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGHUP, write_end)?;
        poll.registry()
            .register(&mut hangups, HANGUP, Interest::READABLE)?;
        // SIGPIPE would kill the process on a write to a closed socket; writes report
        // EPIPE instead, which the channel turns into Abort.
        // SAFETY: setting a signal disposition to SIG_IGN has no memory effects.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        let shutdown = Arc::new(Shutdown::new(mio::Waker::new(poll.registry(), WAKE)?));
        let names = listeners.iter().map(|l| {
            let name = match (l.local_addr(), &config.unix_socket) {
                (Some(addr), _) => socket_name("tcp", addr),
                (None, Some(path)) => format!("unix:{}", path.display()),
                (None, None) => "unix:".to_string(),
            };
            ListenerStats::new(i64::from(l.fd()), name)
        });
        let stats = Arc::new(RuntimeStats::new(config.threads.max(1), names.collect()));
        Ok(Acceptor {
            poll,
            listeners,
            security,
            config,
            stats,
            signals,
            hangups,
            shutdown,
        })
    }

    pub(crate) fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(Listener::local_addr)
            .collect()
    }

    pub(crate) fn stats(&self) -> &Arc<RuntimeStats> {
        &self.stats
    }

    pub(crate) fn shutdown(&self) -> &Arc<Shutdown> {
        &self.shutdown
    }

    /// Serves until a stop is asked for, then stops accepting, lets every worker drain,
    /// and returns once they all have.
    pub(crate) fn run<H: Handler>(mut self, service: Arc<H::Service>) -> Result<(), ServerError> {
        let mut workers = Vec::new();
        for index in 0..self.config.threads.max(1) {
            workers.push(WorkerHandle::spawn::<H>(
                index,
                self.config.clone(),
                self.stats.clone(),
                self.shutdown.clone(),
                service.clone(),
            )?);
        }
        let mut next = 0usize;
        let mut events = Events::with_capacity(256);
        // Whether some listener stopped accepting short and must be retried.
        let mut starved = false;
        'serve: loop {
            let timeout = starved.then_some(RETRY);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            for event in events.iter() {
                match event.token() {
                    SIGNAL | WAKE => {
                        drain(&mut self.signals);
                        break 'serve;
                    }
                    HANGUP => {
                        drain(&mut self.hangups);
                        self.reload(&*service);
                    }
                    Token(i) => starved |= self.accept_all(i, &workers, &mut next, &*service),
                }
            }
            if std::mem::take(&mut starved) {
                for i in 0..self.listeners.len() {
                    starved |= self.accept_all(i, &workers, &mut next, &*service);
                }
            }
            if self.shutdown.requested() {
                break;
            }
        }
        // Stop accepting first, then let workers finish what is in flight.
        self.stats.accepting.store(0, Relaxed);
        self.listeners.clear();
        if let Some(path) = &self.config.unix_socket {
            let _ = std::fs::remove_file(path);
        }
        for w in &workers {
            w.begin_shutdown();
        }
        for w in workers {
            w.join();
        }
        Ok(())
    }

    /// SIGHUP: the TLS certificates, then the service's own files. A failure keeps what
    /// was loaded before and is said on stderr.
    fn reload<S: Service>(&self, service: &S) {
        if let Some(tls) = &self.config.tls {
            match tls.context.reload() {
                Ok(()) if self.config.verbose > 0 => eprintln!("SIGHUP: TLS certificates reloaded"),
                Ok(()) => {}
                Err(e) => {
                    eprintln!("SIGHUP: TLS certificates not reloaded, the old ones stay: {e}")
                }
            }
        }
        service.reload();
    }

    /// Accepts until the listener has no more. True when it stopped with connections
    /// possibly still waiting (out of descriptors, interrupted): the listener is
    /// edge-triggered, so the caller must try again rather than wait for an event.
    fn accept_all<C: Send + 'static, S: Service>(
        &mut self,
        index: usize,
        workers: &[WorkerHandle<C>],
        next: &mut usize,
        service: &S,
    ) -> bool {
        let Some(listener) = self.listeners.get_mut(index) else {
            return false;
        };
        let security = self.security[index];
        loop {
            let stream = match listener.accept() {
                Accepted::Stream(stream) => stream,
                Accepted::Retry => return false,
                Accepted::Again(e) => {
                    if self.config.verbose > 0 && e.kind() != io::ErrorKind::Interrupted {
                        eprintln!("accept(): {e}");
                    }
                    return true;
                }
            };
            let open = self.stats.curr_connections.load(Relaxed);
            let counts = &self.stats.listeners[index];
            if open as usize >= self.config.max_conns {
                self.stats.rejected_connections.fetch_add(1, Relaxed);
                counts.rejected.fetch_add(1, Relaxed);
                // Plain text to a TLS client would only confuse it: it just sees the close.
                if security == Security::Plain {
                    reject(stream, service.over_limit());
                }
                continue;
            }
            self.stats.curr_connections.fetch_add(1, Relaxed);
            counts.accepted.fetch_add(1, Relaxed);
            counts.open.fetch_add(1, Relaxed);
            let worker = &workers[*next % workers.len()];
            *next = next.wrapping_add(1);
            worker.adopt(stream, security, index);
        }
    }
}

/// Reads a signal pipe empty.
fn drain(pipe: &mut mio::net::UnixStream) {
    let mut buf = [0u8; 64];
    while let Ok(n) = io::Read::read(pipe, &mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// Tells an over-limit client why, then closes. The socket is fresh, so the short
/// reply fits its send buffer; if not, the client simply sees the close.
fn reject(mut stream: Stream, why: &[u8]) {
    if !why.is_empty() {
        let _ = stream.write(why);
    }
}
