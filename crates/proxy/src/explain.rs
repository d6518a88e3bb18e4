//! `corvid proxy --explain KEY`: where a key goes and why, step by step.
//!
//! ```
//! use proxy::{explain, Health, ProxyConfig};
//! let config = ProxyConfig::from_twemproxy_yaml(
//!     "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 10.0.0.1:11211:1\n   - 10.0.0.2:11211:1\n",
//! ).unwrap();
//! let text = explain(&config, &Health::new(&config.pools), 0, b"user:42");
//! assert!(text.contains("fnv1a_64"));
//! assert!(text.contains("continuum"));
//! ```
//!
//! The account follows [`decide`](crate::decide) step by step and ends with the decision
//! itself for a read and for a write, so it cannot disagree with what the proxy does.

use std::fmt::Write;

use crate::config::ProxyConfig;
use crate::distribution::{Detail, Distribution};
use crate::hash::md5_words;
use crate::health::{Health, Status};
use crate::pool::{PoolSpec, ServerRef};
use crate::route::{longest_prefix, shadowed, Decision, Delivery, Operation, Route, RouteId};

/// The explanation of `key` arriving on listener `listener`.
pub fn explain(config: &ProxyConfig, health: &Health, listener: usize, key: &[u8]) -> String {
    let mut out = String::new();
    let l = &config.listeners[listener];
    let _ = writeln!(
        out,
        "key {} on listener {} ({})",
        quoted(key),
        l.address,
        l.name
    );
    let mut id = l.route;
    for _ in 0..=config.routes.len() {
        let named = &config.routes[id.0 as usize];
        match &named.route {
            Route::Prefix { prefixes, default } => {
                // The same choice as longest_prefix, keeping the prefix to show it.
                let matched = prefixes
                    .iter()
                    .filter(|(p, _)| key.starts_with(p))
                    .max_by_key(|(p, _)| p.len());
                debug_assert_eq!(matched.map(|m| m.1), longest_prefix(prefixes, key));
                let chosen = matched.map(|m| m.1).or(*default);
                let why = match (matched, default) {
                    (Some((prefix, _)), _) => format!("prefix {}", quoted(prefix)),
                    (None, Some(_)) => "no prefix matches: default".to_string(),
                    (None, None) => "no prefix matches and there is no default".to_string(),
                };
                match chosen {
                    Some(next) => {
                        let _ = writeln!(
                            out,
                            "  route {}: {why} -> route {}",
                            named.name,
                            route_name(config, next)
                        );
                        id = next;
                    }
                    None => {
                        let _ = writeln!(out, "  route {}: {why}: refused", named.name);
                        return out;
                    }
                }
            }
            Route::Shadow {
                primary,
                shadow_pool,
                share,
            } => {
                let sample = md5_words(key)[1];
                let copied = shadowed(key, *share);
                let _ = writeln!(
                    out,
                    "  route {}: shadow {:.1}% of keys to pool {}: md5 word 1 = {sample}, {} -> route {}",
                    named.name,
                    share * 100.0,
                    config.pools[*shadow_pool as usize].name,
                    if copied { "copied" } else { "not copied" },
                    route_name(config, *primary)
                );
                if copied {
                    placement(&mut out, config, health, *shadow_pool, key, "    shadow: ");
                }
                id = *primary;
            }
            Route::Pool { pool } => {
                let _ = writeln!(
                    out,
                    "  route {}: pool {}",
                    named.name,
                    pool_name(config, *pool)
                );
                break;
            }
            Route::Failover {
                pool,
                attempts,
                on_miss,
            } => {
                let _ = writeln!(
                    out,
                    "  route {}: failover over pool {}, up to {attempts} servers, next on error{}",
                    named.name,
                    pool_name(config, *pool),
                    if *on_miss { " or on a miss" } else { "" }
                );
                break;
            }
            Route::Replicate {
                pool,
                read_failover,
            } => {
                let _ = writeln!(
                    out,
                    "  route {}: replicate over pool {}: writes to every server, reads from the key's server{}",
                    named.name,
                    pool_name(config, *pool),
                    if *read_failover { " then the others" } else { "" }
                );
                break;
            }
        }
    }
    let leaf = &config.routes[id.0 as usize].route;
    if let Route::Pool { pool } | Route::Failover { pool, .. } | Route::Replicate { pool, .. } =
        leaf
    {
        placement(&mut out, config, health, *pool, key, "  ");
    }
    for op in [Operation::Read, Operation::Write] {
        let verb = if op.is_read() { "read" } else { "write" };
        let _ = writeln!(
            out,
            "  {verb}: {}",
            decision(config, config.route(l.route, health, key, op, 0))
        );
    }
    out
}

