use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::config::ProxyConfig;
use crate::pool::EjectionPolicy;

const CONFIG: &str = r#"
[[listen]]
address = "127.0.0.1:22121"
route = "main"

[pools.four]
servers = ["10.0.0.1:11211:1", "10.0.0.2:11211:1", "10.0.0.3:11211:2", "10.0.0.4:11211:1"]
ejection = { policy = "fail_fast", max_share = 1.0 }
allow_flush_all = true

[pools.remap]
servers = ["10.0.1.1:11211:1", "10.0.1.2:11211:1"]
ejection = { policy = "remap", failure_limit = 1, max_share = 1.0 }

[pools.shadow]
servers = ["10.0.2.1:11211:1", "10.0.2.2:11211:1"]

[routes.main]
type = "prefix"
prefixes = { "f:" = "failover", "f:miss:" = "failover_on_miss", "r:" = "replicate", "s:" = "shadow_all", "n:" = "nowhere", "m:" = "remap" }
default = "four"

[routes.failover]
type = "failover"
pool = "four"
attempts = 3

[routes.failover_on_miss]
type = "failover"
pool = "four"
attempts = 8
on_miss = true

[routes.replicate]
type = "replicate"
pool = "four"

[routes.replicate_reads]
type = "replicate"
pool = "four"
read_failover = true

[routes.shadow_all]
type = "shadow"
primary = "four"
shadow = "shadow"
share = 1.0

[routes.shadow_tenth]
type = "shadow"
primary = "four"
shadow = "shadow"
share = 0.1

[routes.nowhere]
type = "prefix"
prefixes = { "x" = "four" }
"#;

fn config() -> ProxyConfig {
    ProxyConfig::from_toml(CONFIG).unwrap()
}

fn id(config: &ProxyConfig, name: &str) -> RouteId {
    RouteId(config.routes.iter().position(|r| r.name == name).unwrap() as u32)
}

fn forward(decision: Decision) -> Forward {
    match decision {
        Decision::Forward(f) => f,
        Decision::Refuse(r) => panic!("refused: {r:?}"),
    }
}

fn pool_of(config: &ProxyConfig, name: &str) -> u32 {
    config.pools.iter().position(|p| p.name == name).unwrap() as u32
}

#[test]
fn a_pool_route_sends_to_the_keys_server() {
    let config = config();
    let health = Health::new(&config.pools);
    let four = pool_of(&config, "four");
    let f = forward(config.route(id(&config, "main"), &health, b"plain", Operation::Read, 0));
    assert_eq!(f.targets.len(), 1);
    assert_eq!(f.delivery, Delivery::InOrder { on_miss: false });
    assert_eq!(f.shadow, None);
    let (hash, _) = config.pools[four as usize].key_hash(b"plain");
    let expected = health.ring(four as usize).locate(hash, 0).unwrap().server;
    assert_eq!(
        f.targets[0],
        ServerRef {
            pool: four,
            server: expected
        }
    );
}

#[test]
fn failover_walks_the_ring_to_distinct_servers() {
    let config = config();
    let health = Health::new(&config.pools);
    let main = id(&config, "main");
    let single = forward(config.route(id(&config, "four"), &health, b"f:key", Operation::Read, 0));
    let f = forward(config.route(main, &health, b"f:key", Operation::Read, 0));
    assert_eq!(f.targets.len(), 3);
    assert_eq!(f.targets[0], single.targets[0]);
    assert_eq!(f.delivery, Delivery::InOrder { on_miss: false });
    // The longest prefix wins, and on_miss only applies to reads.
    let f = forward(config.route(main, &health, b"f:miss:key", Operation::Read, 0));
    assert_eq!(f.targets.len(), 4);
    assert_eq!(f.delivery, Delivery::InOrder { on_miss: true });
    let f = forward(config.route(main, &health, b"f:miss:key", Operation::Write, 0));
    assert_eq!(f.delivery, Delivery::InOrder { on_miss: false });
}

#[test]
fn fail_fast_refuses_a_down_server_and_failover_skips_it() {
    let config = config();
    let mut health = Health::new(&config.pools);
    let main = id(&config, "main");
    let owner = forward(config.route(main, &health, b"k", Operation::Read, 0)).targets[0];
    let now = Instant::now();
    health.record_failure(&config.pools, owner, now);
    health.record_failure(&config.pools, owner, now);
    assert_eq!(
        config.route(main, &health, b"k", Operation::Read, 0),
        Decision::Refuse(Refusal::ServerDown { server: owner })
    );
    let f = forward(config.route(main, &health, b"f:miss:k", Operation::Read, 0));
    assert!(!f.targets.contains(&owner));
    assert_eq!(f.targets.len(), 3);
}

#[test]
fn remap_moves_keys_and_refuses_when_all_are_out() {
    let config = config();
    let mut health = Health::new(&config.pools);
    let main = id(&config, "main");
    let remap = pool_of(&config, "remap");
    assert_eq!(
        config.pools[remap as usize].ejection.policy,
        EjectionPolicy::Remap
    );
    let now = Instant::now();
    let first = forward(config.route(main, &health, b"m:k", Operation::Read, 0)).targets[0];
    health.record_failure(&config.pools, first, now);
    let moved = forward(config.route(main, &health, b"m:k", Operation::Read, 0)).targets[0];
    assert_ne!(moved, first);
    health.record_failure(&config.pools, moved, now);
    assert_eq!(
        config.route(main, &health, b"m:k", Operation::Read, 0),
        Decision::Refuse(Refusal::NoServer { pool: remap })
    );
    health.poll(
        &config.pools,
        now + Duration::from_secs(30),
        &mut Vec::new(),
    );
    assert_eq!(
        forward(config.route(main, &health, b"m:k", Operation::Read, 0)).targets[0],
        first
    );
}

