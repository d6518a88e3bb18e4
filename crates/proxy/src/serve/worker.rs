//! The proxy's state on one worker (the runtime's `Service::Local`): the configuration it
//! serves, its view of the backends' health, its connections to them ([`Link`]s) and the
//! buffers its sessions pass around. Client and backend sessions of the worker share it;
//! nothing here is shared with other workers, so nothing is locked.
//!
//! Health is per worker, as twemproxy keeps it per process: each worker counts its own
//! failures, ejects on its own, and probes on its own.

use std::sync::Arc;
use std::time::Instant;

use slab::Slab;

use server::runtime::{ConnId, Outbox};

use super::chunk::ChunkPool;
use super::link::{Link, LinkState, Pending, PAUSED_SPARE};
use super::loaded::{Current, Loaded};
use super::message::Message;
use super::stats::{BackendStats, PoolStats, ProxyStats};
use crate::health::{Health, HealthEvent};
use crate::pool::ServerRef;

/// A backend's connections on this worker.
#[derive(Default)]
pub struct BackendLinks {
    /// Keys into [`WorkerState::links`].
    pub links: Vec<usize>,
}

/// Which connection a request should go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// This one.
    Link(usize),
    /// Open another (the backend has fewer than `server_connections`).
    Open,
    /// Every connection is full or busy streaming: wait for room in this one.
    Wait(usize),
}

/// The proxy's state on one worker.
pub struct WorkerState {
    /// The worker's number.
    pub index: usize,
    /// The configuration this worker serves (it moves to a new one between requests).
    pub loaded: Arc<Loaded>,
    pub health: Health,
    /// By the backend's flat index in `loaded`.
    pub backends: Vec<BackendLinks>,
    pub links: Slab<Link>,
    pub pool: ChunkPool,
    pub stats: Arc<ProxyStats>,
    /// By the backend's flat index in `loaded`.
    pub backend_stats: Vec<Arc<BackendStats>>,
    /// By pool index in `loaded`.
    pub pool_stats: Vec<Arc<PoolStats>>,
    /// Health events of the last poll (kept to reuse its storage).
    pub events: Vec<HealthEvent>,
    /// Servers whose probe is due, for the next client turn to open.
    pub probes_due: Vec<ServerRef>,
    /// Links a reload retired, to kick so that idle ones close.
    pub retired: Vec<ConnId>,
    /// The time read when the request being handled was read: the clock is read once
    /// per request, for the health poll, the request's timeout and its latency.
    pub now: Instant,
    rng: u64,
}

impl WorkerState {
    pub fn new(index: usize, loaded: Arc<Loaded>, stats: Arc<ProxyStats>) -> WorkerState {
        let health = Health::new(&loaded.config.pools);
        let mut state = WorkerState {
            index,
            health,
            backends: Vec::new(),
            links: Slab::new(),
            pool: ChunkPool::new(),
            backend_stats: Vec::new(),
            pool_stats: Vec::new(),
            stats,
            events: Vec::new(),
            probes_due: Vec::new(),
            retired: Vec::new(),
            now: Instant::now(),
            rng: 0x9e37_79b9_7f4a_7c15 ^ (index as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9),
            loaded: loaded.clone(),
        };
        state.adopt(loaded, None);
        state
    }

    /// Takes the current configuration if it changed: connections and health of
    /// backends present before and after are kept; the others' connections retire
    /// (they finish what is in flight, then close).
    #[inline]
    pub fn refresh(&mut self, current: &Current) {
        if current.generation() != self.loaded.generation {
            self.reload(current.get());
        }
    }

    #[cold]
    fn reload(&mut self, next: Arc<Loaded>) {
        let old = std::mem::replace(&mut self.loaded, next.clone());
        let health = Health::carry_over(&old.config.pools, &self.health, &next.config.pools);
        self.health = health;
        let old_links = std::mem::take(&mut self.backends);
        self.adopt(next, Some((&old, old_links)));
    }

    /// Builds the per-backend tables for `loaded`, moving the links of backends that
    /// kept their name and address.
    fn adopt(&mut self, loaded: Arc<Loaded>, old: Option<(&Loaded, Vec<BackendLinks>)>) {
        self.backends = (0..loaded.backends.len())
            .map(|_| BackendLinks::default())
            .collect();
        self.backend_stats = loaded
            .backends
            .iter()
            .map(|b| self.stats.backend(&b.key))
            .collect();
        self.pool_stats = loaded
            .config
            .pools
            .iter()
            .map(|p| self.stats.pool(&p.name))
            .collect();
        let Some((old, old_links)) = old else {
            return;
        };
        for (o, links) in old_links.into_iter().enumerate() {
            let was = &old.backends[o];
            let kept = loaded
                .backends
                .iter()
                .position(|b| b.key == was.key && b.addr == was.addr);
            for key in links.links {
                match kept {
                    Some(n) => {
                        self.links[key].backend = n;
                        self.backends[n].links.push(key);
                    }
                    None => {
                        // Finishes what is in flight, then closes; its backend index now
                        // points nowhere useful, so it must never be picked again.
                        let link = &mut self.links[key];
                        link.state = LinkState::Retiring;
                        link.backend = usize::MAX;
                        self.retired.push(link.id);
                    }
                }
            }
        }
    }

