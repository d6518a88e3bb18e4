//! Placement against libmemcached: pylibmc (Debian's python3-pylibmc, libmemcached
//! 1.0.18) in weighted-ketama mode writes 100,000 keys straight to four memcached
//! servers; every key must be on the server Corvid's `ketama_libmemcached` distribution
//! picks for the same server list. One server listens on port 11211, which libmemcached
//! leaves out of the name it hashes, as twemproxy does.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};

use proxy::{
    Address, Decision, Distribution, HashFunction, Health, NamedRoute, Operation, PoolSpec,
    ProxyConfig, Route, RouteId, ServerSpec,
};
use support::{flush, loopback_with_free_11211, Memcached, TempDir};

const KEYS: usize = 100_000;
const PYTHON: &str = "/usr/bin/python3";

/// Reads keys (one per line, bytes) from stdin and sets them through pylibmc.
const WRITER: &str = r#"
import sys, pylibmc
servers = sys.argv[1].split(",")
mc = pylibmc.Client(servers, behaviors={"ketama_weighted": True})
assert mc.behaviors["distribution"] == "consistent weighted", mc.behaviors
keys = sys.stdin.buffer.read().split(b"\n")[:-1]
for i in range(0, len(keys), 1000):
    failed = mc.set_multi({k: b"x" for k in keys[i:i + 1000]})
    assert not failed, failed[:3]
print("wrote", len(keys))
"#;

fn router(servers: &[String]) -> ProxyConfig {
    let specs = servers
        .iter()
        .map(|s| ServerSpec::parse(s).expect("server"))
        .collect();
    let mut pool = PoolSpec::new("libmemcached", specs);
    pool.distribution = Distribution::KetamaLibmemcached;
    pool.hash = HashFunction::Md5;
    pool.reorder();
    let config = ProxyConfig {
        listeners: Vec::new(),
        pools: vec![pool],
        routes: vec![NamedRoute {
            name: "all".into(),
            route: Route::Pool { pool: 0 },
        }],
    };
    config.check().expect("valid");
    config
}

fn placed(config: &ProxyConfig, health: &Health, key: &str) -> SocketAddr {
    let Decision::Forward(forward) =
        config.route(RouteId(0), health, key.as_bytes(), Operation::Write, 0)
    else {
        panic!("no server for {key}");
    };
    match &config.pools[0].servers[forward.targets[0].server as usize].address {
        Address::Tcp { host, port } => SocketAddr::new(host.parse().expect("ip"), *port),
        Address::Unix(path) => panic!("unix server {}", path.display()),
    }
}

#[test]
fn placement_matches_libmemcached() {
    support::in_private_network("placement_matches_libmemcached", compare_with_libmemcached);
}

fn compare_with_libmemcached() {
    let mut backends: Vec<Memcached> = (0..3)
        .map(|_| Memcached::start(Ipv4Addr::LOCALHOST))
        .collect();
    let ip = loopback_with_free_11211(&[Ipv4Addr::LOCALHOST]);
    backends.push(Memcached::start_on(ip, 11211).expect("memcached on port 11211"));
    let refs: Vec<&Memcached> = backends.iter().collect();
    let dir = TempDir::new("pylibmc");
    let script = dir.0.join("writer.py");
    std::fs::write(&script, WRITER).expect("write script");

    let mut failures = Vec::new();
    for (n, weights) in [[1u32, 1, 1, 1], [1, 3, 2, 5]].iter().enumerate() {
        flush(&refs);
        let servers: Vec<String> = backends
            .iter()
            .zip(weights)
            .map(|(b, w)| format!("{}:{w}", b.addr()))
            .collect();
        let prefix = format!("lm{n}:");
        let keys: Vec<String> = (0..KEYS)
            .map(|i| {
                let accent = if i % 7 == 3 { "é" } else { "" };
                format!("{prefix}{accent}k{i}")
            })
            .collect();
        let mut child = Command::new(PYTHON)
            .arg(&script)
            .arg(servers.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run /usr/bin/python3 (apt-get install python3-pylibmc)");
        let mut input = Vec::new();
        for key in &keys {
            input.extend_from_slice(key.as_bytes());
            input.push(b'\n');
        }
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&input)
            .expect("send keys");
        let output = child.wait_with_output().expect("pylibmc writer");
        assert!(
            output.status.success(),
            "pylibmc writer: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        let config = router(&servers);
        let health = Health::new(&config.pools);
        let mut holder: HashMap<String, SocketAddr> = HashMap::with_capacity(KEYS);
        for backend in &backends {
            for key in backend.keys(&prefix) {
                holder.insert(key, backend.addr());
            }
        }
        let missing: Vec<&String> = keys.iter().filter(|k| !holder.contains_key(*k)).collect();
        for key in missing {
            if let Some(backend) = backends.iter().find(|b| b.has(key)) {
                holder.insert(key.clone(), backend.addr());
            }
        }
        let wrong: Vec<String> = holder
            .iter()
            .filter(|(key, addr)| placed(&config, &health, key) != **addr)
            .map(|(key, addr)| format!("{key}: libmemcached {addr}"))
            .collect();
        if holder.len() != KEYS || !wrong.is_empty() {
            failures.push(format!(
                "servers {servers:?}: {} of {KEYS} keys found, {} misplaced, e.g. {:?}",
                holder.len(),
                wrong.len(),
                &wrong[..wrong.len().min(3)]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
