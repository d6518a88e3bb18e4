//! The admin listener (`--admin ADDR:PORT`, off by default): a little HTTP server on a
//! thread of its own, never on a worker, answering
//!
//! - `GET /metrics`: every `stats` counter and gauge, per-worker and per-listener
//!   counters and per-command latency histograms, in OpenMetrics when the scraper's
//!   `Accept` asks for it (Prometheus does), else in the Prometheus text format 0.0.4
//!   ([`metrics`], [`classic`]);
//! - `GET /health`: `200` while the server serves, `503` once it is shutting down;
//! - `GET /stats`: `stats` as a JSON object; `GET /stats/<group>` for `settings`,
//!   `items`, `slabs`, `latency` and `extstore` ([`pages`]).
//!
//! ```no_run
//! # fn f(cache: std::sync::Arc<server::cache::Cache>, runtime: std::sync::Arc<server::runtime::RuntimeStats>) -> std::io::Result<()> {
//! use server::admin::{Admin, Pages};
//! let admin = Admin::bind("127.0.0.1:9211".parse().unwrap())?;
//! let running = admin.start(Pages::new(cache, runtime))?;
//! // ... serve ...
//! running.stop();
//! # Ok(()) }
//! ```
//!
//! Every page is computed from the live counters when asked; the listener keeps nothing
//! of its own. It handles its clients with non-blocking IO on one `mio::Poll`: one
//! request per connection (the reply says `Connection: close`), at most
//! [`MAX_CLIENTS`] at once, each given [`CLIENT_DEADLINE`] to send its request and read
//! the reply, so a stuck scraper costs a socket, never a worker's time.

pub mod classic;
pub mod json;
pub mod metrics;
pub mod pages;

pub use pages::Pages;

use channel::{Accepted, Listener, Outcome, Stream};
use mio::{Events, Interest, Poll, Token, Waker};
use protocol::http::{self, Head};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Clients served at once; more are accepted and closed at once.
pub const MAX_CLIENTS: usize = 64;
/// How long a client has to send its request and read the reply.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(10);

const LISTENER: Token = Token(usize::MAX);
const WAKE: Token = Token(usize::MAX - 1);
/// How often deadlines are checked while clients are connected.
const TICK: Duration = Duration::from_millis(500);

/// A bound admin listener, not yet serving.
pub struct Admin {
    listener: Listener,
    addr: SocketAddr,
}

/// The admin thread, serving until stopped.
pub struct Running {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Admin {
    /// Binds `addr` (port 0 picks a free one), so a mistake shows before the server
    /// starts.
    pub fn bind(addr: SocketAddr) -> io::Result<Admin> {
        let listener = Listener::tcp(addr, 64)?;
        let addr = listener.local_addr().unwrap_or(addr);
        Ok(Admin { listener, addr })
    }

    /// The address bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `pages` on a thread named `admin` until [`Running::stop`].
    pub fn start(mut self, pages: Pages) -> io::Result<Running> {
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut self.listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let stop = Arc::new(AtomicBool::new(false));
        let mut server = Loop {
            poll,
            listener: self.listener,
            clients: slab::Slab::new(),
            pages,
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("admin".into())
            .spawn(move || server.run())?;
        Ok(Running {
            waker,
            stop,
            thread,
        })
    }
}

impl Running {
    /// Stops serving and waits for the thread to end.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
        let _ = self.thread.join();
    }
}

/// One client: its request as read so far, then its reply as written so far.
struct Client {
    stream: Stream,
    input: Vec<u8>,
    output: Vec<u8>,
    sent: usize,
    since: Instant,
}

struct Loop {
    poll: Poll,
    listener: Listener,
    clients: slab::Slab<Client>,
    pages: Pages,
    stop: Arc<AtomicBool>,
}

impl Loop {
    fn run(&mut self) {
        let mut events = Events::with_capacity(64);
        loop {
            let timeout = (!self.clients.is_empty()).then_some(TICK);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    eprintln!("admin: poll failed: {e}");
                    return;
                }
            }
            for event in events.iter() {
                match event.token() {
                    WAKE => {}
                    LISTENER => self.accept(),
                    Token(key) => self.serve(key),
                }
            }
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let late: Vec<usize> = self
                .clients
                .iter()
                .filter(|(_, c)| c.since.elapsed() > CLIENT_DEADLINE)
                .map(|(key, _)| key)
                .collect();
            for key in late {
                self.close(key);
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let mut stream = match self.listener.accept() {
                Accepted::Stream(stream) => stream,
                Accepted::Retry | Accepted::Again(_) => return,
            };
            if self.clients.len() >= MAX_CLIENTS {
                continue; // dropped: closed at once
            }
            let entry = self.clients.vacant_entry();
            let key = entry.key();
            let registered = self.poll.registry().register(
                &mut stream,
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            );
            if registered.is_err() {
                continue;
            }
            entry.insert(Client {
                stream,
                input: Vec::new(),
                output: Vec::new(),
                sent: 0,
                since: Instant::now(),
            });
            self.serve(key);
        }
    }

    /// Reads the request (until its head is complete), answers it, writes the answer;
    /// closes once it is all written or the client is gone.
    fn serve(&mut self, key: usize) {
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        if client.output.is_empty() {
            let mut buf = [0u8; 4096];
            loop {
                match client.stream.read(&mut buf) {
                    Outcome::Done(0) | Outcome::Abort(_) => return self.close(key),
                    Outcome::Done(n) => client.input.extend_from_slice(&buf[..n]),
                    Outcome::Retry => break,
                }
                if client.input.len() > http::MAX_HEAD {
                    break;
                }
            }
            match http::parse_request(&client.input) {
                Head::Incomplete => return,
                Head::Invalid { status } => {
                    http::write_response(&mut client.output, status, "text/plain", b"bad request\n")
                }
                Head::Request {
                    method,
                    path,
                    consumed,
                } => {
                    let head = &client.input[..consumed];
                    let accept = http::header(head, "Accept").unwrap_or_default();
                    let page = self.pages.respond(method, path, accept);
                    http::write_response(
                        &mut client.output,
                        page.status,
                        page.content_type,
                        &page.body,
                    );
                }
            }
        }
        while client.sent < client.output.len() {
            match client.stream.write(&client.output[client.sent..]) {
                Outcome::Done(n) => client.sent += n,
                Outcome::Retry => return,
                Outcome::Abort(_) => break,
            }
        }
        self.close(key);
    }

    fn close(&mut self, key: usize) {
        if let Some(mut client) = self.clients.try_remove(key) {
            let _ = self.poll.registry().deregister(&mut client.stream);
        }
    }
}
