//! Starting the proxy: resolve and bind, start the runtime's workers with the proxy's
//! handlers, the stats port and the reload thread, serve until SIGTERM or SIGINT.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use channel::Listener;
use server::runtime::Runtime;
use server::{IoBackend, ServerConfig, ServerError};

use super::json;
use super::loaded::{Current, LoadError, Loaded};
use super::log::Log;
use super::reload::{self, Load};
use super::service::Proxy;
use super::stats::ProxyStats;
use crate::config::ProxyConfig;
use crate::listen::ListenAddress;

/// How to serve.
pub struct ServeOptions {
    /// Worker threads.
    pub threads: usize,
    /// The JSON stats port's address (`-a`, `-s`); None: no stats port.
    pub stats: Option<(String, u16)>,
    /// `-i`: how often the JSON stats are refreshed.
    pub stats_interval: Duration,
    /// Reads the configuration again on SIGHUP.
    pub load: Load,
    pub log: Arc<Log>,
    /// How the workers do their IO (`--io-backend`; epoll unless asked).
    pub io_backend: IoBackend,
}

/// Why the proxy could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("failed to listen on {what}: {source}")]
    Listen {
        what: String,
        source: std::io::Error,
    },
    #[error("failed to start the stats port on {what}: {source}")]
    Stats {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Runtime(#[from] ServerError),
    #[error("failed to start: {0}")]
    Start(#[from] std::io::Error),
}

/// Serves `config` until SIGTERM or SIGINT.
pub fn serve(config: ProxyConfig, options: ServeOptions) -> Result<(), ServeError> {
    let loaded = Loaded::new(config)?;
    let (listeners, unix) = bind(&loaded.config)?;
    let current = Arc::new(Current::new(loaded));
    let threads = options.threads.max(1);
    let stats = Arc::new(ProxyStats::new(threads));
    let server_config = ServerConfig {
        threads,
        // nutcracker has no connection limit of its own: descriptors are the limit.
        max_conns: 1 << 20,
        io_backend: options.io_backend,
        ..ServerConfig::default()
    };
    let runtime = Runtime::with_listeners(Arc::new(server_config), listeners)?;
    if let Some((host, port)) = &options.stats {
        let what = format!("{host}:{port}");
        let addr = resolve(host, *port).map_err(|source| ServeError::Stats {
            what: what.clone(),
            source,
        })?;
        json::spawn(
            addr,
            options.stats_interval,
            current.clone(),
            stats.clone(),
            runtime.stats(),
        )
        .map_err(|source| ServeError::Stats { what, source })?;
    }
    let hangup = reload::spawn(
        options.load.clone(),
        current.clone(),
        stats.clone(),
        options.log.clone(),
    )?;
    let result = runtime.run(Arc::new(Proxy::new(current, stats).reloading(hangup)));
    for path in unix {
        let _ = std::fs::remove_file(path);
    }
    result.map_err(ServeError::from)
}

/// Binds every listener of the configuration, in its order (a connection's listener
/// index is its position here).
fn bind(config: &ProxyConfig) -> Result<(Vec<Listener>, Vec<PathBuf>), ServeError> {
    let mut listeners = Vec::with_capacity(config.listeners.len());
    let mut unix = Vec::new();
    for l in &config.listeners {
        let what = l.address.to_string();
        let listener = match &l.address {
            ListenAddress::Tcp { host, port } => {
                let addr = resolve(host, *port).map_err(|source| ServeError::Listen {
                    what: what.clone(),
                    source,
                })?;
                let backlog = i32::try_from(l.backlog).unwrap_or(i32::MAX);
                Listener::tcp(addr, backlog)
            }
            ListenAddress::Unix { path, mode } => {
                unix.push(path.clone());
                Listener::unix(path, mode.unwrap_or_else(default_socket_mode))
            }
        };
        listeners.push(listener.map_err(|source| ServeError::Listen { what, source })?);
    }
    Ok((listeners, unix))
}

/// A listen host as nutcracker takes it: empty means every interface; brackets around
/// an IPv6 literal are dropped.
fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
}

/// A Unix socket without a mode gets what the umask leaves of 0777, as nutcracker's
/// (which does not chmod it).
fn default_socket_mode() -> u32 {
    // SAFETY: umask only swaps the process's file mode mask; it is set back at once,
    // before any other thread of the proxy exists.
    let mask = unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old
    };
    0o777 & !(mask as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_hosts_resolve_as_nutcracker_takes_them() {
        assert_eq!(resolve("", 22121).unwrap().to_string(), "0.0.0.0:22121");
        assert_eq!(resolve("[::1]", 1).unwrap().to_string(), "[::1]:1");
        assert_eq!(resolve("127.0.0.1", 2).unwrap().port(), 2);
        assert!(default_socket_mode() <= 0o777);
    }
}
