//! Which servers are in: failure counting, ejection, return, and the ring each pool
//! routes over right now.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use proxy::{EjectionPolicy, Health, HealthEvent, PoolSpec, ServerRef, ServerSpec};
//! let mut pool = PoolSpec::new("p", vec![
//!     ServerSpec::parse("10.0.0.1:11211:1").unwrap(),
//!     ServerSpec::parse("10.0.0.2:11211:1").unwrap(),
//! ]);
//! pool.ejection.policy = EjectionPolicy::Remap; // auto_eject_hosts: true
//! let pools = [pool];
//! let mut health = Health::new(&pools);
//! let now = Instant::now();
//! let dead = ServerRef { pool: 0, server: 1 };
//! assert_eq!(health.record_failure(&pools, dead, now), None); // 1 of 2
//! let event = health.record_failure(&pools, dead, now);
//! assert!(matches!(event, Some(HealthEvent::Ejected { .. })));
//! assert!(health.ring(0).points().iter().all(|p| p.server == 0));
//! health.poll(&pools, now + Duration::from_secs(30), &mut Vec::new());
//! assert!(health.ring(0).points().iter().any(|p| p.server == 1));
//! ```
//!
//! Time is passed in, never read, so every transition is a pure function of the calls
//! made: the IO layer reports failures and successes, calls [`Health::poll`] when
//! [`Health::next_deadline`] has passed, and routes with the state as it stands.
//!
//! Not internally synchronized: keep one per worker (as twemproxy keeps one per process)
//! or put it behind whatever lock or swap the runtime prefers.

use std::time::Instant;

use crate::distribution::Ring;
use crate::pool::{EjectionPolicy, PoolSpec, ServerRef};

/// Whether a server takes requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Up,
    /// Ejected (remap) or marked down (fail-fast) until this instant.
    Out {
        until: Instant,
    },
    /// Its time out has passed; it returns when a probe succeeds.
    Probing,
}

/// A change the IO layer may want to log, count or act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthEvent {
    /// Out until `until` (twemproxy's `server_ejects`).
    Ejected { server: ServerRef, until: Instant },
    /// The failure limit was reached, but the pool already has its maximum share out.
    EjectionCapped { server: ServerRef },
    /// Send it a probe and report the result with [`Health::probe_result`].
    ProbeDue { server: ServerRef },
    /// Back in.
    Returned { server: ServerRef },
}

#[derive(Clone, Debug)]
struct ServerState {
    failures: u32,
    status: Status,
    failed_probes: u32,
}

#[derive(Clone, Debug)]
struct PoolHealth {
    servers: Vec<ServerState>,
    ring: Ring,
}

/// Health of every server of every pool.
#[derive(Clone, Debug)]
pub struct Health {
    pools: Vec<PoolHealth>,
    next_deadline: Option<Instant>,
}

/// A failed probe doubles the wait, up to this many times the retry timeout.
const PROBE_BACKOFF_LIMIT: u32 = 8;

impl Health {
    /// Every server up.
    pub fn new(pools: &[PoolSpec]) -> Health {
        let pools = pools
            .iter()
            .map(|pool| PoolHealth {
                servers: vec![
                    ServerState {
                        failures: 0,
                        status: Status::Up,
                        failed_probes: 0,
                    };
                    pool.servers.len()
                ],
                ring: pool.ring(|_| true),
            })
            .collect();
        Health {
            pools,
            next_deadline: None,
        }
    }

    /// Health for a new configuration, keeping the state of every server that is in a
    /// pool of the same name with the same label and name before and after (a reload),
    /// so a dead server does not come back just because the file changed.
    pub fn carry_over(old_pools: &[PoolSpec], old: &Health, new_pools: &[PoolSpec]) -> Health {
        let mut health = Health::new(new_pools);
        for (p, pool) in new_pools.iter().enumerate() {
            let Some(op) = old_pools.iter().position(|o| o.name == pool.name) else {
                continue;
            };
            for (s, server) in pool.servers.iter().enumerate() {
                let same = old_pools[op]
                    .servers
                    .iter()
                    .position(|o| o.label == server.label && o.name == server.name);
                if let Some(os) = same {
                    health.pools[p].servers[s] = old.pools[op].servers[os].clone();
                }
            }
            health.rebuild(new_pools, p);
        }
        health.next_deadline = health.earliest_deadline();
        health
    }

    /// The ring pool `pool` routes over now.
    pub fn ring(&self, pool: usize) -> &Ring {
        &self.pools[pool].ring
    }

    pub fn status(&self, server: ServerRef) -> Status {
        self.state(server).status
    }

    /// Consecutive failures counted since the last success or ejection.
    pub fn failures(&self, server: ServerRef) -> u32 {
        self.state(server).failures
    }

