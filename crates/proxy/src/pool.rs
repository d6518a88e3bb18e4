//! A pool: servers, how keys are spread over them, and what happens when one fails.
//!
//! ```
//! use proxy::{Distribution, HashFunction, PoolSpec, ServerSpec};
//! let servers = ["10.0.0.2:11211:1", "10.0.0.1:11211:1"]
//!     .iter()
//!     .map(|s| ServerSpec::parse(s).unwrap())
//!     .collect();
//! let pool = PoolSpec::new("cache", servers);
//! assert_eq!(pool.hash, HashFunction::Fnv1a64);
//! assert_eq!(pool.distribution, Distribution::Ketama);
//! // nutcracker orders servers by name: 10.0.0.1 comes first.
//! assert_eq!(pool.ring_order(), &[1, 0]);
//! ```

use std::cmp::Ordering;
use std::time::Duration;

use crate::distribution::{Distribution, Member, Ring};
use crate::hash::HashFunction;
use crate::hash_tag::HashTag;
use crate::server::ServerSpec;

/// A server: its pool's index in the configuration and its own index in the pool's
/// `servers` (configuration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerRef {
    pub pool: u32,
    pub server: u32,
}

/// What a pool does with a server that keeps failing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EjectionPolicy {
    /// Nothing: every request to it fails on its own (twemproxy's default,
    /// `auto_eject_hosts: false`).
    Never,
    /// twemproxy's `auto_eject_hosts: true`: after `failure_limit` consecutive failures
    /// the server leaves the ring, its keys move to the others, and it comes back after
    /// `retry_timeout`.
    Remap,
    /// mcrouter's fail-fast: after `failure_limit` consecutive failures requests for the
    /// server's keys fail at once, without trying it, until `retry_timeout` has passed.
    /// Keys never move.
    FailFast,
}

impl EjectionPolicy {
    pub fn name(self) -> &'static str {
        match self {
            EjectionPolicy::Never => "none",
            EjectionPolicy::Remap => "remap",
            EjectionPolicy::FailFast => "fail_fast",
        }
    }

    pub fn from_name(name: &str) -> Option<EjectionPolicy> {
        [
            EjectionPolicy::Never,
            EjectionPolicy::Remap,
            EjectionPolicy::FailFast,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}

/// Ejection settings of a pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Ejection {
    pub policy: EjectionPolicy,
    /// Consecutive failures that eject a server (twemproxy's `server_failure_limit`;
    /// 0 behaves as 1, as in nutcracker).
    pub failure_limit: u32,
    /// How long an ejected server stays out (`server_retry_timeout`).
    pub retry_timeout: Duration,
    /// The largest share of the pool that may be out at once, 0.0 to 1.0. An ejection
    /// that would exceed it is refused and the server stays in. 1.0 is twemproxy's
    /// behaviour (no cap).
    pub max_ejected_share: f64,
    /// After `retry_timeout`, keep the server out until the IO layer reports that a
    /// probe (`version`, `mn`) succeeded, doubling the wait after each failed probe up
    /// to 8 times `retry_timeout`. Off in twemproxy's mode: the server simply returns.
    pub probe: bool,
}

impl Ejection {
    /// The most servers of a pool of `servers` that may be out at once.
    pub fn max_ejected(&self, servers: usize) -> usize {
        ((servers as f64) * self.max_ejected_share.clamp(0.0, 1.0)).floor() as usize
    }
}

impl Default for Ejection {
    /// twemproxy's defaults: no ejection; limit 2; 30 s.
    fn default() -> Ejection {
        Ejection {
            policy: EjectionPolicy::Never,
            failure_limit: 2,
            retry_timeout: Duration::from_millis(30_000),
            max_ejected_share: 1.0,
            probe: false,
        }
    }
}

/// A pool of servers.
/// What a read gets when its server fails (connection lost, timeout, ejected): memcached
/// clients treat a miss as "fetch from the database", so by default a failed key of a
/// multi-get, or a failed `get`, is a miss and the other keys are answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ReadErrors {
    /// The key misses (the other keys of a multi-get are answered).
    #[default]
    Miss,
    /// The whole reply is the failure's `SERVER_ERROR` line.
    Error,
}