    /// A random number (xorshift), for the `random` distribution.
    #[inline]
    pub fn entropy(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// The connection a request from `client` to backend `flat` should use: the least
    /// loaded that takes requests, or a new one while there are fewer than
    /// `server_connections`. A connection paused by a client that does not read counts
    /// for none, so that others' requests go around it (up to [`PAUSED_SPARE`] more).
    pub fn pick(&self, flat: usize, client: ConnId) -> Pick {
        let limit = self.loaded.config.pools[self.loaded.backends[flat].server.pool as usize]
            .server_connections as usize;
        let mut best: Option<(usize, usize)> = None;
        let mut first = None;
        // Spare and retiring connections neither take requests nor count toward
        // `server_connections`.
        let mut counted = 0;
        let (mut paused, mut first_paused) = (0, None);
        for &key in &self.backends[flat].links {
            let link = &self.links[key];
            if link.spare || link.state == LinkState::Retiring {
                continue;
            }
            if link.paused_by.is_some() {
                paused += 1;
                first_paused.get_or_insert(key);
                continue;
            }
            counted += 1;
            first.get_or_insert(key);
            if link.open_to(client) && best.is_none_or(|(_, load)| link.load() < load) {
                best = Some((key, link.load()));
            }
        }
        let may_open = counted < limit && counted + paused < limit + PAUSED_SPARE;
        // Waiting on a paused connection is the last resort: its room comes back only
        // when the slow client reads.
        match (best, first.or(first_paused)) {
            (Some((key, load)), _) if load == 0 || !may_open => Pick::Link(key),
            _ if may_open => Pick::Open,
            (Some((key, _)), _) => Pick::Link(key),
            (None, Some(key)) => Pick::Wait(key),
            (None, None) => Pick::Open,
        }
    }

    /// Whether backend `flat` has more connections taking requests than its pool's
    /// `server_connections` (one opened around a paused one, now that it is not).
    pub fn surplus(&self, flat: usize) -> bool {
        let Some(backend) = self.loaded.backends.get(flat) else {
            return false;
        };
        let limit = self.loaded.config.pools[backend.server.pool as usize].server_connections;
        let taking = self.backends[flat]
            .links
            .iter()
            .filter(|&&key| {
                let link = &self.links[key];
                !link.spare && link.state != LinkState::Retiring && link.paused_by.is_none()
            })
            .count();
        taking > limit as usize
    }

    /// Appends a request to link `key` and records who waits for its reply. `parts`
    /// are copied (the one copy a request's bytes make in user space).
    #[inline]
    pub fn send(
        &mut self,
        key: usize,
        parts: &[&[u8]],
        pending: Pending,
        out: &mut Outbox<'_, Message>,
    ) {
        let link = &mut self.links[key];
        for part in parts {
            link.outgoing.extend_from_slice(part);
        }
        link.inflight.push_back(pending);
        if !link.kicked {
            link.kicked = true;
            out.complete(link.id, Message::Kick);
        }
        {
            let w = link.stats.worker(self.index);
            w.add(|c| &c.requests, 1);
            w.add(|c| &c.request_bytes, u64::from(pending.bytes));
            w.add(|c| &c.in_flight, 1);
            w.add(|c| &c.in_flight_bytes, u64::from(pending.bytes));
        }
    }

    /// Appends a request that `write` composes into link `key`'s outgoing buffer.
    #[inline]
    pub fn send_with(
        &mut self,
        key: usize,
        write: impl FnOnce(&mut Vec<u8>),
        mut pending: Pending,
        out: &mut Outbox<'_, Message>,
    ) {
        let link = &mut self.links[key];
        let before = link.outgoing.len();
        write(&mut link.outgoing);
        pending.bytes = (link.outgoing.len() - before) as u32;
        self.send(key, &[], pending, out);
    }

    /// Appends more bytes of a request already recorded (a value streamed in pieces).
    #[inline]
    pub fn send_more(&mut self, key: usize, bytes: &[u8], out: &mut Outbox<'_, Message>) {
        let link = &mut self.links[key];
        link.outgoing.extend_from_slice(bytes);
        if !link.kicked {
            link.kicked = true;
            out.complete(link.id, Message::Kick);
        }
        link.stats
            .worker(self.index)
            .add(|c| &c.request_bytes, bytes.len() as u64);
    }

    /// The backend's server, if link `key` still serves one of this configuration.
    pub fn link_server(&self, key: usize) -> Option<ServerRef> {
        let backend = self.links.get(key)?.backend;
        self.loaded.backends.get(backend).map(|b| b.server)
    }

    /// A failure talking to `server`: counts toward its ejection.
    pub fn failed(&mut self, server: ServerRef, now: Instant) {
        let event = self
            .health
            .record_failure(&self.loaded.config.pools, server, now);
        if let Some(HealthEvent::Ejected { server, .. }) = event {
            self.ejected(server);
        }
    }

    fn ejected(&mut self, server: ServerRef) {
        let flat = self.loaded.flat(server);
        let w = self.backend_stats[flat].worker(self.index);
        w.add(|c| &c.ejections, 1);
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        w.set(|c| &c.ejected_at, unix);
        self.pool_stats[server.pool as usize]
            .worker(self.index)
            .add(|c| &c.server_ejects, 1);
    }

    /// Servers whose ejection ran out return (or get probed): called once per request,
    /// it costs a comparison unless a deadline has passed.
    #[inline]
    pub fn tick(&mut self, now: Instant) {
        if self.health.next_deadline().is_some_and(|d| d <= now) {
            self.poll_health(now);
        }
    }

    #[cold]
    fn poll_health(&mut self, now: Instant) {
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        self.health
            .poll(&self.loaded.config.pools, now, &mut events);
        for event in &events {
            if let HealthEvent::ProbeDue { server } = *event {
                self.probes_due.push(server);
            }
        }
        self.events = events;
    }

    /// The result of a probe of `server`.
    pub fn probed(&mut self, server: ServerRef, ok: bool, now: Instant) {
        let event = self
            .health
            .probe_result(&self.loaded.config.pools, server, ok, now);
        if let Some(HealthEvent::Ejected { server, .. }) = event {
            self.ejected(server);
        }
    }
}
