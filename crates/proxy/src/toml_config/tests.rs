use std::time::Duration;

use crate::config::ProxyConfig;
use crate::distribution::Distribution;
use crate::hash::HashFunction;
use crate::pool::EjectionPolicy;
use crate::route::Route;

const BASE: &str = r#"
[[listen]]
address = "127.0.0.1:22121"
route = "main"

[pools.a]
servers = ["10.0.0.1:11211:1", "10.0.0.2:11211:1", "10.0.0.3:11211:1"]

[pools.b]
servers = ["10.0.1.1:11211:1", "10.0.1.2:11211:1"]
"#;

fn with(routes: &str) -> Result<ProxyConfig, String> {
    ProxyConfig::from_toml(&format!("{BASE}{routes}")).map_err(|e| e.to_string())
}

#[test]
fn pool_defaults() {
    let config = with("[routes.main]\ntype = \"pool\"\npool = \"a\"\n").unwrap();
    let a = &config.pools[0];
    assert_eq!(a.name, "a");
    assert_eq!(a.hash, HashFunction::Fnv1a64);
    assert_eq!(a.distribution, Distribution::Ketama);
    assert_eq!(a.timeout, None);
    assert_eq!(a.ejection.policy, EjectionPolicy::Never);
    assert_eq!(a.ejection.max_ejected_share, 0.5);
    assert_eq!(a.ejection.retry_timeout, Duration::from_secs(30));
    assert!(!a.allow_flush_all);
    assert_eq!(config.listeners[0].backlog, 512);
}

#[test]
fn every_pool_setting() {
    let text = r#"
[[listen]]
address = "/run/corvid.sock 0660"
route = "p"
tcpkeepalive = true
backlog = 64

[pools.p]
servers = ["10.0.0.1:11211:2 one", "10.0.0.2:11212:1"]
hash = "murmur"
hash_tag = "{}"
distribution = "ketama_libmemcached"
timeout = 250
server_connections = 4
preconnect = true
allow_flush_all = true
ejection = { policy = "fail_fast", failure_limit = 5, retry_timeout = 1000, max_share = 0.25, probe = true }
"#;
    let config = ProxyConfig::from_toml(text).unwrap();
    let p = &config.pools[0];
    assert_eq!(p.hash, HashFunction::Murmur);
    assert!(p.hash_tag.is_some());
    assert_eq!(p.distribution, Distribution::KetamaLibmemcached);
    assert_eq!(p.ring_order(), &[0, 1]);
    assert_eq!(p.timeout, Some(Duration::from_millis(250)));
    assert_eq!(p.server_connections, 4);
    assert!(p.preconnect && p.allow_flush_all);
    assert_eq!(p.ejection.policy, EjectionPolicy::FailFast);
    assert_eq!(p.ejection.failure_limit, 5);
    assert_eq!(p.ejection.max_ejected_share, 0.25);
    assert!(p.ejection.probe);
    assert!(config.listeners[0].tcp_keepalive);
    assert_eq!(config.routes[0].route, Route::Pool { pool: 0 });
}

#[test]
fn libmemcached_mode_hashes_with_md5_by_default() {
    let text = "[[listen]]\naddress = \"127.0.0.1:1\"\nroute = \"p\"\n[pools.p]\nservers = [\"h:1:1\"]\ndistribution = \"ketama_libmemcached\"\n";
    assert_eq!(
        ProxyConfig::from_toml(text).unwrap().pools[0].hash,
        HashFunction::Md5
    );
}

#[test]
fn routes_resolve_to_routes_and_pools() {
    let config = with(
        r#"
[routes.main]
type = "prefix"
prefixes = { "user:" = "users", "b:" = "b" }
default = "shadowed"

[routes.users]
type = "failover"
pool = "a"
attempts = 2
on_miss = true

[routes.shadowed]
type = "shadow"
primary = "replicated"
shadow = "b"
share = 0.1

[routes.replicated]
type = "replicate"
pool = "b"
read_failover = true
"#,
    )
    .unwrap();
    let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["main", "replicated", "shadowed", "users", "a", "b"]);
    let Route::Prefix { prefixes, default } = &config.routes[0].route else {
        panic!("prefix");
    };
    assert_eq!(prefixes.len(), 2);
    assert_eq!(default.unwrap().0, 2);
    assert_eq!(
        config.routes[3].route,
        Route::Failover {
            pool: 0,
            attempts: 2,
            on_miss: true
        }
    );
}

#[test]
fn mistakes_are_reported() {
    let cases = [
        ("[routes.main]\ntype = \"pool\"\npool = \"c\"\n", "'c', named by route 'main', is neither a route nor a pool"),
        ("[routes.a]\ntype = \"pool\"\npool = \"a\"\n", "'a' is both a route and a pool"),
        ("[routes.main]\ntype = \"failover\"\npool = \"a\"\nattempts = 9\n", "route 'main': attempts must be between 1 and 8"),
        ("[routes.main]\ntype = \"shadow\"\nprimary = \"a\"\nshadow = \"b\"\nshare = 1.5\n", "route 'main': share must be between 0 and 1"),
        ("[routes.main]\ntype = \"prefix\"\nprefixes = { \"x\" = \"main\" }\n", "routes form a cycle through 'main'"),
        ("[routes.main]\ntype = \"pool\"\npool = \"other\"\n[routes.other]\ntype = \"pool\"\npool = \"a\"\n", "route 'main' needs a pool, and 'other' is a route"),
    ];
    for (routes, message) in cases {
        assert_eq!(with(routes).unwrap_err(), message, "{routes}");
    }
    let typo = with("[routes.main]\ntype = \"pool\"\npool = \"a\"\natempts = 2\n").unwrap_err();
    assert!(typo.contains("unknown field"), "{typo}");
    assert_eq!(
        ProxyConfig::from_toml("[pools.a]\nservers = [\"h:1:1\"]\n")
            .unwrap_err()
            .to_string(),
        "no [[listen]] entries"
    );
}

#[test]
fn pool_mistakes_are_reported() {
    let pool = |body: &str| {
        ProxyConfig::from_toml(&format!(
            "[[listen]]\naddress = \"127.0.0.1:1\"\nroute = \"p\"\n[pools.p]\n{body}"
        ))
        .unwrap_err()
        .to_string()
    };
    assert_eq!(pool("servers = []\n"), "pool 'p' has no servers");
    assert_eq!(
        pool("servers = [\"h:1\"]\n"),
        "pool 'p': server 'h:1' has an invalid \"hostname:port:weight [name]\"or \"/path/unix_socket:weight [name]\" format string"
    );
    assert_eq!(
        pool("servers = [\"h:1:1 x\", \"g:1:1 x\"]\n"),
        "pool 'p' has servers with same name 'x'"
    );
    assert_eq!(
        pool("servers = [\"h:1:1\"]\nhash = \"sha1\"\n"),
        "pool 'p': 'sha1' is not a valid hash"
    );
    assert_eq!(
        pool("servers = [\"h:1:1\"]\nejection = { policy = \"sometimes\" }\n"),
        "pool 'p': 'sometimes' is not a valid ejection policy"
    );
    assert_eq!(
        pool("servers = [\"h:1:1\"]\nejection = { max_share = 2.0 }\n"),
        "pool 'p': ejection.max_share must be between 0 and 1"
    );
}
