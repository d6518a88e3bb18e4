//! Where a proxied memcached request goes, and how the proxy is configured.
//!
//! This crate decides; it never does IO. It holds twemproxy's twelve key hashes with
//! their exact quirks ([`HashFunction`]), `hash_tag` ([`HashTag`]), twemproxy's ketama,
//! modula and random distributions and libmemcached's weighted ketama ([`Ring`]), the
//! twemproxy YAML reader ([`ProxyConfig::from_twemproxy_yaml`]) and Corvid's TOML route
//! configuration ([`ProxyConfig::from_toml`]), server health and ejection ([`Health`]),
//! the routing decision ([`decide`]: a pure function of configuration, health, key,
//! operation) and the `--explain` account of it ([`explain`]).
//!
//! It must never open a socket or a file, read a clock, resolve a name, spawn a thread or
//! block: the IO layer (client and backend sessions) reads files and passes their text,
//! passes the time in, executes decisions and reports outcomes back to [`Health`]. On the
//! request path it must not allocate: a [`Decision`] is a small value with inline
//! targets. Placement must stay identical to nutcracker 0.5.0's and libmemcached's for
//! the same configuration (the differential tests in `tests/` hold it to that); a
//! difference there is a bug even where twemproxy's behaviour looks like one.

mod config;
mod distribution;
mod explain;

mod hash;
mod hash_tag;
mod health;
mod listen;
mod pool;
mod route;
mod server;
mod toml_config;

mod twemproxy;

pub mod serve;

pub use config::{Listener, ProxyConfig, RouteError};
pub use distribution::{Detail, Distribution, Located, Member, Point, Ring};
pub use explain::explain;

pub use hash::{md5_words, HashFunction};
pub use hash_tag::HashTag;
pub use health::{Health, HealthEvent, Status};
pub use listen::{ListenAddress, ListenError};
pub use pool::{Ejection, EjectionPolicy, PoolSpec, ReadErrors, ServerRef};
pub use route::{
    decide, longest_prefix, shadowed, Decision, Delivery, Forward, NamedRoute, Operation, Refusal,
    Route, RouteId, Targets, MAX_TARGETS,
};
pub use server::{twemproxy_number, Address, ServerSpec, ServerSpecError, KETAMA_DEFAULT_PORT};
pub use toml_config::TomlError;

pub use twemproxy::{DirectiveProblem, StructureProblem, YamlError, MAX_KETAMA_NAME};
