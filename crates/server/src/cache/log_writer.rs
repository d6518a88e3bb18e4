//! A worker's end of the log ([`super::log`]): formats a line into a reused buffer and
//! pushes it into the worker's ring, and the logging calls the command code makes.
//!
//! Each call site checks [`Log::wants`](super::log::Log::wants) first (inlined: one
//! load), so nothing below runs unless someone watches that stream:
//!
//! ```text
//! if cache.log.wants(streams::FETCHERS) { log_writer::fetch(key, cx) }
//! ```

use super::log::{build, push, streams, Log};
use super::log_line::{self, Fetch, Peer, Status, Store};
use super::state::Cx;
use crate::runtime::CloseReason;
use rtrb::Producer;
use std::sync::Arc;
use store::{StoreError, StoreMode, StoreOutcome};

/// A worker's log state: the cache's `Service::Local`.
pub struct LogWriter {
    log: Arc<Log>,
    ring: Option<Producer<u8>>,
    /// The record being built (header, then the line); reused, so sized once.
    record: Vec<u8>,
    /// The descriptor of the connection being served, for `cfd=`; set by the handler
    /// before each call, only while someone watches.
    pub(crate) cfd: i64,
}

impl LogWriter {
    /// Worker `worker`'s writer.
    pub(crate) fn new(log: Arc<Log>, worker: usize) -> LogWriter {
        let ring = log.take_producer(worker);
        LogWriter {
            log,
            ring,
            record: Vec::with_capacity(1024),
            cfd: 0,
        }
    }

    /// Logs one line of `stream`: the stamp, then what `body` writes.
    pub(crate) fn write(&mut self, stream: u8, body: impl FnOnce(&mut Vec<u8>)) {
        let gid = self.log.next_gid();
        build(&mut self.record, stream, gid, body);
        push(self.ring.as_mut(), &self.record, &self.log.counters);
    }
}

/// memcached's internal fetch of `key` (`type=item_get`), which every command that
/// reads, changes or replaces an item makes first. Call only when
/// [`streams::FETCHERS`] is wanted.
#[cold]
pub(crate) fn fetch(key: &[u8], cx: &mut Cx<'_>) {
    let found = cx
        .service()
        .store
        .peek(key)
        .map_or(Fetch::NotFound, |item| Fetch::Found(item.value_len()));
    fetched(key, found, cx);
}

/// Logs a fetch whose outcome the caller already knows.
#[cold]
pub(crate) fn fetched(key: &[u8], found: Fetch, cx: &mut Cx<'_>) {
    let w = cx.local();
    let cfd = w.cfd;
    w.write(streams::FETCHERS, |out| {
        log_line::item_get(out, key, found, cfd)
    });
}

/// A copy of a stored key on the stack: the log line after a commit needs the key, and
/// the commit consumes the reservation that holds it (keys are at most 250 bytes).
pub(crate) struct KeyCopy {
    bytes: [u8; 256],
    len: usize,
}

impl KeyCopy {
    pub(crate) fn of(key: &[u8]) -> KeyCopy {
        let mut bytes = [0u8; 256];
        let len = key.len().min(bytes.len());
        bytes[..len].copy_from_slice(&key[..len]);
        KeyCopy { bytes, len }
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Before a store: memcached fetches the key first (`fetchers`). Call only when
/// `fetchers` or `mutations` is wanted.
#[cold]
pub(crate) fn before_store(key: &[u8], cx: &mut Cx<'_>) {
    if cx.service().log.wants(streams::FETCHERS) {
        fetch(key, cx);
    }
}

/// After a store (`mutations`). Call only when `fetchers` or `mutations` is wanted.
#[cold]
pub(crate) fn after_store(a: &Attempt<'_>, status: Status, cx: &mut Cx<'_>) {
    if cx.service().log.wants(streams::MUTATIONS) {
        stored(a, status, cx);
    }
}

/// How a store ended, as memcached logs it.
pub(crate) fn status_of<E: std::borrow::Borrow<StoreError>>(
    result: &Result<StoreOutcome, E>,
) -> Status {
    match result {
        Ok(StoreOutcome::Stored { .. }) => Status::Stored,
        Ok(StoreOutcome::NotStored | StoreOutcome::OnDisk(_)) => Status::NotStored,
        Ok(StoreOutcome::Exists) => Status::Exists,
        Ok(StoreOutcome::NotFound) => Status::NotFound,
        Err(e) => match e.borrow() {
            StoreError::OutOfMemory => Status::NoMemory,
            _ => Status::TooLarge,
        },
    }
}

/// What a store that was attempted says in `type=item_store`.
pub(crate) struct Attempt<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) mode: StoreMode,
    /// Its expiry as the client gave it (seconds, or a Unix time past 30 days).
    pub(crate) exptime: i64,
    pub(crate) size: usize,
}

