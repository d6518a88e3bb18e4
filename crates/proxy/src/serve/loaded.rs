//! A configuration ready to serve: checked, its backend addresses resolved, each backend
//! given a flat index; and the [`Current`] one, which a reload replaces atomically.
//!
//! ```
//! use proxy::serve::{Current, Loaded};
//! use proxy::ProxyConfig;
//! let yaml = "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1\n   - /tmp/m.sock:1\n";
//! let loaded = Loaded::new(ProxyConfig::from_twemproxy_yaml(yaml).unwrap()).unwrap();
//! assert_eq!(loaded.backends.len(), 2);
//! let current = Current::new(loaded);
//! assert_eq!(current.generation(), 1);
//! ```
//!
//! Names are resolved here, when a configuration is loaded (at start and on reload, off
//! the workers), never on a request's path: a worker must not block on DNS.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::ProxyConfig;
use crate::pool::ServerRef;
use crate::server::Address;

/// Where a backend listens, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BackendAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// One backend server of one pool.
#[derive(Clone, Debug)]
pub struct Backend {
    pub server: ServerRef,
    pub addr: BackendAddr,
    /// `pool:label` or `pool:name`: how stats and logs call it (and what a reload
    /// matches to keep its connections and health).
    pub key: String,
    /// The server's name in twemproxy's stats: its name if given, else its label.
    pub stats_name: String,
}

/// A configuration the proxy serves.
pub struct Loaded {
    pub config: ProxyConfig,
    /// Every pool's servers, pool after pool.
    pub backends: Vec<Backend>,
    /// Index in `backends` of each pool's first server.
    pub first: Vec<usize>,
    /// Counts the configurations served so far (1 for the first).
    pub generation: u64,
}

/// Why a configuration cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("pool '{pool}': server '{server}': cannot resolve '{host}': {reason}")]
    Resolve {
        pool: String,
        server: String,
        host: String,
        reason: String,
    },
    #[error("a reload cannot change the listeners (they are bound once at start): {0}")]
    Listeners(String),
}

impl Loaded {
    /// Resolves every backend's address (blocking: never call this on a worker).
    pub fn new(config: ProxyConfig) -> Result<Loaded, LoadError> {
        let mut backends = Vec::new();
        let mut first = Vec::with_capacity(config.pools.len());
        for (p, pool) in config.pools.iter().enumerate() {
            first.push(backends.len());
            for (s, spec) in pool.servers.iter().enumerate() {
                let addr = match &spec.address {
                    Address::Unix(path) => BackendAddr::Unix(path.clone()),
                    Address::Tcp { host, port } => {
                        let bare = host.trim_start_matches('[').trim_end_matches(']');
                        let resolved = (bare, *port)
                            .to_socket_addrs()
                            .map_err(|e| e.to_string())
                            .and_then(|mut all| all.next().ok_or_else(|| "no address".into()));
                        BackendAddr::Tcp(resolved.map_err(|reason| LoadError::Resolve {
                            pool: pool.name.clone(),
                            server: spec.label.clone(),
                            host: host.clone(),
                            reason,
                        })?)
                    }
                };
                // nutcracker's name for a server: its name, else `host:port` (the
                // label without its weight).
                let stats_name = spec
                    .name
                    .clone()
                    .unwrap_or_else(|| spec.address.to_string());
                backends.push(Backend {
                    server: ServerRef {
                        pool: p as u32,
                        server: s as u32,
                    },
                    addr,
                    key: format!("{}:{}", pool.name, stats_name),
                    stats_name,
                });
            }
        }
        Ok(Loaded {
            config,
            backends,
            first,
            generation: 1,
        })
    }

    /// The flat index of `server`.
    #[inline]
    pub fn flat(&self, server: ServerRef) -> usize {
        self.first[server.pool as usize] + server.server as usize
    }
}

/// The configuration being served, shared by every worker: replaced whole by a reload,
/// never changed in place. Workers compare [`Current::generation`] (one relaxed load per
/// request) and take the new one between requests.
pub struct Current {
    loaded: Mutex<Arc<Loaded>>,
    generation: AtomicU64,
}

impl Current {
    pub fn new(mut loaded: Loaded) -> Current {
        loaded.generation = 1;
        Current {
            loaded: Mutex::new(Arc::new(loaded)),
            generation: AtomicU64::new(1),
        }
    }

    /// The generation of the configuration served now.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The configuration served now.
    pub fn get(&self) -> Arc<Loaded> {
        self.lock().clone()
    }

    /// Serves `next` from now on, if its listeners are the ones bound; returns its
    /// generation.
    pub fn replace(&self, mut next: Loaded) -> Result<u64, LoadError> {
        let mut current = self.lock();
        let old: Vec<String> = current
            .config
            .listeners
            .iter()
            .map(|l| l.address.to_string())
            .collect();
        let new: Vec<String> = next
            .config
            .listeners
            .iter()
            .map(|l| l.address.to_string())
            .collect();
        if old != new {
            return Err(LoadError::Listeners(format!(
                "serving {}, the new configuration has {}",
                old.join(", "),
                new.join(", ")
            )));
        }
        next.generation = current.generation + 1;
        let generation = next.generation;
        *current = Arc::new(next);
        self.generation.store(generation, Ordering::Release);
        Ok(generation)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<Loaded>> {
        // Replacing an Arc cannot leave it half-written.
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(servers: &str, listen: &str) -> Loaded {
        let text = format!("a:\n  listen: {listen}\n  servers:\n{servers}");
        Loaded::new(ProxyConfig::from_twemproxy_yaml(&text).expect("valid")).expect("resolves")
    }

    #[test]
    fn backends_are_flat_and_named() {
        let l = yaml(
            "   - 127.0.0.1:11211:1 one\n   - localhost:11212:2\n",
            "127.0.0.1:22121",
        );
        assert_eq!(l.backends[0].key, "a:one");
        assert_eq!(l.backends[1].key, "a:localhost:11212");
        assert!(matches!(l.backends[1].addr, BackendAddr::Tcp(a) if a.port() == 11212));
        assert_eq!(l.flat(ServerRef { pool: 0, server: 1 }), 1);
    }

    #[test]
    fn a_reload_may_not_move_listeners() {
        let current = Current::new(yaml("   - 127.0.0.1:11211:1\n", "127.0.0.1:22121"));
        let moved = yaml("   - 127.0.0.1:11211:1\n", "127.0.0.1:22122");
        assert!(matches!(
            current.replace(moved),
            Err(LoadError::Listeners(_))
        ));
        let next = yaml("   - 127.0.0.1:11212:1\n", "127.0.0.1:22121");
        assert_eq!(current.replace(next).expect("same listeners"), 2);
        assert_eq!(current.generation(), 2);
        assert_eq!(current.get().generation, 2);
    }

    #[test]
    fn unresolvable_names_are_refused() {
        let text = "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - no-such-host.invalid:11211:1\n";
        let config = ProxyConfig::from_twemproxy_yaml(text).expect("valid");
        assert!(matches!(
            Loaded::new(config),
            Err(LoadError::Resolve { .. })
        ));
    }
}
