//! The server: threads, event loops and connections, gluing the channel (bytes), the
//! protocol (syntax) and the store (the cache) together.
//!
//! ```no_run
//! use server::{Server, ServerConfig};
//! use store::{Store, StoreConfig};
//!
//! let store: &'static Store = Box::leak(Box::new(Store::new(StoreConfig::default()).unwrap()));
//! let mut config = ServerConfig::default();
//! config.tcp = vec!["127.0.0.1:11211".parse().unwrap()];
//! let server = Server::bind(config, store).unwrap();
//! server.run().unwrap(); // until SIGTERM, SIGINT or `shutdown`
//! ```
//!
//! One acceptor thread hands connections round robin to `threads` workers, each with its
//! own `mio::Poll` and [`RunQueue`](run_queue::RunQueue). A worker never blocks. This crate
//! must never parse bytes itself (that is `protocol`) nor know how items are laid out
//! (that is `store`); it must never block a worker or let one connection starve others.

mod acceptor;
mod config;
mod connection;
mod detail;
mod exec_binary;
mod exec_meta;
mod exec_text;
mod run_queue;
mod stats;
mod stream;
mod udp;
mod worker;

pub use config::{ProtocolMode, ServerConfig};
pub use exec_text::COPY_MAX as VALUE_COPY_MAX;
pub use stats::ServerStats;
pub use worker::BUFFER_SIZE as READ_BUFFER_SIZE;

use std::io;
use std::sync::Arc;
use store::Store;

/// Errors that stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listening socket could not be set up.
    #[error("failed to listen on {what}: {source}")]
    Listen {
        /// The address or path.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// Nothing to listen on.
    #[error("no listening sockets configured")]
    NoListeners,
    /// A thread or poll could not be created.
    #[error("failed to start: {0}")]
    Start(#[from] io::Error),
}

/// A bound, not yet running server.
pub struct Server {
    acceptor: acceptor::Acceptor,
}

impl Server {
    /// Binds every configured socket (so bind errors surface before any thread starts).
    pub fn bind(config: ServerConfig, store: &'static Store) -> Result<Server, ServerError> {
        let stats = Arc::new(ServerStats::new(config.threads));
        Ok(Server {
            acceptor: acceptor::Acceptor::bind(Arc::new(config), store, stats)?,
        })
    }

    /// The TCP addresses actually bound (port 0 resolved), for tests and logs.
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.acceptor.local_addrs()
    }

    /// Serves until SIGINT/SIGTERM or an allowed `shutdown` command, then stops
    /// accepting, lets workers finish the replies in flight, and returns.
    pub fn run(self) -> Result<(), ServerError> {
        self.acceptor.run()
    }
}
