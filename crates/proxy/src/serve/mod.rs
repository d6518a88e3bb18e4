//! The serving half of the proxy: client sessions and backend sessions on the server
//! runtime (`server::runtime`), executing the routing decisions of the rest of this
//! crate. docs/proxy.md ("Serving") is the map; in short:
//!
//! ```text
//!  client session (ClientHandler)            backend session (BackendHandler)
//!  parse, route, append to a link  --Kick-->  take the link's outgoing bytes, write
//!  slots: replies in request order <-Piece--  read replies in order, copy each out once
//!                                  <-Failed-  timeout, connection lost
//!         worker state (WorkerState): configuration, health, links, buffers
//! ```
//!
//! Every session of a worker shares the worker's [`WorkerState`]; sessions tell each
//! other things with the runtime's worker-local completions ([`Message`]), which cost no
//! lock and no system call, and the runtime drives each session once after a batch of
//! them, so fifty clients' requests to one backend leave in one `writev`.

mod backend;
mod binary_reply;
mod chunk;
mod client;
mod forward;
mod json;
mod link;
mod loaded;
mod log;
mod message;
mod multiget;
mod reload;
mod run;
mod service;
mod slots;
mod stats;
mod worker;

pub use binary_reply::{BinaryKind, BinaryReply};
pub use chunk::{Chunk, ChunkPool};
pub use json::twemproxy_json;
pub use loaded::{Backend, BackendAddr, Current, LoadError, Loaded};
pub use log::Log;
pub use message::{Failure, Message, Piece, Sink, Unit};
pub use reload::Load;
pub use run::{serve, ServeError, ServeOptions};
/// [`ServeOptions::io_backend`]'s type.
pub use server::IoBackend;
pub use service::Proxy;
pub use stats::{BackendCounters, BackendStats, Latency, PoolCounters, PoolStats, ProxyStats};
pub use worker::WorkerState;

use channel::Stream;
use server::runtime::{Context, Handler, Reply, Service, Verdict};

use crate::health::Status;

/// A session of the proxy: a client's, or one the proxy opened to a backend.
pub enum ProxyHandler {
    Client(client::ClientHandler),
    Backend(backend::BackendHandler),
}

impl Service for Proxy {
    type Handler = ProxyHandler;
    type Local = WorkerState;

    fn local(&self, worker: usize) -> WorkerState {
        WorkerState::new(worker, self.current.get(), self.stats.clone())
    }

    fn accept(&self, local: &mut WorkerState, stream: &Stream) -> ProxyHandler {
        self.accept_on(local, stream, 0)
    }

    fn accept_on(&self, local: &mut WorkerState, stream: &Stream, listener: usize) -> ProxyHandler {
        local.refresh(&self.current);
        let config = &local.loaded.config;
        let listener = listener.min(config.listeners.len().saturating_sub(1));
        if config.listeners[listener].tcp_keepalive {
            let _ = stream.set_keepalive();
        }
        if let Some(pool) = client::send::route_pool(config, config.listeners[listener].route) {
            local.pool_stats[pool]
                .worker(local.index)
                .add(|c| &c.client_connections, 1);
        }
        ProxyHandler::Client(client::ClientHandler::new(listener))
    }

    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// `preconnect: true` pools get their connections before the first request.
    fn start(&self, cx: &mut Context<'_, ProxyHandler>) {
        let loaded = cx.local().loaded.clone();
        for (flat, backend) in loaded.backends.iter().enumerate() {
            let pool = &loaded.config.pools[backend.server.pool as usize];
            if pool.preconnect {
                for _ in 0..pool.server_connections {
                    let _ = client::send::open_link(cx, flat);
                }
            }
        }
    }

    fn over_limit(&self) -> &'static [u8] {
        protocol::text::ERROR_TOO_MANY_CONNECTIONS
    }

    /// SIGHUP (the runtime's acceptor owns it): the reload thread reads the file again.
    fn reload(&self) {
        if let Some(hangup) = &self.hangup {
            // Full: a reload is already due, which will read the file as it is now.
            let _ = hangup.try_send(());
        }
    }
}

type Cx<'a> = Context<'a, ProxyHandler>;

impl Handler for ProxyHandler {
    type Service = Proxy;
    type Completion = Message;
    type Payload = Chunk;

    #[inline]
    fn step(&mut self, input: &[u8], reply: &mut Reply<'_, Chunk>, cx: &mut Cx<'_>) -> Verdict {
        match self {
            ProxyHandler::Client(c) => c.step(input, reply, cx),
            ProxyHandler::Backend(b) => b.step(input, reply, cx),
        }
    }

    #[inline]
    fn resume(
        &mut self,
        message: Message,
        _input: &[u8],
        reply: &mut Reply<'_, Chunk>,
        cx: &mut Cx<'_>,
    ) -> Verdict {
        match self {
            ProxyHandler::Client(c) => c.resume(message, reply, cx),
            ProxyHandler::Backend(b) => b.resume(message, reply, cx),
        }
    }

    fn expired(&mut self, _input: &[u8], reply: &mut Reply<'_, Chunk>, cx: &mut Cx<'_>) -> Verdict {
        match self {
            ProxyHandler::Client(_) => Verdict::Continue,
            ProxyHandler::Backend(b) => b.expired(reply, cx),
        }
    }

    fn gone(&mut self, _input: &[u8], cx: &mut Cx<'_>) {
        match self {
            ProxyHandler::Client(c) => c.gone(cx),
            ProxyHandler::Backend(b) => b.gone(cx),
        }
    }

    fn drained(&mut self, cx: &mut Cx<'_>) {
        match self {
            ProxyHandler::Client(c) => c.drained(cx),
            ProxyHandler::Backend(b) => b.drained(cx),
        }
    }

    fn idle(&self, input: &[u8]) -> bool {
        match self {
            ProxyHandler::Client(c) => c.idle(input),
            ProxyHandler::Backend(_) => false,
        }
    }

    fn busy(&self) -> bool {
        match self {
            ProxyHandler::Client(c) => c.busy(),
            ProxyHandler::Backend(b) => b.busy(),
        }
    }
}

/// How `stats backends` names a server's health on this worker.
pub(crate) fn health_name(status: Status) -> &'static str {
    match status {
        Status::Up => "up",
        Status::Out { .. } => "ejected",
        Status::Probing => "probing",
    }
}
