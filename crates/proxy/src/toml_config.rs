//! Corvid's own route configuration (`corvid proxy --toml FILE`): pools as twemproxy
//! knows them, plus routes between them (failover, replication, key prefixes, shadow
//! traffic) and per-pool ejection policies.
//!
//! ```
//! use proxy::ProxyConfig;
//! let config = ProxyConfig::from_toml(r#"
//!     [[listen]]
//!     address = "127.0.0.1:22121"
//!     route = "main"
//!
//!     [pools.users]
//!     servers = ["10.0.0.1:11211:1", "10.0.0.2:11211:1"]
//!
//!     [pools.cache]
//!     servers = ["10.0.1.1:11211:1", "10.0.1.2:11211:1", "10.0.1.3:11211:1"]
//!     ejection = { policy = "remap", failure_limit = 3, retry_timeout = 10000 }
//!
//!     [routes.main]
//!     type = "prefix"
//!     prefixes = { "user:" = "users" }
//!     default = "cache"
//! "#).unwrap();
//! assert_eq!(config.pools.len(), 2);
//! ```
//!
//! A route reference names a route or, directly, a pool (which then gets a plain pool
//! route of the same name); a name may not be both. Unknown keys are errors, so a typo
//! never silently falls back to a default. docs/proxy.md has the full reference.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{Listener, ProxyConfig, RouteError};
use crate::distribution::Distribution;
use crate::hash::HashFunction;
use crate::hash_tag::HashTag;
use crate::listen::{ListenAddress, ListenError};
use crate::pool::{Ejection, EjectionPolicy, PoolSpec, ReadErrors};
use crate::route::{NamedRoute, Route, RouteId};
use crate::server::{ServerSpec, ServerSpecError};
use crate::twemproxy::MAX_KETAMA_NAME;

