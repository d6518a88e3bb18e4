//! Messages below were captured from nutcracker 0.5.0 (Debian) with the same files;
//! `tests/nutcracker_config.rs` checks them against the real binary.

use std::time::Duration;

use crate::config::ProxyConfig;
use crate::distribution::Distribution;
use crate::hash::HashFunction;
use crate::listen::ListenAddress;
use crate::pool::EjectionPolicy;

fn error(yaml: &str) -> String {
    ProxyConfig::from_twemproxy_yaml_file(yaml, "conf.yml")
        .unwrap_err()
        .to_string()
}

fn pool(body: &str) -> String {
    format!("a:\n  listen: 127.0.0.1:22121\n{body}  servers:\n   - 127.0.0.1:11211:1\n")
}

#[test]
fn defaults_are_twemproxys() {
    let config = ProxyConfig::from_twemproxy_yaml(&pool("")).unwrap();
    let p = &config.pools[0];
    assert_eq!(p.hash, HashFunction::Fnv1a64);
    assert_eq!(p.distribution, Distribution::Ketama);
    assert_eq!(p.hash_tag, None);
    assert_eq!(p.timeout, None);
    assert_eq!(p.server_connections, 1);
    assert!(!p.preconnect);
    assert_eq!(p.ejection.policy, EjectionPolicy::Never);
    assert_eq!(p.ejection.failure_limit, 2);
    assert_eq!(p.ejection.retry_timeout, Duration::from_secs(30));
    assert_eq!(p.ejection.max_ejected_share, 1.0);
    assert!(!p.ejection.probe);
    assert!(!p.allow_flush_all);
    let l = &config.listeners[0];
    assert_eq!(l.backlog, 512);
    assert!(!l.tcp_keepalive);
    assert_eq!(
        l.address,
        ListenAddress::Tcp {
            host: "127.0.0.1".into(),
            port: 22121
        }
    );
}

#[test]
fn every_directive_is_read() {
    let yaml = pool(
        "  hash: md5\n  hash_tag: \"{}\"\n  distribution: modula\n  timeout: 400\n  backlog: 1024\n  \
         client_connections: 10\n  redis: false\n  tcpkeepalive: true\n  redis_db: 3\n  \
         preconnect: true\n  auto_eject_hosts: true\n  server_connections: 2\n  \
         server_retry_timeout: 100\n  server_failure_limit: 3\n",
    );
    let config = ProxyConfig::from_twemproxy_yaml(&yaml).unwrap();
    let p = &config.pools[0];
    assert_eq!(p.hash, HashFunction::Md5);
    assert_eq!(p.hash_tag.unwrap().apply(b"a{b}c"), b"b");
    assert_eq!(p.distribution, Distribution::Modula);
    assert_eq!(p.timeout, Some(Duration::from_millis(400)));
    assert_eq!(p.server_connections, 2);
    assert!(p.preconnect);
    assert_eq!(p.ejection.policy, EjectionPolicy::Remap);
    assert_eq!(p.ejection.failure_limit, 3);
    assert_eq!(p.ejection.retry_timeout, Duration::from_millis(100));
    assert_eq!(config.listeners[0].backlog, 1024);
    assert!(config.listeners[0].tcp_keepalive);
}

#[test]
fn zero_timeout_means_none() {
    let config = ProxyConfig::from_twemproxy_yaml(&pool("  timeout: 0\n")).unwrap();
    assert_eq!(config.pools[0].timeout, None);
}