/// Logs a store (`type=item_store`); call only when [`streams::MUTATIONS`] is wanted.
/// A stored item's TTL and size are read back from the store (an append's are the
/// whole item's, as memcached reports them); a refused one's are the request's.
#[cold]
pub(crate) fn stored(a: &Attempt<'_>, status: Status, cx: &mut Cx<'_>) {
    let store = cx.service().store;
    let now = store.now();
    let (ttl, size) = match status {
        Status::Stored => match store.peek(a.key) {
            Some(item) => (
                item.expires_at().map_or(0, |at| at.saturating_sub(now)),
                item.value_len(),
            ),
            None => (requested_ttl(a.exptime, now), a.size),
        },
        Status::TooLarge | Status::NoMemory => (0, 0),
        _ => (requested_ttl(a.exptime, now), a.size),
    };
    let command: &'static [u8] = match a.mode {
        StoreMode::Set => b"set",
        StoreMode::Add => b"add",
        StoreMode::Replace => b"replace",
        StoreMode::Append => b"append",
        StoreMode::Prepend => b"prepend",
        StoreMode::Cas(_) => b"cas",
    };
    let w = cx.local();
    let line = Store {
        key: a.key,
        status,
        command,
        ttl: u32::try_from(ttl).unwrap_or(u32::MAX),
        size,
        cfd: w.cfd,
    };
    w.write(streams::MUTATIONS, |out| log_line::item_store(out, &line));
}

/// The seconds an expiry given by a client leaves (memcached: relative up to 30 days,
/// a Unix time beyond; 0 never expires).
fn requested_ttl(exptime: i64, now: u64) -> u64 {
    const MONTH: i64 = 60 * 60 * 24 * 30;
    match exptime {
        e if e <= 0 => 0,
        e if e > MONTH => (e as u64).saturating_sub(now),
        e => e as u64,
    }
}

/// Logs a connection opened (`closed: None`) or closed; call only when
/// [`streams::CONNEVENTS`] is wanted.
#[cold]
pub(crate) fn connection(writer: &mut LogWriter, peer: &Peer, closed: Option<CloseReason>) {
    writer.write(streams::CONNEVENTS, |out| {
        log_line::conn_event(out, peer, closed)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn requested_ttls_follow_memcached_s_expiry_rules() {
        assert_eq!(requested_ttl(0, 1_800_000_000), 0);
        assert_eq!(requested_ttl(-1, 1_800_000_000), 0);
        assert_eq!(requested_ttl(100, 1_800_000_000), 100);
        assert_eq!(requested_ttl(1_800_000_050, 1_800_000_000), 50);
    }

    #[test]
    fn a_full_ring_drops_and_counts() {
        let log = Arc::new(Log::new(1));
        let mut w = LogWriter::new(log.clone(), 0);
        let big = [b'k'; 200];
        for _ in 0..1000 {
            w.write(streams::FETCHERS, |out| out.extend_from_slice(&big));
        }
        let written = log.counters.worker_written.load(Relaxed);
        let dropped = log.counters.worker_dropped.load(Relaxed);
        assert_eq!(written + dropped, 1000);
        assert!(dropped > 0 && written > 100);
        // A writer without a ring (more workers than the log was made for) drops all.
        let mut extra = LogWriter::new(log.clone(), 5);
        extra.write(streams::FETCHERS, |out| out.push(b'x'));
        assert_eq!(log.counters.worker_dropped.load(Relaxed), dropped + 1);
    }
}
