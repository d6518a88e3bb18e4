//! The acceptor thread: owns the listening sockets and the signal pipe, accepts
//! connections and hands each to a worker's run queue, round robin.

use crate::stats::ServerStats;
use crate::stream::Stream;
use crate::worker::{Worker, WorkerHandle};
use crate::{ServerConfig, ServerError};
use mio::net::{TcpListener, UnixListener};
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use store::Store;

/// What the acceptor listens on.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

const SIGNAL: Token = Token(usize::MAX - 1);
const WAKE: Token = Token(usize::MAX - 2);

/// How often the acceptor advances the store's cached clock.
const CLOCK_TICK: std::time::Duration = std::time::Duration::from_millis(100);
/// How often the acceptor reclaims expired and flushed segments.
const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Reply to a client over the connection limit, as memcached sends it.
const TOO_MANY: &[u8] = b"ERROR Too many open connections\r\n";

pub(crate) struct Acceptor {
    poll: Poll,
    listeners: Vec<Listener>,
    /// Bound UDP sockets; every worker serves a duplicate of each.
    udp: Vec<std::net::UdpSocket>,
    config: Arc<ServerConfig>,
    store: &'static Store,
    stats: Arc<ServerStats>,
    signals: mio::net::UnixStream,
    shutdown: Arc<Shutdown>,
}

/// Lets a worker (the `shutdown` command) stop the acceptor.
pub(crate) struct Shutdown {
    waker: mio::Waker,
    requested: std::sync::atomic::AtomicBool,
}

impl Shutdown {
    pub(crate) fn request(&self) {
        self.requested.store(true, Relaxed);
        // If the wake fails the process is already going down; nothing better to do.
        let _ = self.waker.wake();
    }
}

fn listen_tcp(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// A UDP socket as memcached sets one up: address reuse, v6 only for v6, and send and
/// receive buffers as large as the system allows (a multi-get reply leaves in a burst).
fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // The kernel caps these at its maximum; a refusal only leaves the default.
    let _ = socket.set_send_buffer_size(UDP_BUFFER_SIZE);
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_SIZE);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Socket buffer size asked for UDP sockets.
const UDP_BUFFER_SIZE: usize = 4 << 20;

