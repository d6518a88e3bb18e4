//! The routing decision: for one key and one operation, the servers to send it to, how,
//! and which copy to shadow; or why none can take it.
//!
//! ```
//! use proxy::{Decision, Health, Operation, ProxyConfig};
//! let config = ProxyConfig::from_twemproxy_yaml(
//!     "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 10.0.0.1:11211:1\n   - 10.0.0.2:11211:1\n",
//! ).unwrap();
//! let health = Health::new(&config.pools);
//! let route = config.listeners[0].route;
//! let Decision::Forward(forward) = config.route(route, &health, b"user:42", Operation::Read, 0) else {
//!     panic!("both servers are up");
//! };
//! assert_eq!(forward.targets.len(), 1);
//! ```
//!
//! [`decide`] is a pure function of the configuration, the health state, the key, the
//! operation and a caller-supplied random number (for the `random` distribution only):
//! the IO layer executes what it returns and reports outcomes to [`Health`]. It allocates
//! nothing: targets are an inline list of at most [`MAX_TARGETS`].

use std::ops::Deref;

use crate::hash::md5_words;
use crate::health::{Health, Status};
use crate::pool::{PoolSpec, ServerRef};

/// The most servers one decision names: failover attempts and replica sets are capped
/// at this when a configuration is loaded.
pub const MAX_TARGETS: usize = 8;

/// A route, by its index in the configuration's `routes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteId(pub u32);

/// What a request does to the data, as far as routing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `get`, `gets`, `mg` without flags that modify; binary GET, GETK and quiet forms.
    Read,
    /// `set`, `add`, `replace`, `append`, `prepend`, `ms`.
    Write,
    /// `cas` (and `ms` with a CAS token): the CAS value belongs to one server.
    CompareAndSwap,
    /// `delete`, `md`.
    Delete,
    /// `incr`, `decr`, `ma`.
    Arithmetic,
    /// `touch`, `gat`, `gats`, `mg` with `T`.
    Touch,
}

impl Operation {
    pub fn is_read(self) -> bool {
        self == Operation::Read
    }
}

/// A route: where a listener's requests go.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// The key's server in a pool, by the pool's distribution: twemproxy's only route.
    Pool { pool: u32 },
    /// The key's server, then the next distinct servers along the ring, up to `attempts`
    /// servers in all, moving on when one fails (and, for reads, when `on_miss`, when it
    /// misses).
    Failover {
        pool: u32,
        attempts: usize,
        on_miss: bool,
    },
    /// Writes, deletes, arithmetic and touches go to every server of the pool that is up;
    /// reads and `cas` to the key's server (then, with `read_failover`, the others).
    Replicate { pool: u32, read_failover: bool },
    /// The longest matching key prefix picks the route; `default` when none matches.
    Prefix {
        prefixes: Vec<(Vec<u8>, RouteId)>,
        default: Option<RouteId>,
    },
    /// `primary` answers. A `share` (0.0 to 1.0) of keys, chosen by key so the same keys
    /// are always chosen, is also sent to the key's server in `shadow_pool`; its replies
    /// are dropped.
    Shadow {
        primary: RouteId,
        shadow_pool: u32,
        share: f64,
    },
}

/// A named route of the configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedRoute {
    pub name: String,
    pub route: Route,
}

/// Servers to send to, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Targets {
    len: u8,
    list: [ServerRef; MAX_TARGETS],
}

impl Targets {
    const EMPTY: Targets = Targets {
        len: 0,
        list: [ServerRef { pool: 0, server: 0 }; MAX_TARGETS],
    };

    /// Adds `server` unless it is already there or the list is full.
    fn push(&mut self, server: ServerRef) -> bool {
        if self.len as usize == MAX_TARGETS || self.contains(&server) {
            return false;
        }
        self.list[self.len as usize] = server;
        self.len += 1;
        true
    }
}

impl Default for Targets {
    fn default() -> Targets {
        Targets::EMPTY
    }
}

impl Deref for Targets {
    type Target = [ServerRef];
    fn deref(&self) -> &[ServerRef] {
        &self.list[..self.len as usize]
    }
}

/// How to send to the targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Send to the first. If it fails (connect error, timeout, a `SERVER_ERROR`), or if a
    /// read misses and `on_miss`, send to the next; the client gets the last answer.
    InOrder { on_miss: bool },
    /// Send to all; the client gets the first target's answer unless another target
    /// failed, in which case it gets that failure (so a write acknowledged as stored is
    /// stored everywhere).
    All,
}

/// Send the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    /// Never empty.
    pub targets: Targets,
    pub delivery: Delivery,
    /// A copy goes here too; its reply is dropped.
    pub shadow: Option<ServerRef>,
}

/// Why no server can take the request; the IO layer answers the client with an error at
/// once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Every server of the pool is out.
    NoServer { pool: u32 },
    /// Fail-fast: the key's server is marked down (and, with failover, every other
    /// candidate too).
    ServerDown { server: ServerRef },
    /// No prefix matched and the prefix route has no default.
    NoRoute,
}

/// The outcome of routing one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Forward(Forward),
    Refuse(Refusal),
}