impl ReadErrors {
    pub fn name(self) -> &'static str {
        match self {
            ReadErrors::Miss => "miss",
            ReadErrors::Error => "error",
        }
    }

    pub fn from_name(name: &str) -> Option<ReadErrors> {
        [ReadErrors::Miss, ReadErrors::Error]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PoolSpec {
    pub name: String,
    pub hash: HashFunction,
    pub hash_tag: Option<HashTag>,
    pub distribution: Distribution,
    /// In configuration order; [`ServerRef`](crate::ServerRef) indexes this.
    pub servers: Vec<ServerSpec>,
    /// Per request, connect and reply (`timeout:`); `None` waits forever (twemproxy's
    /// default, -1).
    pub timeout: Option<Duration>,
    /// Connections per server (per worker thread in Corvid).
    pub server_connections: u32,
    /// Connect to every server at start instead of on first use.
    pub preconnect: bool,
    pub ejection: Ejection,
    /// Whether `flush_all` is sent to every server of the pool; otherwise it is refused.
    pub allow_flush_all: bool,
    /// What a read whose server failed answers.
    pub read_errors: ReadErrors,
    ring_order: Vec<u32>,
}

impl PoolSpec {
    /// A pool with twemproxy's defaults for everything but its servers.
    pub fn new(name: &str, servers: Vec<ServerSpec>) -> PoolSpec {
        let mut pool = PoolSpec {
            name: name.to_string(),
            hash: HashFunction::DEFAULT,
            hash_tag: None,
            distribution: Distribution::Ketama,
            servers,
            timeout: None,
            server_connections: 1,
            preconnect: false,
            ejection: Ejection::default(),
            allow_flush_all: false,
            read_errors: ReadErrors::Miss,
            ring_order: Vec::new(),
        };
        pool.reorder();
        pool
    }

    /// Recomputes the ring order after `servers` or `distribution` changed.
    pub fn reorder(&mut self) {
        let mut order: Vec<u32> = (0..self.servers.len() as u32).collect();
        if self.distribution.sorts_servers() {
            // nutcracker's conf_server_name_cmp: shorter names first, then bytes.
            order.sort_by(|&a, &b| {
                name_order(
                    &self.servers[a as usize].ketama_name,
                    &self.servers[b as usize].ketama_name,
                )
            });
        }
        self.ring_order = order;
    }

    /// Server indexes in the order the distribution takes them: sorted by continuum name
    /// for twemproxy's distributions, configuration order for libmemcached's.
    pub fn ring_order(&self) -> &[u32] {
        &self.ring_order
    }

    /// The ring over the servers for which `live` says yes.
    pub fn ring(&self, live: impl Fn(usize) -> bool) -> Ring {
        let libmemcached: Vec<Vec<u8>> = match self.distribution {
            Distribution::KetamaLibmemcached => self
                .servers
                .iter()
                .map(ServerSpec::libmemcached_name)
                .collect(),
            _ => Vec::new(),
        };
        let members: Vec<Member<'_>> = self
            .ring_order
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| live(i))
            .map(|i| Member {
                server: i as u32,
                name: libmemcached
                    .get(i)
                    .map_or(&self.servers[i].ketama_name[..], |n| &n[..]),
                weight: self.servers[i].weight,
            })
            .collect();
        Ring::build(self.distribution, &members)
    }

    /// The hash of `key` as this pool computes it, with the bytes that were hashed.
    /// nutcracker skips hashing in a pool of one server (the hash is 0), and so does
    /// libmemcached.
    pub fn key_hash<'k>(&self, key: &'k [u8]) -> (u32, &'k [u8]) {
        let hashed = match &self.hash_tag {
            Some(tag) => tag.apply(key),
            None => key,
        };
        if self.servers.len() == 1 || hashed.is_empty() {
            return (0, hashed);
        }
        (self.hash.hash(hashed), hashed)
    }
}

/// nutcracker's `string_compare`: length first, then bytes.
fn name_order(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(servers: &[&str]) -> PoolSpec {
        PoolSpec::new(
            "p",
            servers
                .iter()
                .map(|s| ServerSpec::parse(s).unwrap())
                .collect(),
        )
    }

    #[test]
    fn nutcracker_sorts_by_name_length_first() {
        let p = pool(&[
            "10.0.0.10:11211:1",
            "10.0.0.9:11211:1",
            "10.0.0.1:11212:1",
            "b:1:1 zz",
            "a:1:1 z",
        ]);
        // Names: "10.0.0.10", "10.0.0.9", "10.0.0.1:11212", "zz", "z".
        assert_eq!(p.ring_order(), &[4, 3, 1, 0, 2]);
        let mut lm = p.clone();
        lm.distribution = Distribution::KetamaLibmemcached;
        lm.reorder();
        assert_eq!(lm.ring_order(), &[0, 1, 2, 3, 4]);
    }

    #[test]
    fn one_server_pools_skip_hashing() {
        let mut p = pool(&["10.0.0.1:11211:1"]);
        assert_eq!(p.key_hash(b"anything").0, 0);
        p.servers
            .push(ServerSpec::parse("10.0.0.2:11211:1").unwrap());
        assert_eq!(p.key_hash(b"apple").0, 1_488_911_807);
    }

    #[test]
    fn hash_tags_choose_the_hashed_bytes() {
        let mut p = pool(&["a:1:1", "b:1:1"]);
        p.hash_tag = HashTag::new(b"{}");
        assert_eq!(p.key_hash(b"x{apple}y"), (1_488_911_807, &b"apple"[..]));
    }

    #[test]
    fn max_ejected_rounds_down() {
        let e = Ejection {
            max_ejected_share: 0.5,
            ..Ejection::default()
        };
        assert_eq!(e.max_ejected(3), 1);
        assert_eq!(e.max_ejected(4), 2);
        assert_eq!(e.max_ejected(1), 0);
        assert_eq!(Ejection::default().max_ejected(3), 3);
    }
}
