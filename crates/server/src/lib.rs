//! The server: threads, event loops and sessions (the [`runtime`]), and memcached's
//! commands over them (the [`cache`]), gluing the channel (bytes), the protocol (syntax)
//! and the store (the cache) together.
//!
//! ```no_run
//! use server::{Server, ServerConfig};
//! use store::{Store, StoreConfig};
//!
//! let store: &'static Store = Box::leak(Box::new(Store::new(StoreConfig::default()).unwrap()));
//! let mut config = ServerConfig::default();
//! config.tcp = vec!["127.0.0.1:11211".parse().unwrap()];
//! let server = Server::bind(config, store).unwrap();
//! server.run().unwrap(); // until SIGTERM, SIGINT, SIGUSR1 or `shutdown`
//! ```
//!
//! Two parts, one way: `cache` uses `runtime`, never the reverse. The runtime knows no
//! protocol and no store; anything that speaks a protocol plugs into it as a
//! [`runtime::Handler`] (the cache's, the proxy's, the tests'). The [`admin`] listener
//! (`--admin`: metrics, health, stats as JSON) reads both, on a thread of its own. This
//! crate must never
//! parse bytes itself (that is `protocol`), know how items are laid out (that is
//! `store`) or make a system call outside `channel`; it must never block a worker or
//! let one connection starve others. docs/server.md is the map.

pub mod admin;
pub mod cache;
mod config;
mod counter_set;
mod credentials;
pub mod disk_tier;
pub mod runtime;

pub use config::{IoBackend, ProtocolMode, Security, ServerConfig, ServerTls, Subsystems};
pub use credentials::{CredentialError, CredentialKind, Credentials};
pub use runtime::BUFFER_SIZE as READ_BUFFER_SIZE;

/// Values up to this size are copied into replies; larger ones are sent by reference.
pub const VALUE_COPY_MAX: usize = cache::COPY_MAX;

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
    /// The disk tier could not start (memcached: "Failed to initialize external
    /// storage: ...").
    #[error("Failed to initialize external storage: {0}")]
    Disk(#[from] disk::DiskError),
}

/// A bound, not yet running cache server.
pub struct Server {
    runtime: runtime::Runtime,
    cache: Arc<cache::Cache>,
    admin: Option<admin::Admin>,
}

impl Server {
    /// Binds every configured socket (so bind errors surface before any thread starts).
    pub fn bind(config: ServerConfig, store: &'static Store) -> Result<Server, ServerError> {
        Server::bind_restored(config, store, None)
    }

    /// As [`Server::bind`], after a warm restart: `disk_index` is the `DISK` section the
    /// store handed back (`Restore::Restored::extra`), for the disk tier to take back
    /// ([`Server::disk_restore`] says whether it did).
    pub fn bind_restored(
        config: ServerConfig,
        store: &'static Store,
        disk_index: Option<&[u8]>,
    ) -> Result<Server, ServerError> {
        if config.tcp.is_empty() && config.unix_socket.is_none() && config.udp.is_empty() {
            return Err(ServerError::NoListeners);
        }
        let config = Arc::new(config);
        // UDP first: a client that sees the TCP port accept may expect UDP to answer too.
        let mut udp = Vec::new();
        for addr in &config.udp {
            udp.push(
                channel::datagram::bind(*addr).map_err(|source| ServerError::Listen {
                    what: format!("udp {addr}"),
                    source,
                })?,
            );
        }
        // The disk tier's file is opened (and locked) before the listeners exist: a client
        // that can connect may rely on the file being this server's (a second server on
        // it is refused), as with memcached, which opens extstore before it listens.
        let tier = match &config.ext {
            Some(ext) => Some(cache::Tier::open(ext, store, disk_index)?),
            None => {
                // No tier to read them: restored external items cannot be served.
                if store.external_pending() {
                    store.drop_external();
                }
                None
            }
        };
        let runtime = runtime::Runtime::bind(config.clone())?;
        let admin = match config.admin {
            Some(addr) => Some(
                admin::Admin::bind(addr).map_err(|source| ServerError::Listen {
                    what: format!("admin {addr}"),
                    source,
                })?,
            ),
            None => None,
        };
        let mut cache = cache::Cache::new(store, config, udp);
        if let Some(tier) = tier {
            cache = cache.with_tier(tier);
        }
        Ok(Server {
            runtime,
            cache: Arc::new(cache),
            admin,
        })
    }

    /// What became of the disk tier's index saved at the last clean stop.
    pub fn disk_restore(&self) -> Option<&disk_tier::restart::DiskRestore> {
        self.cache.tier().and_then(cache::Tier::restore)
    }

    /// A handle that gives the disk tier's `DISK` section once [`Server::run`] returned.
    pub fn restart_saver(&self) -> RestartSaver {
        RestartSaver(self.cache.clone())
    }

    /// The admin listener's address, if there is one (port 0 resolved).
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin.as_ref().map(admin::Admin::local_addr)
    }

    /// The TCP addresses actually bound (port 0 resolved), for tests and logs.
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.runtime.local_addrs()
    }

    /// Serves until SIGINT/SIGTERM/SIGUSR1 or an allowed `shutdown` command, then stops
    /// accepting, lets workers finish the replies in flight, and returns.
    pub fn run(self) -> Result<(), ServerError> {
        let maintenance = cache::Maintenance::start(self.cache.store)?;
        let cache = self.cache.clone();
        let admin = match self.admin {
            Some(admin) => {
                let pages = admin::Pages::new(self.cache.clone(), self.runtime.stats());
                Some(admin.start(pages)?)
            }
            None => None,
        };
        let result = self.runtime.run(self.cache);
        if let Some(admin) = admin {
            admin.stop();
        }
        maintenance.stop();
        // After the workers: reads still queued complete to no one.
        if let Some(tier) = cache.tier() {
            tier.stop();
        }
        result
    }
}

/// What a clean stop adds to the store's restart data ([`Server::restart_saver`]).
pub struct RestartSaver(Arc<cache::Cache>);

impl RestartSaver {
    /// The disk tier's `DISK` section (`None` without a tier). Call it after
    /// [`Server::run`] returned: it stops the engine if it still runs.
    pub fn disk_section(&self) -> Option<std::io::Result<store::ExtraSection>> {
        self.0.tier().map(cache::Tier::restart_section)
    }
}
