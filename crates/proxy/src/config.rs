//! The proxy's configuration, whichever file it came from: listeners, pools, routes.
//!
//! ```
//! use proxy::ProxyConfig;
//! let yaml = "alpha:\n  listen: 127.0.0.1:22121\n  hash: md5\n  servers:\n   - 10.0.0.1:11211:1\n";
//! let config = ProxyConfig::from_twemproxy_yaml(yaml).unwrap();
//! assert_eq!(config.pools[0].name, "alpha");
//! assert_eq!(config.listeners[0].address.to_string(), "127.0.0.1:22121");
//! ```
//!
//! A twemproxy YAML file gives one listener, one pool and one pool route per pool;
//! Corvid's TOML file names pools and routes separately and points listeners at routes.
//! Both end here, checked: every reference resolves, routes form no cycle, failover and
//! replica sets fit [`MAX_TARGETS`].

use std::collections::BTreeSet;

use crate::health::Health;
use crate::listen::ListenAddress;
use crate::pool::{PoolSpec, ServerRef};
use crate::route::{decide, Decision, NamedRoute, Operation, Route, RouteId, MAX_TARGETS};

/// A listening socket and the route its requests take.
#[derive(Clone, Debug, PartialEq)]
pub struct Listener {
    /// The pool's name for twemproxy configurations; the address otherwise.
    pub name: String,
    pub address: ListenAddress,
    /// `listen(2)` backlog (twemproxy's default 512).
    pub backlog: u32,
    /// SO_KEEPALIVE on client connections (`tcpkeepalive:`).
    pub tcp_keepalive: bool,
    pub route: RouteId,
}

/// Everything the proxy routes by.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyConfig {
    pub listeners: Vec<Listener>,
    pub pools: Vec<PoolSpec>,
    pub routes: Vec<NamedRoute>,
}

/// Why a set of routes cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("route '{route}' names pool {pool}, which does not exist")]
    UnknownPool { route: String, pool: u32 },
    #[error("route '{route}' names route {target}, which does not exist")]
    UnknownRoute { route: String, target: u32 },
    #[error("routes form a cycle through '{route}'")]
    Cycle { route: String },
    #[error("route '{route}': attempts must be between 1 and {MAX_TARGETS}")]
    Attempts { route: String },
    #[error("route '{route}': pool '{pool}' has {servers} servers; replication is limited to {MAX_TARGETS}")]
    TooManyReplicas {
        route: String,
        pool: String,
        servers: usize,
    },
    #[error("route '{route}': share must be between 0 and 1")]
    Share { route: String },
    #[error("listener {listener} names route {route}, which does not exist")]
    UnknownListenerRoute { listener: String, route: u32 },
}

impl ProxyConfig {
    /// Routes `key` for `op` arriving on a listener whose route is `route`; see
    /// [`decide`].
    pub fn route(
        &self,
        route: RouteId,
        health: &Health,
        key: &[u8],
        op: Operation,
        entropy: u64,
    ) -> Decision {
        decide(&self.pools, &self.routes, route, health, key, op, entropy)
    }

    /// Where `flush_all` goes from `route`: every server of every pool the route can
    /// reach (shadow pools excepted), or `None` when one of those pools does not allow it.
    pub fn flush_targets(&self, route: RouteId) -> Option<Vec<ServerRef>> {
        let mut pools = BTreeSet::new();
        self.reachable_pools(route, &mut pools, &mut BTreeSet::new());
        if pools
            .iter()
            .any(|&p| !self.pools[p as usize].allow_flush_all)
        {
            return None;
        }
        Some(
            pools
                .into_iter()
                .flat_map(|pool| {
                    (0..self.pools[pool as usize].servers.len() as u32)
                        .map(move |server| ServerRef { pool, server })
                })
                .collect(),
        )
    }

    fn reachable_pools(&self, id: RouteId, pools: &mut BTreeSet<u32>, seen: &mut BTreeSet<u32>) {
        if !seen.insert(id.0) {
            return;
        }
        match &self.routes[id.0 as usize].route {
            Route::Pool { pool } | Route::Failover { pool, .. } | Route::Replicate { pool, .. } => {
                pools.insert(*pool);
            }
            Route::Prefix { prefixes, default } => {
                for &(_, next) in prefixes {
                    self.reachable_pools(next, pools, seen);
                }
                if let Some(next) = default {
                    self.reachable_pools(*next, pools, seen);
                }
            }
            Route::Shadow { primary, .. } => self.reachable_pools(*primary, pools, seen),
        }
    }

    /// Checks references, bounds and cycles.
    pub fn check(&self) -> Result<(), RouteError> {
        for named in &self.routes {
            self.check_route(named)?;
        }
        for listener in &self.listeners {
            if listener.route.0 as usize >= self.routes.len() {
                return Err(RouteError::UnknownListenerRoute {
                    listener: listener.name.clone(),
                    route: listener.route.0,
                });
            }
        }
        // Depth-first search; a route met again while still on the path closes a cycle.
        let mut state = vec![0u8; self.routes.len()]; // 0 new, 1 on path, 2 done
        for start in 0..self.routes.len() {
            self.visit(start, &mut state)?;
        }
        Ok(())
    }

    fn visit(&self, at: usize, state: &mut [u8]) -> Result<(), RouteError> {
        match state[at] {
            1 => {
                return Err(RouteError::Cycle {
                    route: self.routes[at].name.clone(),
                })
            }
            2 => return Ok(()),
            _ => {}
        }
        state[at] = 1;
        for next in children(&self.routes[at].route) {
            self.visit(next.0 as usize, state)?;
        }
        state[at] = 2;
        Ok(())
    }

    fn check_route(&self, named: &NamedRoute) -> Result<(), RouteError> {
        let name = || named.name.clone();
        let pool = |pool: u32| match self.pools.get(pool as usize) {
            Some(spec) => Ok(spec),
            None => Err(RouteError::UnknownPool {
                route: name(),
                pool,
            }),
        };
        match &named.route {
            Route::Pool { pool: p } => {
                pool(*p)?;
            }
            Route::Failover {
                pool: p, attempts, ..
            } => {
                pool(*p)?;
                if !(1..=MAX_TARGETS).contains(attempts) {
                    return Err(RouteError::Attempts { route: name() });
                }
            }
            Route::Replicate { pool: p, .. } => {
                let spec = pool(*p)?;
                if spec.servers.len() > MAX_TARGETS {
                    return Err(RouteError::TooManyReplicas {
                        route: name(),
                        pool: spec.name.clone(),
                        servers: spec.servers.len(),
                    });
                }
            }
            Route::Shadow {
                shadow_pool, share, ..
            } => {
                pool(*shadow_pool)?;
                if !(0.0..=1.0).contains(share) {
                    return Err(RouteError::Share { route: name() });
                }
            }
            Route::Prefix { .. } => {}
        }
        for next in children(&named.route) {
            if next.0 as usize >= self.routes.len() {
                return Err(RouteError::UnknownRoute {
                    route: name(),
                    target: next.0,
                });
            }
        }
        Ok(())
    }
}

/// The routes a route hands requests on to.
fn children(route: &Route) -> Vec<RouteId> {
    match route {
        Route::Prefix { prefixes, default } => prefixes
            .iter()
            .map(|&(_, id)| id)
            .chain(default.iter().copied())
            .collect(),
        Route::Shadow { primary, .. } => vec![*primary],
        _ => Vec::new(),
    }
}
