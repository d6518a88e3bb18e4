//! A worker thread: one `mio::Poll`, the connections it owns, and its run queue.

use crate::acceptor::Shutdown;
use crate::connection::{Connection, Ctx, Drive, Env};
use crate::run_queue::{RunQueue, Task};
use crate::stats::ServerStats;
use crate::stream::Stream;
use crate::ServerConfig;
use channel::BufferPool;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use store::Store;

const WAKER: Token = Token(usize::MAX);
/// Run-queue tasks taken per loop turn, so posts cannot starve connections.
const TASKS_PER_TURN: usize = 64;
/// Size of pooled read buffers and reply scratch. A request line plus a value up to
/// this size is served from the read buffer; larger values go straight into the store.
/// 16 KiB by measurement (docs/io.md, `bench/thresholds`); `CORVID_READ_BUFFER` at build
/// time overrides it for such measurements.
pub const BUFFER_SIZE: usize =
    crate::config::build_size(option_env!("CORVID_READ_BUFFER"), 16 * 1024);
/// Spare buffers a worker keeps.
const POOL_KEEP: usize = 64;
/// How long a shutting-down worker waits for slow readers to take their replies.
const DRAIN_DEADLINE: Duration = Duration::from_secs(4);
/// Reads a lingering connection may discard per turn, so that a client that keeps
/// sending cannot hold its worker past the drain deadline.
const LINGER_READS: usize = 64;

/// What `stats conns` shows of one connection, shared with the registry.
#[derive(Debug)]
pub(crate) struct ConnInfo {
    pub(crate) fd: i64,
    pub(crate) addr: String,
    pub(crate) last_cmd: AtomicU64,
}

/// Every open connection of every worker, for `stats conns`. Locked only on open, close
/// and `stats conns`.
#[derive(Debug, Default)]
pub(crate) struct ConnRegistry {
    conns: Mutex<Slab<Arc<ConnInfo>>>,
}

impl ConnRegistry {
    fn add(&self, info: Arc<ConnInfo>) -> usize {
        self.lock().insert(info)
    }
    fn remove(&self, key: usize) {
        self.lock().try_remove(key);
    }
    pub(crate) fn snapshot(&self) -> Vec<Arc<ConnInfo>> {
        let mut all: Vec<_> = self.lock().iter().map(|(_, c)| c.clone()).collect();
        all.sort_by_key(|c| c.fd);
        all
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Slab<Arc<ConnInfo>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The acceptor's handle on a worker.
pub(crate) struct WorkerHandle {
    queue: Arc<RunQueue<Worker>>,
    thread: JoinHandle<()>,
}

impl WorkerHandle {
    pub(crate) fn adopt(&self, stream: Stream) {
        // Failing to wake means the worker is gone; the stream is then dropped (closed).
        let _ = self
            .queue
            .post(Box::new(move |w: &mut Worker| w.adopt(stream)));
    }
    pub(crate) fn begin_shutdown(&self) {
        let _ = self
            .queue
            .post(Box::new(|w: &mut Worker| w.begin_shutdown()));
    }
    pub(crate) fn join(self) {
        let _ = self.thread.join();
    }
}

struct Slot {
    conn: Connection,
    registry_key: usize,
    /// Shutdown: replies all written, write side closed, input being discarded.
    lingering: bool,
}

/// Where a lingering connection stands.
enum Linger {
    /// The peer closed (or the socket failed): close it now.
    Closed,
    /// Nothing to read now; the next readiness event continues.
    Waiting,
    /// The read budget ran out with input left: continue next turn.
    More,
}

impl Slot {
    /// Shutdown with every reply written: half-close, then discard what the client still
    /// sends until it closes. Closing with unread input would make the kernel reset the
    /// connection and drop replies still in flight to the client.
    fn linger(&mut self) -> Linger {
        if !self.lingering {
            self.lingering = true;
            if self.conn.stream_mut().shutdown_write().is_err() {
                return Linger::Closed;
            }
        }
        let mut sink = [0u8; 16 * 1024];
        for _ in 0..LINGER_READS {
            match channel::read(self.conn.stream_mut(), &mut sink) {
                channel::Outcome::Done(_) => {}
                channel::Outcome::Retry => return Linger::Waiting,
                channel::Outcome::Abort(_) => return Linger::Closed,
            }
        }
        Linger::More
    }
}

/// What a worker shares with the rest of the server, and lends to every command as a
/// [`Ctx`].
struct Shared {
    id: usize,
    config: Arc<ServerConfig>,
    store: &'static Store,
    stats: Arc<ServerStats>,
    shutdown: Arc<Shutdown>,
    registry: Arc<ConnRegistry>,
}

impl Shared {
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: self.store,
            stats: &self.stats,
            worker: &self.stats.workers[self.id],
            config: &self.config,
            shutdown: &self.shutdown,
            registry: &self.registry,
        }
    }
}