/// Why a TOML configuration was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TomlError {
    #[error("{0}")]
    Syntax(String),
    #[error("no [[listen]] entries")]
    NoListeners,
    #[error("listen address '{address}' {problem}")]
    Listen {
        address: String,
        problem: ListenError,
    },
    #[error("pool '{pool}': server '{server}' {problem}")]
    Server {
        pool: String,
        server: String,
        problem: ServerSpecError,
    },
    #[error("pool '{0}' has no servers")]
    NoServers(String),
    #[error("pool '{pool}' has servers with same name '{name}'")]
    SameServerName { pool: String, name: String },
    #[error("pool '{pool}': server name '{name}' is longer than {MAX_KETAMA_NAME} bytes, which ketama cannot hash as nutcracker does")]
    LongName { pool: String, name: String },
    #[error("pool '{pool}': '{value}' is not a valid {what}")]
    Invalid {
        pool: String,
        what: &'static str,
        value: String,
    },
    #[error("pool '{pool}': {what} must be between 0 and 1")]
    Share { pool: String, what: &'static str },
    #[error("'{name}', named by {by}, is neither a route nor a pool")]
    Unknown { name: String, by: String },
    #[error("'{0}' is both a route and a pool")]
    Ambiguous(String),
    #[error("{by} needs a pool, and '{name}' is a route")]
    NotAPool { by: String, name: String },
    #[error(transparent)]
    Route(#[from] RouteError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    listen: Vec<ListenEntry>,
    #[serde(default)]
    pools: BTreeMap<String, PoolEntry>,
    #[serde(default)]
    routes: BTreeMap<String, RouteEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenEntry {
    address: String,
    route: String,
    #[serde(default = "default_backlog")]
    backlog: u32,
    #[serde(default)]
    tcpkeepalive: bool,
}

fn default_backlog() -> u32 {
    512
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolEntry {
    servers: Vec<String>,
    hash: Option<String>,
    hash_tag: Option<String>,
    distribution: Option<String>,
    /// Milliseconds.
    timeout: Option<u64>,
    #[serde(default = "one")]
    server_connections: u32,
    #[serde(default)]
    preconnect: bool,
    #[serde(default)]
    allow_flush_all: bool,
    read_errors: Option<String>,
    #[serde(default)]
    ejection: EjectionEntry,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EjectionEntry {
    #[serde(default = "default_policy")]
    policy: String,
    #[serde(default = "default_failure_limit")]
    failure_limit: u32,
    /// Milliseconds.
    #[serde(default = "default_retry_timeout")]
    retry_timeout: u64,
    #[serde(default = "default_max_share")]
    max_share: f64,
    #[serde(default)]
    probe: bool,
}

impl Default for EjectionEntry {
    fn default() -> EjectionEntry {
        EjectionEntry {
            policy: default_policy(),
            failure_limit: default_failure_limit(),
            retry_timeout: default_retry_timeout(),
            max_share: default_max_share(),
            probe: false,
        }
    }
}

fn default_policy() -> String {
    "none".to_string()
}
fn default_failure_limit() -> u32 {
    2
}
fn default_retry_timeout() -> u64 {
    30_000
}
/// Unlike twemproxy, a Corvid pool never ejects more than half its servers by default: a
/// network blip that fails every server should not empty the ring.
fn default_max_share() -> f64 {
    0.5
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RouteEntry {
    Pool {
        pool: String,
    },
    Failover {
        pool: String,
        #[serde(default = "default_attempts")]
        attempts: usize,
        #[serde(default)]
        on_miss: bool,
    },
    Replicate {
        pool: String,
        #[serde(default)]
        read_failover: bool,
    },
    Prefix {
        prefixes: BTreeMap<String, String>,
        default: Option<String>,
    },
    Shadow {
        primary: String,
        shadow: String,
        share: f64,
    },
}

fn default_attempts() -> usize {
    3
}

impl ProxyConfig {
    /// Reads Corvid's TOML route configuration.
    pub fn from_toml(text: &str) -> Result<ProxyConfig, TomlError> {
        let file: File = toml::from_str(text).map_err(|e| TomlError::Syntax(e.to_string()))?;
        if file.listen.is_empty() {
            return Err(TomlError::NoListeners);
        }
        let pool_names: Vec<&String> = file.pools.keys().collect();
        let mut pools = Vec::with_capacity(file.pools.len());
        for (name, entry) in &file.pools {
            pools.push(pool(name, entry)?);
        }
        if let Some(both) = file.routes.keys().find(|r| file.pools.contains_key(*r)) {
            return Err(TomlError::Ambiguous(both.clone()));
        }
        // Explicit routes first, then one plain route per pool, for references to pools.
        let route_names: Vec<&String> = file
            .routes
            .keys()
            .chain(pool_names.iter().copied())
            .collect();
        let resolve = |name: &str, by: &str| -> Result<RouteId, TomlError> {
            route_names
                .iter()
                .position(|n| *n == name)
                .map(|i| RouteId(i as u32))
                .ok_or_else(|| TomlError::Unknown {
                    name: name.to_string(),
                    by: by.to_string(),
                })
        };
        let pool_index = |name: &str, by: &str| -> Result<u32, TomlError> {
            match pool_names.iter().position(|n| *n == name) {
                Some(i) => Ok(i as u32),
                None if file.routes.contains_key(name) => Err(TomlError::NotAPool {
                    by: by.to_string(),
                    name: name.to_string(),
                }),
                None => Err(TomlError::Unknown {
                    name: name.to_string(),
                    by: by.to_string(),
                }),
            }
        };
        let mut routes = Vec::with_capacity(route_names.len());
        for (name, entry) in &file.routes {
            let by = format!("route '{name}'");
            let route = match entry {
                RouteEntry::Pool { pool } => Route::Pool {
                    pool: pool_index(pool, &by)?,
                },
                RouteEntry::Failover {
                    pool,
                    attempts,
                    on_miss,
                } => Route::Failover {
                    pool: pool_index(pool, &by)?,
                    attempts: *attempts,
                    on_miss: *on_miss,
                },
                RouteEntry::Replicate {
                    pool,
                    read_failover,
                } => Route::Replicate {
                    pool: pool_index(pool, &by)?,
                    read_failover: *read_failover,
                },
                RouteEntry::Prefix { prefixes, default } => Route::Prefix {
                    prefixes: prefixes
                        .iter()
                        .map(|(p, r)| Ok((p.as_bytes().to_vec(), resolve(r, &by)?)))
                        .collect::<Result<_, TomlError>>()?,
                    default: default.as_deref().map(|d| resolve(d, &by)).transpose()?,
                },
                RouteEntry::Shadow {
                    primary,
                    shadow,
                    share,
                } => Route::Shadow {
                    primary: resolve(primary, &by)?,
                    shadow_pool: pool_index(shadow, &by)?,
                    share: *share,
                },
            };
            routes.push(NamedRoute {
                name: name.clone(),
                route,
            });
        }
        for (i, name) in pool_names.iter().enumerate() {
            routes.push(NamedRoute {
                name: (*name).clone(),
                route: Route::Pool { pool: i as u32 },
            });
        }
        let mut listeners = Vec::with_capacity(file.listen.len());
        for entry in &file.listen {
            let address =
                ListenAddress::parse(&entry.address).map_err(|problem| TomlError::Listen {
                    address: entry.address.clone(),
                    problem,
                })?;
            listeners.push(Listener {
                name: entry.address.clone(),
                address,
                backlog: entry.backlog,
                tcp_keepalive: entry.tcpkeepalive,
                route: resolve(&entry.route, &format!("listener '{}'", entry.address))?,
            });
        }
        let config = ProxyConfig {
            listeners,
            pools,
            routes,
        };
        config.check()?;
        Ok(config)
    }
}

fn pool(name: &str, entry: &PoolEntry) -> Result<PoolSpec, TomlError> {
    let invalid = |what: &'static str, value: &str| TomlError::Invalid {
        pool: name.to_string(),
        what,
        value: value.to_string(),
    };
    let mut servers = Vec::with_capacity(entry.servers.len());
    for text in &entry.servers {
        servers.push(
            ServerSpec::parse(text).map_err(|problem| TomlError::Server {
                pool: name.to_string(),
                server: text.clone(),
                problem,
            })?,
        );
    }
    if servers.is_empty() {
        return Err(TomlError::NoServers(name.to_string()));
    }
    let distribution = match &entry.distribution {
        Some(d) => Distribution::from_name(d).ok_or_else(|| invalid("distribution", d))?,
        None => Distribution::Ketama,
    };
    let mut spec = PoolSpec::new(name, servers);
    spec.distribution = distribution;
    spec.hash = match &entry.hash {
        Some(h) => HashFunction::from_name(h).ok_or_else(|| invalid("hash", h))?,
        // libmemcached's weighted ketama hashes keys with MD5.
        None if distribution == Distribution::KetamaLibmemcached => HashFunction::Md5,
        None => HashFunction::DEFAULT,
    };
    spec.hash_tag = match &entry.hash_tag {
        Some(t) => Some(HashTag::new(t.as_bytes()).ok_or_else(|| invalid("hash_tag", t))?),
        None => None,
    };
    spec.timeout = entry.timeout.filter(|&t| t > 0).map(Duration::from_millis);
    if entry.server_connections == 0 {
        return Err(invalid("server_connections", "0"));
    }
    spec.server_connections = entry.server_connections;
    spec.preconnect = entry.preconnect;
    spec.allow_flush_all = entry.allow_flush_all;
    if let Some(r) = &entry.read_errors {
        spec.read_errors = ReadErrors::from_name(r).ok_or_else(|| invalid("read_errors", r))?;
    }
    let e = &entry.ejection;
    if !(0.0..=1.0).contains(&e.max_share) {
        return Err(TomlError::Share {
            pool: name.to_string(),
            what: "ejection.max_share",
        });
    }
    spec.ejection = Ejection {
        policy: EjectionPolicy::from_name(&e.policy)
            .ok_or_else(|| invalid("ejection policy", &e.policy))?,
        failure_limit: e.failure_limit,
        retry_timeout: Duration::from_millis(e.retry_timeout),
        max_ejected_share: e.max_share,
        probe: e.probe,
    };
    spec.reorder();
    let mut names: Vec<&[u8]> = spec.servers.iter().map(|s| &s.ketama_name[..]).collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(TomlError::SameServerName {
            pool: name.to_string(),
            name: String::from_utf8_lossy(w[0]).into_owned(),
        });
    }
    if distribution == Distribution::Ketama {
        if let Some(long) = names.iter().find(|n| n.len() > MAX_KETAMA_NAME) {
            return Err(TomlError::LongName {
                pool: name.to_string(),
                name: String::from_utf8_lossy(long).into_owned(),
            });
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests;