#[test]
fn directive_errors() {
    let cases = [
        ("  foo: bar\n", "conf: directive \"foo\" is unknown"),
        (
            "  hash: md5\n  hash: md5\n",
            "conf: directive \"hash\" is a duplicate",
        ),
        (
            "  hash: fnv1a_65\n",
            "conf: directive \"hash\" is not a valid hash",
        ),
        (
            "  hash: MD5\n",
            "conf: directive \"hash\" is not a valid hash",
        ),
        (
            "  redis: yes\n",
            "conf: directive \"redis\" is not \"true\" or \"false\"",
        ),
        (
            "  redis: True\n",
            "conf: directive \"redis\" is not \"true\" or \"false\"",
        ),
        (
            "  timeout: -1\n",
            "conf: directive \"timeout\" is not a number",
        ),
        (
            "  timeout: 0x10\n",
            "conf: directive \"timeout\" is not a number",
        ),
        (
            "  timeout: 1e3\n",
            "conf: directive \"timeout\" is not a number",
        ),
        (
            "  hash_tag: \"{\"\n",
            "conf: directive \"hash_tag\" is not a valid hash tag string with two characters",
        ),
        (
            "  distribution: vnode\n",
            "conf: directive \"distribution\" is not a valid distribution",
        ),
        (
            "  distribution: ketama_libmemcached\n",
            "conf: directive \"distribution\" is not a valid distribution",
        ),
        (
            "  server_connections: 0\n",
            "conf: directive \"server_connections:\" cannot be 0",
        ),
        (
            "  redis_auth: secret\n",
            "conf: directive \"redis_auth:\" is only valid for a redis pool",
        ),
        (
            "  listen: 127.0.0.1:22122\n",
            "conf: directive \"listen\" is a duplicate",
        ),
    ];
    for (body, message) in cases {
        assert_eq!(error(&pool(body)), message, "{body}");
    }
}

#[test]
fn listen_and_server_errors() {
    let with = |listen: &str, server: &str| {
        error(&format!(
            "a:\n  listen: {listen}\n  servers:\n   - {server}\n"
        ))
    };
    assert_eq!(
        with("127.0.0.1:99999", "127.0.0.1:11211:1"),
        "conf: directive \"listen\" has an invalid port in \"hostname:port\" format string"
    );
    assert_eq!(
        with("127.0.0.1", "127.0.0.1:11211:1"),
        "conf: directive \"listen\" has an invalid \"hostname:port\" format string"
    );
    assert_eq!(
        with("127.0.0.1:22121", "127.0.0.1:11211:0"),
        "conf: directive \"servers\" has a zero weight in \"hostname:port:weight [name]\" format string"
    );
    assert_eq!(
        with("127.0.0.1:22121", "127.0.0.1:11211"),
        "conf: directive \"servers\" has an invalid \"hostname:port:weight [name]\"or \"/path/unix_socket:weight [name]\" format string"
    );
    assert_eq!(
        with("127.0.0.1:22121", "127.0.0.1:0:1"),
        "conf: directive \"servers\" has an invalid port in \"hostname:port:weight [name]\" format string"
    );
    assert_eq!(
        with("127.0.0.1:22121", "127.0.0.1:11211:x"),
        "conf: directive \"servers\" has an invalid weight in \"hostname:port:weight [name]\" format string"
    );
}

#[test]
fn pool_checks() {
    assert_eq!(
        error("a:\n  servers:\n   - 127.0.0.1:11211:1\n"),
        "conf: directive \"listen:\" is missing"
    );
    assert_eq!(
        error("a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1\n   - 127.0.0.1:11211:2\n"),
        "conf: pool 'a' has servers with same name '127.0.0.1'"
    );
    assert_eq!(
        error("a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1 x\n   - 127.0.0.1:11212:2 x\n"),
        "conf: pool 'a' has servers with same name 'x'"
    );
    assert_eq!(
        error("a:\n  listen: 127.0.0.1:22121\n  hash:\n   - md5\n"),
        "conf: pool 'a' has no servers"
    );
    assert_eq!(
        error(&pool("  redis: true\n")),
        "conf: pool 'a' is a redis pool (redis: true): corvid proxy serves memcached pools only"
    );
}

