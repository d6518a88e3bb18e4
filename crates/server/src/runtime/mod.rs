//! The runtime: threads, event loops and sessions, knowing no protocol and no cache.
//! Whatever speaks a protocol plugs in as a [`Handler`] made by a [`Service`]: the cache
//! (`crate::cache`), the proxy, the tests' own handlers.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn f<S: server::runtime::Service>(service: Arc<S>) -> Result<(), server::ServerError> {
//! use server::{runtime::Runtime, ServerConfig};
//! let mut config = ServerConfig::default();
//! config.tcp = vec!["127.0.0.1:0".parse().unwrap()];
//! let runtime = Runtime::bind(Arc::new(config))?;
//! println!("listening on {:?}", runtime.local_addrs());
//! runtime.run(service) // until SIGTERM, SIGINT, SIGUSR1 or a requested shutdown
//! # }
//! ```
//!
//! One acceptor thread hands connections round robin to `-t` workers. A worker owns a
//! `mio::Poll`, its [`Session`]s and a [`RunQueue`]; it never blocks. A session does all
//! of its connection's IO and asks its handler what the input means ([`Verdict`]). A
//! handler that must wait (a disk read, a backend's reply) parks its session and gives a
//! [`Ticket`] to whoever does the work; the completion comes back through the worker's
//! run queue, the worker checks the [`ConnId`]'s generation and resumes the handler where
//! it stopped. Sessions of one worker complete each other without a lock or a system
//! call ([`Context::complete`]).
//!
//! Modules, each importing only those listed before it: `id`, `handshakes`, `life`,
//! `latency`, `counters`, `address`, `reply`, `queue`, `shutdown`, `agenda`, `handler`,
//! `ring` (and its `files` table and `provided` buffers), `session`, `session_ring`,
//! `worker` (and its `ring_turn`), `acceptor`.

mod acceptor;
mod address;
mod agenda;
mod counters;
mod handler;
mod handshakes;
mod id;
pub mod latency;
mod life;
mod queue;
mod reply;
mod ring;
mod session;
mod session_ring;
mod shutdown;
mod worker;

pub use address::{peer_name, socket_name};
pub use counters::{
    bump, ConnInfo, ConnState, ListenerStats, RuntimeStats, Totals, WorkerCounters,
};
pub use handler::{Context, Handler, Outbox, Port, Service, Transport, Verdict};
pub use id::ConnId;
pub use latency::{Histogram, Latency};
pub use life::{CloseReason, Life};
pub use queue::{RunQueue, Ticket};
pub use reply::Reply;
pub use session::Session;
pub use shutdown::Shutdown;
pub use worker::BUFFER_SIZE;

use crate::{ServerConfig, ServerError};
use std::net::SocketAddr;
use std::sync::Arc;

/// How long shutdown waits for slow readers and parked sessions before closing them.
pub const DRAIN_DEADLINE: std::time::Duration = worker::DRAIN_DEADLINE;

/// Bound listening sockets, not yet serving.
pub struct Runtime {
    acceptor: acceptor::Acceptor,
}

impl Runtime {
    /// Binds every stream socket of `config` (so bind errors surface before any thread
    /// starts).
    pub fn bind(config: Arc<ServerConfig>) -> Result<Runtime, ServerError> {
        Ok(Runtime {
            acceptor: acceptor::Acceptor::bind(config)?,
        })
    }

    /// Serves listening sockets the caller bound (a proxy binds one per pool, each with
    /// its own backlog and Unix socket mode); `config`'s own addresses are ignored.
    /// Connections from `listeners[i]` reach [`Service::accept_on`] with `i`.
    pub fn with_listeners(
        config: Arc<ServerConfig>,
        listeners: Vec<channel::Listener>,
    ) -> Result<Runtime, ServerError> {
        // The caller's sockets are plain (a proxy has no TLS listeners yet).
        let security = vec![crate::Security::Plain; listeners.len()];
        Ok(Runtime {
            acceptor: acceptor::Acceptor::with_listeners(config, listeners, security)?,
        })
    }

    /// The TCP addresses bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.acceptor.local_addrs()
    }

    /// The runtime's counters, live.
    pub fn stats(&self) -> Arc<RuntimeStats> {
        self.acceptor.stats().clone()
    }

    /// What stops the server from any thread.
    pub fn shutdown(&self) -> Arc<Shutdown> {
        self.acceptor.shutdown().clone()
    }

    /// Serves with `service`'s handlers until SIGINT, SIGTERM, SIGUSR1 or a requested
    /// shutdown; then stops accepting, lets sessions finish what is in flight (at most
    /// [`DRAIN_DEADLINE`]), and returns.
    pub fn run<S: Service>(self, service: Arc<S>) -> Result<(), ServerError> {
        self.acceptor.run::<S::Handler>(service)
    }
}