/// Routes `key` for `op` from route `start`. `entropy` is any random number; only the
/// `random` distribution uses it.
pub fn decide(
    pools: &[PoolSpec],
    routes: &[NamedRoute],
    start: RouteId,
    health: &Health,
    key: &[u8],
    op: Operation,
    entropy: u64,
) -> Decision {
    let mut shadow = None;
    let mut id = start;
    // Configurations are checked for cycles; the bound only keeps a bug from spinning.
    for _ in 0..=routes.len() {
        match &routes[id.0 as usize].route {
            Route::Prefix { prefixes, default } => match longest_prefix(prefixes, key) {
                Some(next) => id = next,
                None => match default {
                    Some(next) => id = *next,
                    None => return Decision::Refuse(Refusal::NoRoute),
                },
            },
            Route::Shadow {
                primary,
                shadow_pool,
                share,
            } => {
                if shadow.is_none() && shadowed(key, *share) {
                    shadow = key_server(pools, health, *shadow_pool, key, entropy);
                }
                id = *primary;
            }
            Route::Pool { pool } => return single(pools, health, *pool, key, entropy, shadow),
            Route::Failover {
                pool,
                attempts,
                on_miss,
            } => {
                let delivery = Delivery::InOrder {
                    on_miss: *on_miss && op.is_read(),
                };
                return along_ring(
                    pools, health, *pool, key, entropy, *attempts, delivery, shadow,
                );
            }
            Route::Replicate {
                pool,
                read_failover,
            } => {
                return match op {
                    Operation::Read if *read_failover => {
                        let delivery = Delivery::InOrder { on_miss: false };
                        along_ring(
                            pools,
                            health,
                            *pool,
                            key,
                            entropy,
                            MAX_TARGETS,
                            delivery,
                            shadow,
                        )
                    }
                    Operation::Read | Operation::CompareAndSwap => {
                        single(pools, health, *pool, key, entropy, shadow)
                    }
                    _ => everywhere(pools, health, *pool, key, entropy, shadow),
                };
            }
        }
    }
    Decision::Refuse(Refusal::NoRoute)
}

/// The route a prefix table picks for `key`, if any prefix matches.
pub fn longest_prefix(prefixes: &[(Vec<u8>, RouteId)], key: &[u8]) -> Option<RouteId> {
    prefixes
        .iter()
        .filter(|(prefix, _)| key.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|&(_, id)| id)
}

/// Whether `key` is among the `share` of keys a shadow route copies. The second word of
/// the key's MD5 decides: no pool hashes keys with it, so the chosen keys spread over
/// every pool's ring instead of crowding one arc of it.
pub fn shadowed(key: &[u8], share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    let threshold = (share.min(1.0) * 4_294_967_296.0) as u64;
    u64::from(md5_words(key)[1]) < threshold
}

fn key_server(
    pools: &[PoolSpec],
    health: &Health,
    pool: u32,
    key: &[u8],
    entropy: u64,
) -> Option<ServerRef> {
    let (hash, _) = pools[pool as usize].key_hash(key);
    let located = health.ring(pool as usize).locate(hash, entropy)?;
    let server = ServerRef {
        pool,
        server: located.server,
    };
    (health.status(server) == Status::Up).then_some(server)
}

fn single(
    pools: &[PoolSpec],
    health: &Health,
    pool: u32,
    key: &[u8],
    entropy: u64,
    shadow: Option<ServerRef>,
) -> Decision {
    let (hash, _) = pools[pool as usize].key_hash(key);
    let Some(located) = health.ring(pool as usize).locate(hash, entropy) else {
        return Decision::Refuse(Refusal::NoServer { pool });
    };
    let server = ServerRef {
        pool,
        server: located.server,
    };
    if health.status(server) != Status::Up {
        return Decision::Refuse(Refusal::ServerDown { server });
    }
    let mut targets = Targets::EMPTY;
    targets.push(server);
    Decision::Forward(Forward {
        targets,
        delivery: Delivery::InOrder { on_miss: false },
        shadow,
    })
}

/// The key's server and the distinct servers after it along the ring that are up, at
/// most `attempts`.
#[allow(clippy::too_many_arguments)]
fn along_ring(
    pools: &[PoolSpec],
    health: &Health,
    pool: u32,
    key: &[u8],
    entropy: u64,
    attempts: usize,
    delivery: Delivery,
    shadow: Option<ServerRef>,
) -> Decision {
    let (hash, _) = pools[pool as usize].key_hash(key);
    let ring = health.ring(pool as usize);
    let Some(located) = ring.locate(hash, entropy) else {
        return Decision::Refuse(Refusal::NoServer { pool });
    };
    let first = ServerRef {
        pool,
        server: located.server,
    };
    let up = pools[pool as usize].servers.len() - health.out(pool as usize);
    let want = attempts.min(MAX_TARGETS).min(up);
    let mut targets = Targets::EMPTY;
    let entries = ring.entries();
    for step in 0..entries {
        if targets.len() >= want {
            break;
        }
        let server = ServerRef {
            pool,
            server: ring.entry_server((located.entry + step) % entries),
        };
        if health.status(server) == Status::Up {
            targets.push(server);
        }
    }
    if targets.is_empty() {
        return Decision::Refuse(Refusal::ServerDown { server: first });
    }
    Decision::Forward(Forward {
        targets,
        delivery,
        shadow,
    })
}

/// Every server of the pool that is up, the key's own server first.
fn everywhere(
    pools: &[PoolSpec],
    health: &Health,
    pool: u32,
    key: &[u8],
    entropy: u64,
    shadow: Option<ServerRef>,
) -> Decision {
    let mut targets = Targets::EMPTY;
    if let Some(owner) = key_server(pools, health, pool, key, entropy) {
        targets.push(owner);
    }
    for server in 0..pools[pool as usize].servers.len() as u32 {
        let server = ServerRef { pool, server };
        if health.status(server) == Status::Up {
            targets.push(server);
        }
    }
    if targets.is_empty() {
        return Decision::Refuse(Refusal::NoServer { pool });
    }
    Decision::Forward(Forward {
        targets,
        delivery: Delivery::All,
        shadow,
    })
}

#[cfg(test)]
mod tests;