#[test]
fn file_checks() {
    let two = "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1\n";
    assert_eq!(
        error(&format!(
            "{two}b:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1\n"
        )),
        "conf: pools 'a' and 'b' have the same listen address '127.0.0.1:22121'"
    );
    assert_eq!(
        error(&format!(
            "{two}a:\n  listen: 127.0.0.1:22122\n  servers:\n   - 127.0.0.1:6379:1\n"
        )),
        "conf: 'conf.yml' has pools with same name a'"
    );
    assert_eq!(
        error(&format!("{two}---\n{two}")),
        "conf: 'conf.yml' must contain only 1 document; found 2 documents"
    );
    assert_eq!(
        error(""),
        "conf: 'conf.yml' must contain only 1 document; found 0 documents"
    );
    assert_eq!(
        error("a:\n  listen: 127.0.0.1:22121\n"),
        "conf: 'conf.yml' missing sequence directive at depth 2"
    );
    assert_eq!(
        error(
            "a:\n  listen: 127.0.0.1:22121\n  x:\n    y: z\n  servers:\n   - 127.0.0.1:11211:1\n"
        ),
        "conf: 'conf.yml' has a depth greater than 2"
    );
    assert_eq!(
        error("a\n"),
        "conf: 'conf.yml' has invalid empty \"key:\" at depth 0"
    );
}

#[test]
fn long_ketama_names_are_refused() {
    let name = "n".repeat(81);
    let yaml = pool("").replace("127.0.0.1:11211:1", &format!("127.0.0.1:11211:1 {name}"));
    assert!(error(&yaml).contains("longer than 80 bytes"));
    let yaml = pool("  distribution: modula\n")
        .replace("127.0.0.1:11211:1", &format!("127.0.0.1:11211:1 {name}"));
    assert!(ProxyConfig::from_twemproxy_yaml(&yaml).is_ok());
}

#[test]
fn pools_keep_file_order_and_get_a_route_each() {
    let yaml = "zeta:\n  listen: 127.0.0.1:2\n  servers:\n   - h:1:1\nalpha:\n  listen: /tmp/s 0600\n  servers:\n   - /tmp/m:1\n";
    let config = ProxyConfig::from_twemproxy_yaml(yaml).unwrap();
    assert_eq!(config.pools[0].name, "zeta");
    assert_eq!(config.pools[1].name, "alpha");
    assert_eq!(config.listeners[1].route.0, 1);
    assert_eq!(
        config.listeners[1].address,
        ListenAddress::Unix {
            path: "/tmp/s".into(),
            mode: Some(0o600)
        }
    );
    config.check().unwrap();
}

mod arbitrary_input {
    use proptest::prelude::*;

    use crate::config::ProxyConfig;
    use crate::listen::ListenAddress;
    use crate::server::ServerSpec;

    proptest! {
        /// Whatever an operator writes, the readers answer; they never panic.
        #[test]
        fn readers_never_panic(text in "\\PC{0,200}") {
            let _ = ServerSpec::parse(&text);
            let _ = ListenAddress::parse(&text);
            let _ = ProxyConfig::from_twemproxy_yaml(&text);
            let _ = ProxyConfig::from_toml(&text);
        }

        /// Pools assembled from plausible and implausible pieces.
        #[test]
        fn yaml_pools_never_panic(
            pools in proptest::collection::vec(
                (
                    "[a-z]{1,3}",
                    proptest::collection::vec(("[a-z_]{1,22}", "[ -~]{0,12}"), 0..5),
                    proptest::collection::vec("[ -~]{0,24}", 0..4),
                ),
                0..4,
            )
        ) {
            let mut yaml = String::new();
            for (name, entries, servers) in &pools {
                yaml.push_str(&format!("{name}:\n"));
                for (key, value) in entries {
                    yaml.push_str(&format!("  {key}: \"{}\"\n", value.replace(['"', '\\'], "")));
                }
                yaml.push_str("  servers:\n");
                for server in servers {
                    yaml.push_str(&format!("   - \"{}\"\n", server.replace(['"', '\\'], "")));
                }
            }
            if let Ok(config) = ProxyConfig::from_twemproxy_yaml(&yaml) {
                prop_assert!(config.check().is_ok());
                prop_assert_eq!(config.listeners.len(), config.pools.len());
            }
        }
    }
}