pub(crate) struct Worker {
    shared: Shared,
    poll: Poll,
    queue: Arc<RunQueue<Worker>>,
    conns: Slab<Slot>,
    pool: BufferPool,
    /// Connections with work left and no readiness event coming (yielded after `-R`, or
    /// released from backpressure).
    ready: Vec<Token>,
    stopping: Option<Instant>,
    /// This worker's duplicates of the UDP sockets, which every worker serves.
    udp: crate::udp::UdpPorts,
}

impl Worker {
    pub(crate) fn spawn(
        id: usize,
        config: Arc<ServerConfig>,
        store: &'static Store,
        stats: Arc<ServerStats>,
        shutdown: Arc<Shutdown>,
        registry: Arc<ConnRegistry>,
        udp: Vec<std::net::UdpSocket>,
    ) -> std::io::Result<WorkerHandle> {
        let poll = Poll::new()?;
        let udp = crate::udp::UdpPorts::new(udp, poll.registry())?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let queue = Arc::new(RunQueue::new(waker));
        let mut worker = Worker {
            shared: Shared {
                id,
                config,
                store,
                stats,
                shutdown,
                registry,
            },
            poll,
            queue: queue.clone(),
            conns: Slab::new(),
            pool: BufferPool::new(BUFFER_SIZE, POOL_KEEP),
            ready: Vec::new(),
            stopping: None,
            udp,
        };
        let thread = std::thread::Builder::new()
            .name(format!("worker-{id}"))
            .spawn(move || worker.run())?;
        Ok(WorkerHandle { queue, thread })
    }

