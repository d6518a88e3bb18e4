//! `watch [streams]`: turns a connection into a log watcher, as memcached 1.6.18 does.
//!
//! ```text
//! watch fetchers mutations
//! OK
//! ts=1796546925.500964 gid=60 type=item_get key=foo status=not_found clsid=0 cfd=26 size=0
//! ts=1796546925.500966 gid=61 type=item_store key=foo status=stored cmd=set ttl=0 clsid=1 cfd=26 size=3
//! ```
//!
//! Streams: `fetchers` (the default), `mutations`, `evictions`, `connevents`; memcached's
//! `rawcmds`, `sysevents`, `proxyreqs`, `proxyevents` and `proxyuser` are accepted and
//! log nothing here (Corvid has none of those events). Any other word: `ERROR`. Under
//! `-W`: `CLIENT_ERROR watch commands not allowed`; a 21st watcher: `WATCHER_TOO_MANY
//! log watcher limit reached`. Like memcached 1.6.18 (later versions refuse it), `watch`
//! may end a batch of pipelined requests; requests pipelined after it are dropped.
//!
//! A watching session reads and drops whatever its client sends (memcached reads it only
//! to see the client leave), is never closed as idle, and wakes on a deadline to pump
//! the log ([`super::log`]) and send what its outbox holds.

use super::log::{streams, Log, Watcher};
use super::value::Pinned;
use crate::runtime::{Reply, Verdict};
use protocol::text::Keys;
use std::sync::Arc;
use std::time::Duration;

/// Output a watcher queues at most before it waits for its client to read: bounds the
/// send queue of a watcher that stops reading (the rest waits in, or is skipped from,
/// its outbox).
const QUEUED_MAX: usize = 64 * 1024;
/// Pump period while lines flow (memcached's logger thread: 1 ms at its busiest).
pub(crate) const FIRST_WAKE: Duration = FAST;
const FAST: Duration = Duration::from_millis(1);
/// Pump period once idle, reached by doubling (memcached backs off to 1 s; 50 ms keeps
/// a quiet watcher's first line prompt at the cost of 20 wake-ups a second).
const SLOW: Duration = Duration::from_millis(50);

/// A watching connection's state.
pub(crate) struct Watching {
    watcher: Arc<Watcher>,
    period: Duration,
}

/// memcached's reply when the log has no room for another watcher.
pub(crate) const TOO_MANY: &[u8] = b"WATCHER_TOO_MANY log watcher limit reached\r\n";

/// The streams `args` ask for; None for a word memcached does not know.
pub(crate) fn parse(args: Keys<'_>) -> Option<u8> {
    let mut wanted = 0;
    for arg in args {
        wanted |= match arg {
            b"fetchers" => streams::FETCHERS,
            b"mutations" => streams::MUTATIONS,
            b"evictions" => streams::EVICTIONS,
            b"connevents" => streams::CONNEVENTS,
            b"rawcmds" | b"sysevents" | b"proxyreqs" | b"proxyevents" | b"proxyuser" => {
                streams::SILENT
            }
            _ => return None,
        };
    }
    Some(if wanted == 0 {
        streams::FETCHERS
    } else {
        wanted
    })
}

impl Watching {
    /// A watching session's state; pump first after [`FIRST_WAKE`].
    pub(crate) fn new(watcher: Arc<Watcher>) -> Watching {
        Watching {
            watcher,
            period: FAST,
        }
    }

    /// Input from a watching client: dropped (memcached reads it only to notice a
    /// hang-up).
    pub(crate) fn step(input: &[u8]) -> Verdict {
        match input.len() {
            0 => Verdict::NeedBytes(1),
            n => Verdict::Consumed(n),
        }
    }

    /// The deadline passed: pump the log, send what waits. Returns when to come back.
    pub(crate) fn wake(&mut self, log: &Log, reply: &mut Reply<'_, Pinned>) -> Duration {
        let moved = log.pump();
        let mut sent = 0;
        while reply.pending() < QUEUED_MAX {
            let room = QUEUED_MAX - reply.pending();
            let n = self
                .watcher
                .take(room.min(16 * 1024), |bytes| reply.line(bytes));
            if n == 0 {
                break;
            }
            sent += n;
        }
        self.period = if moved > 0 || sent > 0 {
            FAST
        } else {
            (self.period * 2).min(SLOW)
        };
        self.period
    }

    /// The connection closed: stop watching.
    pub(crate) fn stop(self, log: &Log) {
        log.remove(&self.watcher);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_as_memcached_names_them() {
        assert_eq!(parse(Keys::new(b"")), Some(streams::FETCHERS));
        assert_eq!(parse(Keys::new(b"mutations")), Some(streams::MUTATIONS));
        assert_eq!(
            parse(Keys::new(b"fetchers evictions connevents")),
            Some(streams::FETCHERS | streams::EVICTIONS | streams::CONNEVENTS)
        );
        assert_eq!(parse(Keys::new(b"sysevents")), Some(streams::SILENT));
        assert_eq!(parse(Keys::new(b"fetchers bogus")), None);
        assert_eq!(parse(Keys::new(b"noreply")), None);
    }
}