    /// Servers of `pool` that are out or being probed.
    pub fn out(&self, pool: usize) -> usize {
        self.pools[pool]
            .servers
            .iter()
            .filter(|s| s.status != Status::Up)
            .count()
    }

    /// When [`Health::poll`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_deadline
    }

    /// A request to `server` succeeded: its failure count starts again.
    pub fn record_success(&mut self, server: ServerRef) {
        self.state_mut(server).failures = 0;
    }

    /// A request to `server` failed (connect error, timeout, closed connection).
    pub fn record_failure(
        &mut self,
        pools: &[PoolSpec],
        server: ServerRef,
        now: Instant,
    ) -> Option<HealthEvent> {
        let pool = &pools[server.pool as usize];
        let ejection = &pool.ejection;
        if ejection.policy == EjectionPolicy::Never {
            return None;
        }
        let state = self.state_mut(server);
        if state.status != Status::Up {
            return None;
        }
        state.failures = state.failures.saturating_add(1);
        if state.failures < ejection.failure_limit {
            return None;
        }
        if self.out(server.pool as usize) >= ejection.max_ejected(pool.servers.len()) {
            return Some(HealthEvent::EjectionCapped { server });
        }
        let until = now + ejection.retry_timeout;
        let state = self.state_mut(server);
        state.failures = 0;
        state.status = Status::Out { until };
        self.changed(pools, server.pool as usize);
        Some(HealthEvent::Ejected { server, until })
    }

    /// Moves servers whose time out has passed: back in, or to probing when the pool
    /// probes. Cheap when nothing is due.
    pub fn poll(&mut self, pools: &[PoolSpec], now: Instant, events: &mut Vec<HealthEvent>) {
        match self.next_deadline {
            Some(deadline) if deadline <= now => {}
            _ => return,
        }
        for (p, pool) in pools.iter().enumerate() {
            let mut rebuild = false;
            for (s, state) in self.pools[p].servers.iter_mut().enumerate() {
                let Status::Out { until } = state.status else {
                    continue;
                };
                if now < until {
                    continue;
                }
                let server = ServerRef {
                    pool: p as u32,
                    server: s as u32,
                };
                if pool.ejection.probe {
                    state.status = Status::Probing;
                    events.push(HealthEvent::ProbeDue { server });
                } else {
                    state.status = Status::Up;
                    rebuild = true;
                    events.push(HealthEvent::Returned { server });
                }
            }
            if rebuild {
                self.rebuild(pools, p);
            }
        }
        self.next_deadline = self.earliest_deadline();
    }

    /// The outcome of a probe asked for by [`HealthEvent::ProbeDue`].
    pub fn probe_result(
        &mut self,
        pools: &[PoolSpec],
        server: ServerRef,
        ok: bool,
        now: Instant,
    ) -> Option<HealthEvent> {
        let retry = pools[server.pool as usize].ejection.retry_timeout;
        let state = self.state_mut(server);
        if state.status != Status::Probing {
            return None;
        }
        if ok {
            state.status = Status::Up;
            state.failures = 0;
            state.failed_probes = 0;
            self.changed(pools, server.pool as usize);
            return Some(HealthEvent::Returned { server });
        }
        state.failed_probes = state.failed_probes.saturating_add(1);
        let factor = (1u32 << state.failed_probes.min(3)).min(PROBE_BACKOFF_LIMIT);
        let until = now + retry.saturating_mul(factor);
        state.status = Status::Out { until };
        self.next_deadline = self.earliest_deadline();
        Some(HealthEvent::Ejected { server, until })
    }

    fn changed(&mut self, pools: &[PoolSpec], pool: usize) {
        self.rebuild(pools, pool);
        self.next_deadline = self.earliest_deadline();
    }

    /// Remap pools route over the servers that are up; the others keep every server on
    /// the ring (fail-fast refuses a down server's keys instead of moving them).
    fn rebuild(&mut self, pools: &[PoolSpec], pool: usize) {
        let spec = &pools[pool];
        let states = &self.pools[pool].servers;
        self.pools[pool].ring = if spec.ejection.policy == EjectionPolicy::Remap {
            spec.ring(|s| states[s].status == Status::Up)
        } else {
            spec.ring(|_| true)
        };
    }

    fn earliest_deadline(&self) -> Option<Instant> {
        self.pools
            .iter()
            .flat_map(|p| p.servers.iter())
            .filter_map(|s| match s.status {
                Status::Out { until } => Some(until),
                _ => None,
            })
            .min()
    }

    fn state(&self, server: ServerRef) -> &ServerState {
        &self.pools[server.pool as usize].servers[server.server as usize]
    }

    fn state_mut(&mut self, server: ServerRef) -> &mut ServerState {
        &mut self.pools[server.pool as usize].servers[server.server as usize]
    }
}

#[cfg(test)]
mod tests;
