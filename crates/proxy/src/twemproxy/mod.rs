//! twemproxy's YAML configuration, read unchanged: every pool directive nutcracker 0.5.0
//! accepts, its defaults, and its errors in its words (`nutcracker -c FILE` logs them;
//! `corvid proxy -t` prints them).
//!
//! ```
//! use proxy::ProxyConfig;
//! let error = ProxyConfig::from_twemproxy_yaml("a:\n  listen: 127.0.0.1:22121\n  hash: sha1\n  servers:\n   - 10.0.0.1:11211:1\n")
//!     .unwrap_err();
//! assert_eq!(error.to_string(), "conf: directive \"hash\" is not a valid hash");
//! ```
//!
//! The checks run in nutcracker's order and stop at the first failure: the number of
//! documents, the shape (see `document`), each directive in file order, then each pool
//! (`listen:` present, `server_connections:` not 0, `redis_auth:` only for redis, servers
//! present and of distinct names), then listen addresses and pool names unique. Pools
//! with `redis: true` pass nutcracker's checks and are then refused: Corvid proxies
//! memcached only. Accepted but without effect, as in nutcracker for memcached pools:
//! `client_connections` (nutcracker forces it to 0), `redis_db`.

mod directives;
mod document;
mod error;

use std::time::Duration;

pub use document::StructureProblem;
pub use error::{DirectiveProblem, YamlError, MAX_KETAMA_NAME};

use crate::config::{Listener, ProxyConfig};
use crate::distribution::Distribution;
use crate::pool::{Ejection, EjectionPolicy, PoolSpec};
use crate::route::{NamedRoute, Route, RouteId};
use directives::Directives;
use document::ReadError;

impl ProxyConfig {
    /// Reads a twemproxy YAML configuration; `file` only names it in messages.
    pub fn from_twemproxy_yaml_file(text: &str, file: &str) -> Result<ProxyConfig, YamlError> {
        let pools = document::read(text).map_err(|e| match e {
            ReadError::Documents(count) => YamlError::Documents {
                file: file.to_string(),
                count,
            },
            ReadError::Syntax(message) => YamlError::Syntax {
                file: file.to_string(),
                message,
            },
            ReadError::Structure(problem) => YamlError::Structure {
                file: file.to_string(),
                problem,
            },
        })?;
        let mut parsed = Vec::with_capacity(pools.len());
        for pool in &pools {
            parsed.push(Directives::parse(pool)?);
        }
        if parsed.is_empty() {
            return Err(YamlError::NoPools(file.to_string()));
        }
        for pool in &parsed {
            pool.validate()?;
        }
        first_duplicate(&parsed, |p| p.listen_text()).map_or(Ok(()), |(a, b)| {
            Err(YamlError::SameListen {
                first: a.name.clone(),
                second: b.name.clone(),
                listen: a.listen_text().to_string(),
            })
        })?;
        first_duplicate(&parsed, |p| p.name.as_str()).map_or(Ok(()), |(a, _)| {
            Err(YamlError::SamePoolName {
                file: file.to_string(),
                name: a.name.clone(),
            })
        })?;
        build(parsed)
    }

    /// [`ProxyConfig::from_twemproxy_yaml_file`] for text without a file name.
    pub fn from_twemproxy_yaml(text: &str) -> Result<ProxyConfig, YamlError> {
        ProxyConfig::from_twemproxy_yaml_file(text, "-")
    }
}

/// The first two pools equal by `key` in nutcracker's sort order (length, then bytes;
/// stable, so file order among equals).
fn first_duplicate(
    pools: &[Directives],
    key: impl Fn(&Directives) -> &str,
) -> Option<(&Directives, &Directives)> {
    let mut sorted: Vec<&Directives> = pools.iter().collect();
    sorted.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    });
    sorted
        .windows(2)
        .find(|w| key(w[0]) == key(w[1]))
        .map(|w| (w[0], w[1]))
}

fn build(parsed: Vec<Directives>) -> Result<ProxyConfig, YamlError> {
    let mut config = ProxyConfig {
        listeners: Vec::new(),
        pools: Vec::new(),
        routes: Vec::new(),
    };
    for (index, p) in parsed.into_iter().enumerate() {
        let mut pool = PoolSpec::new(&p.name, p.servers);
        pool.hash = p.hash.unwrap_or(pool.hash);
        pool.hash_tag = p.hash_tag;
        pool.distribution = p.distribution.unwrap_or(Distribution::Ketama);
        // nutcracker arms no timer for a timeout of 0 or less.
        pool.timeout = p
            .timeout
            .filter(|&t| t > 0)
            .map(|t| Duration::from_millis(t as u64));
        pool.server_connections = p.server_connections.map_or(1, |n| n as u32);
        pool.preconnect = p.preconnect.unwrap_or(false);
        pool.ejection = Ejection {
            policy: if p.auto_eject_hosts.unwrap_or(false) {
                EjectionPolicy::Remap
            } else {
                EjectionPolicy::Never
            },
            failure_limit: p.server_failure_limit.map_or(2, |n| n as u32),
            retry_timeout: Duration::from_millis(
                p.server_retry_timeout.map_or(30_000, |n| n as u64),
            ),
            ..Ejection::default()
        };
        pool.reorder();
        config.routes.push(NamedRoute {
            name: p.name.clone(),
            route: Route::Pool { pool: index as u32 },
        });
        let Some((_, address)) = p.listen else {
            return Err(YamlError::MissingListen);
        };
        config.listeners.push(Listener {
            name: p.name.clone(),
            address,
            backlog: p.backlog.map_or(512, |n| n as u32),
            tcp_keepalive: p.tcpkeepalive.unwrap_or(false),
            route: RouteId(index as u32),
        });
        config.pools.push(pool);
    }
    Ok(config)
}

#[cfg(test)]
mod tests;