#[test]
fn replication_writes_everywhere_and_reads_once() {
    let config = config();
    let health = Health::new(&config.pools);
    let main = id(&config, "main");
    let read = forward(config.route(main, &health, b"r:k", Operation::Read, 0));
    assert_eq!(read.targets.len(), 1);
    for op in [
        Operation::Write,
        Operation::Delete,
        Operation::Arithmetic,
        Operation::Touch,
    ] {
        let write = forward(config.route(main, &health, b"r:k", op, 0));
        assert_eq!(write.delivery, Delivery::All);
        assert_eq!(write.targets.len(), 4);
        assert_eq!(write.targets[0], read.targets[0], "the owner first");
    }
    let cas = forward(config.route(main, &health, b"r:k", Operation::CompareAndSwap, 0));
    assert_eq!(&cas.targets[..], &read.targets[..]);
    let reads = forward(config.route(
        id(&config, "replicate_reads"),
        &health,
        b"r:k",
        Operation::Read,
        0,
    ));
    assert_eq!(reads.targets.len(), 4);
    assert_eq!(reads.targets[0], read.targets[0]);
}

#[test]
fn shadows_copy_a_share_of_keys() {
    let config = config();
    let health = Health::new(&config.pools);
    let shadow = pool_of(&config, "shadow");
    let f = forward(config.route(id(&config, "main"), &health, b"s:k", Operation::Write, 0));
    assert_eq!(f.shadow.map(|s| s.pool), Some(shadow));
    let tenth = id(&config, "shadow_tenth");
    let copied = (0..10_000)
        .filter(|i| {
            let key = format!("key{i}");
            forward(config.route(tenth, &health, key.as_bytes(), Operation::Read, 0))
                .shadow
                .is_some()
        })
        .count();
    assert!((800..1200).contains(&copied), "{copied}");
    // The same keys every time.
    let again = forward(config.route(tenth, &health, b"key7", Operation::Read, 0)).shadow;
    let once = forward(config.route(tenth, &health, b"key7", Operation::Read, 0)).shadow;
    assert_eq!(again, once);
}

#[test]
fn a_prefix_route_without_default_refuses_unmatched_keys() {
    let config = config();
    let health = Health::new(&config.pools);
    assert_eq!(
        config.route(id(&config, "main"), &health, b"n:k", Operation::Read, 0),
        Decision::Refuse(Refusal::NoRoute)
    );
}

#[test]
fn flush_all_needs_every_reached_pool_to_allow_it() {
    let config = config();
    assert_eq!(config.flush_targets(id(&config, "four")).unwrap().len(), 4);
    assert_eq!(
        config
            .flush_targets(id(&config, "shadow_all"))
            .unwrap()
            .len(),
        4
    );
    assert_eq!(config.flush_targets(id(&config, "main")), None);
}

#[test]
fn longest_prefix_wins() {
    let table = vec![(b"a".to_vec(), RouteId(1)), (b"ab".to_vec(), RouteId(2))];
    assert_eq!(longest_prefix(&table, b"abc"), Some(RouteId(2)));
    assert_eq!(longest_prefix(&table, b"ac"), Some(RouteId(1)));
    assert_eq!(longest_prefix(&table, b"b"), None);
}

proptest! {
    /// Whatever the health state, a decision names distinct servers that are up, at
    /// most MAX_TARGETS, or refuses.
    #[test]
    fn decisions_name_distinct_live_servers(
        key in proptest::collection::vec(any::<u8>(), 1..40),
        down in proptest::collection::vec(any::<bool>(), 8),
        route in 0usize..12,
        op in 0usize..6,
        entropy in any::<u64>(),
    ) {
        let config = config();
        let mut health = Health::new(&config.pools);
        let now = Instant::now();
        let mut n = 0;
        for (p, pool) in config.pools.iter().enumerate() {
            for s in 0..pool.servers.len() {
                if down[n % down.len()] {
                    let server = ServerRef { pool: p as u32, server: s as u32 };
                    for _ in 0..pool.ejection.failure_limit.max(1) {
                        health.record_failure(&config.pools, server, now);
                    }
                }
                n += 1;
            }
        }
        let ops = [Operation::Read, Operation::Write, Operation::CompareAndSwap,
                   Operation::Delete, Operation::Arithmetic, Operation::Touch];
        let route = RouteId((route % config.routes.len()) as u32);
        match config.route(route, &health, &key, ops[op], entropy) {
            Decision::Forward(f) => {
                prop_assert!(!f.targets.is_empty() && f.targets.len() <= MAX_TARGETS);
                for (i, t) in f.targets.iter().enumerate() {
                    prop_assert_eq!(health.status(*t), Status::Up);
                    prop_assert!(!f.targets[..i].contains(t));
                }
                if let Some(s) = f.shadow {
                    prop_assert_eq!(health.status(s), Status::Up);
                }
            }
            Decision::Refuse(_) => {}
        }
    }
}
