//! Placement, differentially: the same YAML in the real nutcracker (Debian's 0.5.0) and in
//! Corvid's router. 100,000 keys are written through nutcracker to four memcached
//! backends; each backend is then asked which keys it holds (`lru_crawler metadump all`)
//! and every key's backend must be the one Corvid computes. Ketama with server names and
//! with `host:port` names (one backend on port 11211, whose port nutcracker leaves out of
//! the name), weights, modula, random's absence of a key, every hash, with and without
//! `hash_tag`, and keys with bytes above 0x7f (which several hashes sign-extend).

mod support;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

use proxy::{Address, Decision, Health, Operation, ProxyConfig};
use support::{
    flush, free_port, loopback_with_free_11211, set_all, Endpoint, Memcached, Nutcracker, TempDir,
};

const KEYS: usize = 100_000;

#[derive(Clone, Copy)]
enum Naming {
    /// `host:port:weight`: ketama hashes `host:port` (`host` for port 11211).
    HostPort,
    /// `host:port:weight name`, names of different lengths (nutcracker sorts by length
    /// first, which decides modula's order).
    Names,
}

struct Case {
    distribution: &'static str,
    hash: &'static str,
    naming: Naming,
    weights: [u32; 4],
    hash_tag: Option<&'static str>,
}

const fn case(
    distribution: &'static str,
    hash: &'static str,
    naming: Naming,
    weights: [u32; 4],
    hash_tag: Option<&'static str>,
) -> Case {
    Case {
        distribution,
        hash,
        naming,
        weights,
        hash_tag,
    }
}

const EQUAL: [u32; 4] = [1, 1, 1, 1];
const WEIGHTED: [u32; 4] = [1, 3, 2, 5];

const CASES: &[Case] = &[
    case("ketama", "fnv1a_64", Naming::HostPort, EQUAL, None),
    case("ketama", "fnv1a_64", Naming::Names, EQUAL, None),
    case("ketama", "md5", Naming::HostPort, WEIGHTED, None),
    case("ketama", "murmur", Naming::Names, WEIGHTED, Some("{}")),
    case(
        "ketama",
        "one_at_a_time",
        Naming::HostPort,
        EQUAL,
        Some("{}"),
    ),
    case("ketama", "crc32a", Naming::Names, EQUAL, None),
    case("ketama", "hsieh", Naming::HostPort, WEIGHTED, None),
    case("ketama", "jenkins", Naming::Names, EQUAL, Some("{}")),
    case("ketama", "fnv1_64", Naming::HostPort, EQUAL, None),
    case("ketama", "fnv1_32", Naming::Names, WEIGHTED, None),
    case("ketama", "fnv1a_32", Naming::HostPort, EQUAL, None),
    case("ketama", "crc16", Naming::HostPort, EQUAL, None),
    case("ketama", "crc32", Naming::Names, EQUAL, None),
    case("modula", "fnv1a_64", Naming::Names, EQUAL, None),
    case("modula", "md5", Naming::HostPort, WEIGHTED, Some("{}")),
    case("modula", "murmur", Naming::Names, WEIGHTED, None),
    case("modula", "hsieh", Naming::HostPort, EQUAL, None),
];

const NAMES: [&str; 4] = ["server-c", "a", "bbb", "dd"];

fn yaml(case: &Case, listen: SocketAddr, backends: &[&Memcached]) -> String {
    let mut yaml = format!(
        "placement:\n  listen: {listen}\n  hash: {}\n  distribution: {}\n",
        case.hash, case.distribution
    );
    if let Some(tag) = case.hash_tag {
        yaml.push_str(&format!("  hash_tag: \"{tag}\"\n"));
    }
    yaml.push_str("  servers:\n");
    for (i, backend) in backends.iter().enumerate() {
        let name = match case.naming {
            Naming::HostPort => String::new(),
            Naming::Names => format!(" {}", NAMES[i]),
        };
        let address = match &backend.endpoint {
            Endpoint::Tcp(addr) => addr.to_string(),
            Endpoint::Unix(path) => path.display().to_string(),
        };
        yaml.push_str(&format!("   - {address}:{}{name}\n", case.weights[i]));
    }
    yaml
}