    fn adopt(&mut self, mut stream: Stream) {
        use std::os::fd::AsRawFd;
        if self.stopping.is_some() {
            self.shared.stats.curr_connections.fetch_sub(1, Relaxed);
            return;
        }
        let fd = match &stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        };
        let entry = self.conns.vacant_entry();
        let token = Token(entry.key());
        // Edge-triggered, both directions, registered once: no re-registration syscalls.
        if self
            .poll
            .registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            self.shared.stats.curr_connections.fetch_sub(1, Relaxed);
            return;
        }
        let info = Arc::new(ConnInfo {
            fd: i64::from(fd),
            addr: stream.peer(),
            last_cmd: AtomicU64::new(self.shared.store.now()),
        });
        let registry_key = self.shared.registry.add(info.clone());
        crate::stats::WorkerStats::bump(
            &self.shared.stats.workers[self.shared.id].total_connections,
            1,
        );
        if self.shared.config.verbose > 1 {
            eprintln!("<{fd} new client connection");
        }
        entry.insert(Slot {
            conn: Connection::new(stream, info, self.shared.config.protocol),
            registry_key,
            lingering: false,
        });
        // Data may already be waiting; the edge may have fired before registration.
        self.ready.push(token);
    }

    fn begin_shutdown(&mut self) {
        self.stopping = Some(Instant::now());
        let tokens: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in tokens {
            if let Some(slot) = self.conns.get_mut(key) {
                slot.conn.stop_reading();
            }
            self.drive(Token(key), false);
        }
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut tasks: Vec<Task<Worker>> = Vec::new();
        let mut more_tasks = false;
        let mut last_sweep = Instant::now();
        loop {
            let timeout = if !self.ready.is_empty() || more_tasks {
                Some(Duration::ZERO)
            } else if self.stopping.is_some() || self.shared.config.idle_timeout.is_some() {
                Some(Duration::from_millis(100))
            } else {
                None
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    eprintln!("worker {}: poll failed: {e}", self.shared.id);
                    return;
                }
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    more_tasks = true;
                } else {
                    if event.is_read_closed() && !self.udp.owns(event.token()) {
                        if let Some(slot) = self.conns.get_mut(event.token().0) {
                            slot.conn.read_closed = true;
                        }
                    }
                    self.drive(event.token(), true);
                }
            }
            if more_tasks {
                more_tasks = self.queue.drain(TASKS_PER_TURN, &mut tasks);
                for task in tasks.drain(..) {
                    task(self);
                }
            }
            let ready = std::mem::take(&mut self.ready);
            for token in &ready {
                self.drive(*token, false);
            }
            // Hand the vector's storage back so the ready list does not reallocate.
            let mut ready = ready;
            ready.clear();
            if self.ready.is_empty() {
                self.ready = ready;
            }
            if let Some(idle) = self.shared.config.idle_timeout {
                if last_sweep.elapsed() >= Duration::from_secs(1) {
                    last_sweep = Instant::now();
                    self.close_idle(idle);
                }
            }
            if let Some(since) = self.stopping {
                if self.conns.is_empty() || since.elapsed() > DRAIN_DEADLINE {
                    let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
                    for key in keys {
                        self.close(Token(key));
                    }
                    return;
                }
            }
        }
    }

    fn close_idle(&mut self, idle: Duration) {
        let now = self.shared.store.now();
        let stale: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, s)| {
                // Strictly more, as memcached: with whole seconds, `>=` closed a connection
                // whose last command was a few milliseconds before a second boundary.
                s.conn.is_idle()
                    && now.saturating_sub(s.conn.info().last_cmd.load(Relaxed)) > idle.as_secs()
            })
            .map(|(k, _)| k)
            .collect();
        for key in stale {
            self.close(Token(key));
        }
    }

    /// Drives one connection; `event` says a readiness event (not the ready list) woke it.
    fn drive(&mut self, token: Token, event: bool) {
        if self.udp.owns(token) {
            return self.drive_udp(token);
        }
        let Some(slot) = self.conns.get_mut(token.0) else {
            return;
        };
        let mut env = Env {
            ctx: self.shared.ctx(),
            pool: &mut self.pool,
        };
        match slot.conn.drive(&mut env, event) {
            Drive::Wait => {}
            Drive::Yielded => self.ready.push(token),
            Drive::Close => self.close(token),
        }
        if self.stopping.is_some() {
            if let Some(slot) = self.conns.get_mut(token.0) {
                if slot.conn.is_drained() {
                    match slot.linger() {
                        Linger::Closed => self.close(token),
                        Linger::More => self.ready.push(token),
                        Linger::Waiting => {}
                    }
                }
            }
        }
    }

    /// Serves datagrams from one UDP socket; none once shutdown has begun.
    fn drive_udp(&mut self, token: Token) {
        if self.stopping.is_some() {
            return;
        }
        let mut env = Env {
            ctx: self.shared.ctx(),
            pool: &mut self.pool,
        };
        if self.udp.drive(token, &mut env) == Drive::Yielded {
            self.ready.push(token);
        }
    }

    fn close(&mut self, token: Token) {
        if let Some(mut slot) = self.conns.try_remove(token.0) {
            let _ = self.poll.registry().deregister(slot.conn.stream_mut());
            slot.conn.release(&mut self.pool);
            self.shared.registry.remove(slot.registry_key);
            self.shared.stats.curr_connections.fetch_sub(1, Relaxed);
            if self.shared.config.verbose > 1 {
                eprintln!("<{} connection closed.", slot.conn.info().fd);
            }
        }
    }
}
