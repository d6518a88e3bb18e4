//! The cache as a runtime service: what every cache handler shares, and how the runtime
//! gets handlers and UDP ports from it.

use super::command_kind;
use super::log::{streams, Log};
use super::log_line::Peer;
use super::log_writer::{self, LogWriter};
use super::state::CacheHandler;
use super::stats::{CacheStats, CommandCounters};
use super::tier::{Knobs, Tier};
use super::udp::UdpPort;
use crate::runtime::socket_name;
use crate::runtime::{Port, Service};
use crate::ServerConfig;
use channel::Stream;
use std::net::UdpSocket;
use std::sync::Arc;
use store::Store;

/// The store, the settings and the counters every cache handler reads.
pub struct Cache {
    pub(crate) store: &'static Store,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) stats: CacheStats,
    /// The disk tier, with `-o ext_path`.
    pub(crate) tier: Option<Tier>,
    /// The `extstore` tunables (there with or without a tier, as in memcached).
    pub(crate) knobs: Knobs,
    /// Bound UDP sockets; every worker serves a duplicate of each.
    udp: Vec<UdpSocket>,
    /// Each worker's duplicate of each UDP socket: its descriptor and its address in
    /// memcached's spelling, for `stats conns` (memcached lists one per worker too).
    pub(crate) udp_conns: std::sync::Mutex<Vec<(i64, String)>>,
    /// What `watch` streams.
    pub(crate) log: Arc<Log>,
}

impl Cache {
    /// The cache over `store`, serving the bound `udp` sockets besides the runtime's
    /// streams.
    pub fn new(store: &'static Store, config: Arc<ServerConfig>, udp: Vec<UdpSocket>) -> Cache {
        let log = Arc::new(Log::new(config.threads.max(1)));
        store.set_eviction_watch(log.clone());
        Cache {
            store,
            stats: CacheStats::new(config.threads.max(1)),
            log,
            config,
            tier: None,
            knobs: Knobs::new(),
            udp,
            udp_conns: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// With the disk tier `tier` (opened over the same store).
    pub fn with_tier(mut self, tier: Tier) -> Cache {
        self.knobs = Knobs::of(&tier);
        self.tier = Some(tier);
        self
    }

    /// The disk tier, if there is one.
    pub fn tier(&self) -> Option<&Tier> {
        self.tier.as_ref()
    }

    /// Worker `worker`'s command counters.
    #[inline]
    pub(crate) fn counters(&self, worker: usize) -> &CommandCounters {
        &self.stats.workers[worker]
    }
}

impl Service for Cache {
    type Handler = CacheHandler;
    /// The worker's end of the log.
    type Local = LogWriter;

    fn local(&self, worker: usize) -> LogWriter {
        LogWriter::new(self.log.clone(), worker)
    }

    fn accept(&self, local: &mut LogWriter, stream: &Stream) -> CacheHandler {
        let login = self.config.auth_file.is_some() || self.config.sasl.is_some();
        let peer = Peer {
            addr: stream.peer_addr(),
            transport: match stream {
                Stream::Unix(_) => b"local",
                _ => b"tcp",
            },
            cfd: i64::from(stream.fd()),
        };
        if self.log.wants(streams::CONNEVENTS) {
            log_writer::connection(local, &peer, None);
        }
        CacheHandler::new(self.config.protocol, login, peer)
    }

    /// The disk reads the turn's handlers queued get their IO thread now, one wake-up
    /// for all of them (`Tier::read` queues without waking).
    #[inline]
    fn turn_end(&self, _worker: usize) {
        if let Some(tier) = &self.tier {
            tier.disk.wake_readers();
        }
    }

    #[inline]
    fn now(&self) -> u64 {
        self.store.now()
    }

    fn ports(&self, _worker: usize) -> std::io::Result<Vec<Box<dyn Port<CacheHandler>>>> {
        let mut ports: Vec<Box<dyn Port<CacheHandler>>> = Vec::new();
        for socket in &self.udp {
            let clone = socket.try_clone()?;
            if let Ok(addr) = clone.local_addr() {
                use std::os::fd::AsRawFd;
                let conn = (i64::from(clone.as_raw_fd()), socket_name("udp", addr));
                self.udp_conns
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(conn);
            }
            ports.push(Box::new(UdpPort::new(clone)));
        }
        Ok(ports)
    }

    fn over_limit(&self) -> &'static [u8] {
        protocol::text::ERROR_TOO_MANY_CONNECTIONS
    }

    /// SIGHUP: the authfile and the SASL password file, each kept as it was if it no
    /// longer loads.
    fn reload(&self) {
        for users in [&self.config.auth_file, &self.config.sasl]
            .into_iter()
            .flatten()
        {
            if let Err(e) = users.reload() {
                eprintln!("SIGHUP: {e}; the users loaded before stay");
            }
        }
    }

    fn commands(&self) -> &'static [&'static str] {
        command_kind::NAMES
    }
}