/// How `pool` hashes and places `key`.
fn placement(
    out: &mut String,
    config: &ProxyConfig,
    health: &Health,
    pool: u32,
    key: &[u8],
    indent: &str,
) {
    let spec = &config.pools[pool as usize];
    let tag = match &spec.hash_tag {
        Some(tag) => format!(", hash_tag \"{tag}\""),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "{indent}pool {}: distribution {}, hash {}{tag}, {} servers",
        spec.name,
        spec.distribution.name(),
        spec.hash.name(),
        spec.servers.len()
    );
    let (hash, hashed) = spec.key_hash(key);
    if hashed != key {
        let _ = writeln!(out, "{indent}hash_tag selects {}", quoted(hashed));
    }
    if spec.servers.len() == 1 {
        let _ = writeln!(out, "{indent}one server: not hashed (as nutcracker)");
    } else if spec.distribution != Distribution::Random {
        let _ = writeln!(
            out,
            "{indent}{}({}) = {hash} (0x{hash:08x})",
            spec.hash.name(),
            quoted(hashed)
        );
    }
    let ring = health.ring(pool as usize);
    let Some(located) = ring.locate(hash, 0) else {
        let _ = writeln!(out, "{indent}no server is in the ring");
        return;
    };
    match located.detail {
        Detail::Point { value, wrapped } => {
            let _ = writeln!(
                out,
                "{indent}continuum: {} points; {} point #{}, value {value} (0x{value:08x})",
                ring.points().len(),
                if wrapped {
                    "past the last point, wrapped to"
                } else {
                    "first at or after the hash is"
                },
                located.entry
            );
        }
        Detail::Slot { remainder, total } => {
            let _ = writeln!(
                out,
                "{indent}modula: {hash} % {total} (total weight of servers in the ring) = {remainder}"
            );
        }
        Detail::Random => {
            let _ = writeln!(out, "{indent}random: any server in the ring, per request");
        }
    }
    let server = ServerRef {
        pool,
        server: located.server,
    };
    let _ = writeln!(out, "{indent}server: {}", describe(config, health, server));
}

fn decision(config: &ProxyConfig, decision: Decision) -> String {
    match decision {
        Decision::Refuse(refusal) => format!("refused ({refusal:?})"),
        Decision::Forward(f) => {
            let servers: Vec<String> = f.targets.iter().map(|t| server_label(config, *t)).collect();
            let how = match f.delivery {
                Delivery::All => "to all of",
                Delivery::InOrder { .. } if servers.len() > 1 => "in order to",
                Delivery::InOrder { .. } => "to",
            };
            let shadow = match f.shadow {
                Some(s) => format!(", copy to {}", server_label(config, s)),
                None => String::new(),
            };
            format!("{how} {}{shadow}", servers.join(", "))
        }
    }
}

fn describe(config: &ProxyConfig, health: &Health, server: ServerRef) -> String {
    let spec: &PoolSpec = &config.pools[server.pool as usize];
    let s = &spec.servers[server.server as usize];
    let name = match spec.distribution {
        Distribution::KetamaLibmemcached => s.libmemcached_name(),
        _ => s.ketama_name.clone(),
    };
    let status = match health.status(server) {
        Status::Up => String::new(),
        other => format!(", {other:?}"),
    };
    format!(
        "{} (#{} in the file, continuum name {}{status})",
        s.label,
        server.server,
        quoted(&name)
    )
}

fn server_label(config: &ProxyConfig, server: ServerRef) -> String {
    let pool = &config.pools[server.pool as usize];
    format!(
        "{}/{}",
        pool.name, pool.servers[server.server as usize].label
    )
}

fn route_name(config: &ProxyConfig, id: RouteId) -> &str {
    &config.routes[id.0 as usize].name
}

fn pool_name(config: &ProxyConfig, pool: u32) -> &str {
    &config.pools[pool as usize].name
}

/// A key for humans: printable ASCII as is, other bytes escaped.
fn quoted(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(b as char);
            }
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_twemproxy_pool() {
        let config = ProxyConfig::from_twemproxy_yaml(
            "alpha:\n  listen: 127.0.0.1:22121\n  hash_tag: \"{}\"\n  servers:\n   - 10.0.0.1:11211:1\n   - 10.0.0.2:11212:1 two\n",
        )
        .unwrap();
        let text = explain(&config, &Health::new(&config.pools), 0, b"u{apple}\xff");
        assert!(text.starts_with("key \"u{apple}\\xff\" on listener 127.0.0.1:22121 (alpha)\n"));
        assert!(text.contains("hash_tag selects \"apple\""), "{text}");
        assert!(
            text.contains("fnv1a_64(\"apple\") = 1488911807 (0x58befdbf)"),
            "{text}"
        );
        assert!(text.contains("continuum: 320 points;"), "{text}");
        assert!(text.contains("read: to alpha/"), "{text}");
    }

    #[test]
    fn modula_and_one_server_pools() {
        let config = ProxyConfig::from_twemproxy_yaml(
            "a:\n  listen: 127.0.0.1:1\n  distribution: modula\n  servers:\n   - h:1:1\n   - g:1:2\nb:\n  listen: 127.0.0.1:2\n  servers:\n   - h:1:1\n",
        )
        .unwrap();
        let health = Health::new(&config.pools);
        let text = explain(&config, &health, 0, b"apple");
        assert!(
            text.contains("modula: 1488911807 % 3 (total weight"),
            "{text}"
        );
        let text = explain(&config, &health, 1, b"apple");
        assert!(text.contains("one server: not hashed"), "{text}");
    }
}