fn keys(prefix: &str, tagged: bool) -> Vec<String> {
    (0..KEYS)
        .map(|i| {
            // One key in seven has bytes above 0x7f.
            let accent = if i % 7 == 3 { "é" } else { "" };
            if tagged {
                format!("{prefix}u{{{}{accent}}}:{i}", i % 5_000)
            } else {
                format!("{prefix}{accent}k{i}")
            }
        })
        .collect()
}

/// The backend Corvid's router picks for `key`.
fn placed(config: &ProxyConfig, health: &Health, key: &str) -> Endpoint {
    let route = config.listeners[0].route;
    let Decision::Forward(forward) =
        config.route(route, health, key.as_bytes(), Operation::Write, 0)
    else {
        panic!("no server for {key}");
    };
    let server = &config.pools[0].servers[forward.targets[0].server as usize];
    match &server.address {
        Address::Tcp { host, port } => {
            Endpoint::Tcp(SocketAddr::new(host.parse().expect("ip"), *port))
        }
        Address::Unix(path) => Endpoint::Unix(path.clone()),
    }
}

#[test]
fn placement_matches_nutcracker() {
    support::in_private_network("placement_matches_nutcracker", compare_with_nutcracker);
}

fn compare_with_nutcracker() {
    let mut backends: Vec<Memcached> = (0..3)
        .map(|_| Memcached::start(Ipv4Addr::LOCALHOST))
        .collect();
    // The fourth on port 11211 of another loopback address.
    let ip = loopback_with_free_11211(&[Ipv4Addr::LOCALHOST]);
    backends.push(Memcached::start_on(ip, 11211).expect("memcached on port 11211"));
    let failures: Vec<String> = CASES
        .iter()
        .enumerate()
        .filter_map(|(n, case)| run_case(case, &backends, &format!("c{n}:")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Unix-socket servers: nutcracker hashes one without a name as `path:` (the colon before
/// its weight stays in the name).
#[test]
fn unix_socket_placement_matches_nutcracker() {
    let dir = TempDir::new("unix-backends");
    let backends: Vec<Memcached> = (0..4)
        .map(|i| Memcached::start_unix(&dir.0.join(format!("mc{i}.sock"))))
        .collect();
    let cases = [
        case("ketama", "fnv1a_64", Naming::HostPort, WEIGHTED, None),
        case("modula", "md5", Naming::HostPort, EQUAL, None),
    ];
    let failures: Vec<String> = cases
        .iter()
        .enumerate()
        .filter_map(|(n, case)| run_case(case, &backends, &format!("u{n}:")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Writes the keys through nutcracker and compares; a report when anything differs.
fn run_case(case: &Case, backends: &[Memcached], prefix: &str) -> Option<String> {
    let refs: Vec<&Memcached> = backends.iter().collect();
    flush(&refs);
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST)));
    let yaml = yaml(case, listen, &refs);
    let nutcracker = Nutcracker::start(&yaml, listen);
    let keys = keys(prefix, case.hash_tag.is_some());
    set_all(nutcracker.addr, &keys);
    drop(nutcracker);

    let config = ProxyConfig::from_twemproxy_yaml(&yaml).expect("corvid reads the yaml");
    let health = Health::new(&config.pools);
    let mut holder: HashMap<String, Endpoint> = HashMap::with_capacity(KEYS);
    for backend in backends {
        for key in backend.keys(prefix) {
            holder.insert(key, backend.endpoint.clone());
        }
    }
    let missing: Vec<&String> = keys.iter().filter(|k| !holder.contains_key(*k)).collect();
    for key in missing {
        if let Some(backend) = backends.iter().find(|b| b.has(key)) {
            holder.insert(key.clone(), backend.endpoint.clone());
        }
    }
    let wrong: Vec<String> = holder
        .iter()
        .filter_map(|(key, at)| {
            let ours = placed(&config, &health, key);
            (ours != *at).then(|| format!("{key}: nutcracker {at:?} corvid {ours:?}"))
        })
        .collect();
    if holder.len() == KEYS && wrong.is_empty() {
        return None;
    }
    let naming = match case.naming {
        Naming::HostPort => "host:port",
        Naming::Names => "names",
    };
    Some(format!(
        "{} {} {naming} weights {:?} hash_tag {:?}: {} of {KEYS} keys found, {} misplaced, e.g. {:?}\n{yaml}",
        case.distribution,
        case.hash,
        case.weights,
        case.hash_tag,
        holder.len(),
        wrong.len(),
        &wrong[..wrong.len().min(3)]
    ))
}
