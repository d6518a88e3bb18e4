use std::time::{Duration, Instant};

use super::*;
use crate::pool::Ejection;
use crate::server::ServerSpec;

fn pools(policy: EjectionPolicy, servers: usize, share: f64, probe: bool) -> Vec<PoolSpec> {
    let specs = (0..servers)
        .map(|i| ServerSpec::parse(&format!("10.0.0.{}:11211:1", i + 1)).unwrap())
        .collect();
    let mut pool = PoolSpec::new("p", specs);
    pool.ejection = Ejection {
        policy,
        failure_limit: 2,
        retry_timeout: Duration::from_secs(10),
        max_ejected_share: share,
        probe,
    };
    vec![pool]
}

fn server(s: u32) -> ServerRef {
    ServerRef { pool: 0, server: s }
}

fn ring_servers(health: &Health) -> Vec<u32> {
    let mut servers: Vec<u32> = health.ring(0).points().iter().map(|p| p.server).collect();
    servers.sort();
    servers.dedup();
    servers
}

#[test]
fn never_ejects_without_auto_eject() {
    let pools = pools(EjectionPolicy::Never, 3, 1.0, false);
    let mut health = Health::new(&pools);
    let now = Instant::now();
    for _ in 0..10 {
        assert_eq!(health.record_failure(&pools, server(1), now), None);
    }
    assert_eq!(health.status(server(1)), Status::Up);
    assert_eq!(health.next_deadline(), None);
}

#[test]
fn remap_ejects_after_the_limit_and_rebuilds_the_ring() {
    let pools = pools(EjectionPolicy::Remap, 3, 1.0, false);
    let mut health = Health::new(&pools);
    let now = Instant::now();
    assert_eq!(health.record_failure(&pools, server(1), now), None);
    // A success in between starts the count again, as nutcracker's server_ok does.
    health.record_success(server(1));
    assert_eq!(health.record_failure(&pools, server(1), now), None);
    let until = now + Duration::from_secs(10);
    assert_eq!(
        health.record_failure(&pools, server(1), now),
        Some(HealthEvent::Ejected {
            server: server(1),
            until
        })
    );
    assert_eq!(health.status(server(1)), Status::Out { until });
    assert_eq!(ring_servers(&health), [0, 2]);
    // The two survivors take the whole continuum: 160 points each again.
    assert_eq!(health.ring(0).points().len(), 320);
    assert_eq!(health.next_deadline(), Some(until));

    let mut events = Vec::new();
    health.poll(&pools, until - Duration::from_millis(1), &mut events);
    assert!(events.is_empty());
    health.poll(&pools, until, &mut events);
    assert_eq!(events, [HealthEvent::Returned { server: server(1) }]);
    assert_eq!(ring_servers(&health), [0, 1, 2]);
    assert_eq!(*health.ring(0), pools[0].ring(|_| true));
    assert_eq!(health.next_deadline(), None);
}

#[test]
fn the_share_cap_keeps_servers_in() {
    let pools = pools(EjectionPolicy::Remap, 4, 0.5, false);
    let mut health = Health::new(&pools);
    let now = Instant::now();
    for s in 0..3 {
        health.record_failure(&pools, server(s), now);
        let event = health.record_failure(&pools, server(s), now);
        if s < 2 {
            assert!(matches!(event, Some(HealthEvent::Ejected { .. })), "{s}");
        } else {
            assert_eq!(
                event,
                Some(HealthEvent::EjectionCapped { server: server(2) })
            );
        }
    }
    assert_eq!(health.out(0), 2);
    assert_eq!(ring_servers(&health), [2, 3]);
}

#[test]
fn fail_fast_keeps_the_ring_and_marks_the_server_down() {
    let pools = pools(EjectionPolicy::FailFast, 3, 1.0, false);
    let mut health = Health::new(&pools);
    let now = Instant::now();
    health.record_failure(&pools, server(0), now);
    health.record_failure(&pools, server(0), now);
    assert!(matches!(health.status(server(0)), Status::Out { .. }));
    assert_eq!(ring_servers(&health), [0, 1, 2]);
    let mut events = Vec::new();
    health.poll(&pools, now + Duration::from_secs(10), &mut events);
    assert_eq!(health.status(server(0)), Status::Up);
}

#[test]
fn probes_decide_the_return_with_backoff() {
    let pools = pools(EjectionPolicy::Remap, 2, 1.0, true);
    let mut health = Health::new(&pools);
    let now = Instant::now();
    health.record_failure(&pools, server(0), now);
    health.record_failure(&pools, server(0), now);
    let mut events = Vec::new();
    let t1 = now + Duration::from_secs(10);
    health.poll(&pools, t1, &mut events);
    assert_eq!(events, [HealthEvent::ProbeDue { server: server(0) }]);
    assert_eq!(health.status(server(0)), Status::Probing);
    assert_eq!(ring_servers(&health), [1]);
    // A failed probe: out again for twice the retry timeout.
    let event = health.probe_result(&pools, server(0), false, t1);
    assert_eq!(
        event,
        Some(HealthEvent::Ejected {
            server: server(0),
            until: t1 + Duration::from_secs(20)
        })
    );
    events.clear();
    health.poll(&pools, t1 + Duration::from_secs(20), &mut events);
    assert_eq!(events, [HealthEvent::ProbeDue { server: server(0) }]);
    let event = health.probe_result(&pools, server(0), true, t1);
    assert_eq!(event, Some(HealthEvent::Returned { server: server(0) }));
    assert_eq!(ring_servers(&health), [0, 1]);
    // A result for a server not being probed changes nothing.
    assert_eq!(health.probe_result(&pools, server(1), true, t1), None);
}

#[test]
fn carry_over_keeps_state_of_unchanged_servers() {
    let old_pools = pools(EjectionPolicy::Remap, 3, 1.0, false);
    let mut old = Health::new(&old_pools);
    let now = Instant::now();
    old.record_failure(&old_pools, server(2), now);
    old.record_failure(&old_pools, server(2), now);
    let mut new_pools = old_pools.clone();
    new_pools[0].servers.remove(0);
    new_pools[0].reorder();
    let new = Health::carry_over(&old_pools, &old, &new_pools);
    // Old server 2 is new server 1, still out; the ring reflects it.
    assert!(matches!(new.status(server(1)), Status::Out { .. }));
    assert_eq!(new.status(server(0)), Status::Up);
    assert_eq!(ring_servers(&new), [0]);
    assert!(new.next_deadline().is_some());
}