impl Acceptor {
    pub(crate) fn bind(
        config: Arc<ServerConfig>,
        store: &'static Store,
        stats: Arc<ServerStats>,
    ) -> Result<Acceptor, ServerError> {
        let poll = Poll::new()?;
        let mut listeners = Vec::new();
        if let Some(path) = &config.unix_socket {
            // A stale socket file from a previous run would make bind fail; memcached
            // removes it too.
            let _ = std::fs::remove_file(path);
            let what = path.display().to_string();
            let l = UnixListener::bind(path).map_err(|source| ServerError::Listen {
                what: what.clone(),
                source,
            })?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(config.unix_mask))
                .map_err(|source| ServerError::Listen { what, source })?;
            listeners.push(Listener::Unix(l));
        }
        for addr in &config.tcp {
            let l = listen_tcp(*addr, config.backlog).map_err(|source| ServerError::Listen {
                what: addr.to_string(),
                source,
            })?;
            listeners.push(Listener::Tcp(l));
        }
        let mut udp = Vec::new();
        for addr in &config.udp {
            udp.push(bind_udp(*addr).map_err(|source| ServerError::Listen {
                what: format!("udp {addr}"),
                source,
            })?);
        }
        if listeners.is_empty() && udp.is_empty() {
            return Err(ServerError::NoListeners);
        }
        for (i, l) in listeners.iter_mut().enumerate() {
            match l {
                Listener::Tcp(l) => poll.registry().register(l, Token(i), Interest::READABLE)?,
                Listener::Unix(l) => poll.registry().register(l, Token(i), Interest::READABLE)?,
            }
        }
        // Signals arrive as bytes on a socket pair, so the acceptor's poll sees them.
        let (read_end, write_end) = std::os::unix::net::UnixStream::pair()?;
        read_end.set_nonblocking(true)?;
        write_end.set_nonblocking(true)?;
        let mut signals = mio::net::UnixStream::from_std(read_end);
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::low_level::pipe::register(sig, write_end.try_clone()?)?;
        }
        poll.registry()
            .register(&mut signals, SIGNAL, Interest::READABLE)?;
        // SIGPIPE would kill the process on a write to a closed socket; writes report
        // EPIPE instead, which the channel turns into Abort.
        // SAFETY: setting a signal disposition to SIG_IGN has no memory effects.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        let shutdown = Arc::new(Shutdown {
            waker: mio::Waker::new(poll.registry(), WAKE)?,
            requested: std::sync::atomic::AtomicBool::new(false),
        });
        Ok(Acceptor {
            poll,
            listeners,
            udp,
            config,
            store,
            stats,
            signals,
            shutdown,
        })
    }

    pub(crate) fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| match l {
                Listener::Tcp(l) => l.local_addr().ok(),
                Listener::Unix(_) => None,
            })
            .collect()
    }

    pub(crate) fn run(mut self) -> Result<(), ServerError> {
        let registry = Arc::new(crate::worker::ConnRegistry::default());
        let mut workers: Vec<WorkerHandle> = Vec::new();
        for id in 0..self.config.threads.max(1) {
            workers.push(Worker::spawn(
                id,
                self.config.clone(),
                self.store,
                self.stats.clone(),
                self.shutdown.clone(),
                registry.clone(),
                self.udp
                    .iter()
                    .map(std::net::UdpSocket::try_clone)
                    .collect::<io::Result<_>>()?,
            )?);
            // memcached counts each thread's UDP socket as an open connection.
            let udp = self.udp.len() as u64;
            self.stats.curr_connections.fetch_add(udp, Relaxed);
            if let Some(worker) = self.stats.workers.get(id) {
                crate::stats::WorkerStats::bump(&worker.total_connections, udp);
            }
        }
        let mut next = 0usize;
        let mut events = Events::with_capacity(256);
        let mut last_sweep = std::time::Instant::now();
        // Listeners whose accepting stopped short, retried every tick.
        let mut starved = false;
        'serve: loop {
            // Wake every tick to advance the store's clock, and once a second reclaim
            // expired segments here, so a mass expiry never lands on a request's path.
            if let Err(e) = self.poll.poll(&mut events, Some(CLOCK_TICK)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            for event in events.iter() {
                match event.token() {
                    SIGNAL | WAKE => {
                        let mut buf = [0u8; 64];
                        while let Ok(n) = io::Read::read(&mut self.signals, &mut buf) {
                            if n == 0 {
                                break;
                            }
                        }
                        break 'serve;
                    }
                    Token(i) => starved |= self.accept_all(i, &workers, &mut next),
                }
            }
            if std::mem::take(&mut starved) {
                for i in 0..self.listeners.len() {
                    starved |= self.accept_all(i, &workers, &mut next);
                }
            }
            if self.shutdown.requested.load(Relaxed) {
                break;
            }
            self.store.refresh_clock();
            if last_sweep.elapsed() >= SWEEP_INTERVAL {
                last_sweep = std::time::Instant::now();
                self.store.sweep();
            }
        }
        // Stop accepting first, then let workers finish what is in flight.
        self.stats.accepting.store(0, Relaxed);
        self.listeners.clear();
        self.udp.clear();
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

    /// Accepts until the listener has no more. True when it stopped with connections
    /// possibly still waiting (out of descriptors, interrupted): the listener is
    /// edge-triggered, so the caller must try again rather than wait for an event.
    fn accept_all(&mut self, index: usize, workers: &[WorkerHandle], next: &mut usize) -> bool {
        loop {
            let stream = match &self.listeners[index] {
                Listener::Tcp(l) => match l.accept() {
                    Ok((s, _)) => {
                        // Replies are small and latency-bound: never wait for Nagle.
                        let _ = s.set_nodelay(true);
                        Stream::Tcp(s)
                    }
                    Err(e) => return self.accept_error(e),
                },
                Listener::Unix(l) => match l.accept() {
                    Ok((s, _)) => Stream::Unix(s),
                    Err(e) => return self.accept_error(e),
                },
            };
            let open = self.stats.curr_connections.load(Relaxed);
            if open as usize >= self.config.max_conns {
                self.stats.rejected_connections.fetch_add(1, Relaxed);
                reject(stream);
                continue;
            }
            self.stats.curr_connections.fetch_add(1, Relaxed);
            let worker = &workers[*next % workers.len()];
            *next = next.wrapping_add(1);
            worker.adopt(stream);
        }
    }

    fn accept_error(&self, e: io::Error) -> bool {
        match e.kind() {
            io::ErrorKind::WouldBlock => false,
            io::ErrorKind::Interrupted => true,
            _ => {
                if self.config.verbose > 0 {
                    eprintln!("accept(): {e}");
                }
                // EMFILE, ENFILE, ENOBUFS, ENOMEM: the client stays in the backlog until
                // descriptors or memory free up; no new edge will announce it.
                true
            }
        }
    }
}

/// Tells an over-limit client why, then closes. The socket is fresh, so the short
/// reply fits its send buffer; if not, the client simply sees the close.
fn reject(mut stream: Stream) {
    let _ = stream.write(TOO_MANY);
}
