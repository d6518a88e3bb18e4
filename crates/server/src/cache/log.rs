//! memcached's log streams, for `watch`: what workers log, and how it reaches watchers
//! at bounded cost.
//!
//! ```text
//!  worker i ── LogWriter ──> ring i (64 KiB, wait-free, one writer, one reader)
//!                                │  pumped by whichever watcher's session wakes first
//!                                v
//!                    each watcher's outbox (256 KiB) ──> its session's send queue
//! ```
//!
//! - **Nobody watching costs one load.** Every place that could log first reads
//!   [`Log::wants`] (one relaxed atomic byte, the union of the watchers' streams); only
//!   when a watcher asked for that stream is anything looked up or formatted.
//! - **A worker never waits and never allocates per line.** It formats the line into
//!   its own reused buffer and pushes it into its ring (`rtrb`: a wait-free
//!   single-producer single-consumer ring, sized once). A full ring drops the line and
//!   counts it (`log_worker_dropped`); `log_worker_written` counts the others.
//! - **A slow watcher loses lines, not time.** Lines go from the rings to each watcher's
//!   outbox (sized once); one that has no room for a line skips it and counts it
//!   (`log_watcher_skipped`); its next line that fits is preceded by `skipped=<n>`, as
//!   memcached writes. A watcher's session takes from its outbox only while its own
//!   unsent output is small, so a watcher that stops reading holds one outbox and a
//!   bounded send queue, however much is logged.
//! - **No thread of its own.** memcached's logger thread polls the workers' buffers; here
//!   each watcher's session wakes on a deadline (1 ms while lines flow, backing off to
//!   50 ms when idle) and pumps every ring into every outbox (`try_lock`: one pumps at a
//!   time, the others only drain their outbox), then drains its own outbox.
//!
//! Lines carry memcached's global id (`gid`), taken when logged; a watcher gets the lines
//! logged after it started, in each worker's order (memcached's order too: lines of
//! different workers may interleave out of `gid` order).

use super::log_line;
use parking_lot::Mutex;
use rtrb::{Consumer, Producer, RingBuffer};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The streams a watcher can ask for (memcached's `LOG_*` flags that Corvid has events
/// for; `rawcmds`, `sysevents` and the proxy streams are accepted and stay silent).
pub(crate) mod streams {
    pub(crate) const FETCHERS: u8 = 1;
    pub(crate) const MUTATIONS: u8 = 2;
    pub(crate) const EVICTIONS: u8 = 4;
    pub(crate) const CONNEVENTS: u8 = 8;
    /// `rawcmds`, `sysevents`, `proxyreqs`, `proxyevents`, `proxyuser`: never logged.
    pub(crate) const SILENT: u8 = 128;
}

/// Bytes of each worker's ring (memcached's default `worker_logbuf_size`, 64 KiB).
pub(crate) const WORKER_BUFFER: usize = 64 * 1024;
/// Bytes of each watcher's outbox (memcached's default `watcher_logbuf_size`, 256 KiB).
pub(crate) const WATCHER_BUFFER: usize = 256 * 1024;
/// Watchers at once (memcached's `WATCHER_LIMIT`).
pub(crate) const WATCHERS_MAX: usize = 20;
/// Room a line needs in an outbox besides its own bytes (memcached asks for 128 more:
/// the `skipped=` notice that may precede it).
const NOTICE_ROOM: usize = 128;
/// A record in a ring: the line's length (2 bytes), its stream (1), its gid (8), then
/// the line.
pub(crate) const HEADER: usize = 11;

/// The counters memcached reports in `stats`.
#[derive(Debug, Default)]
pub(crate) struct LogCounters {
    pub(crate) worker_written: AtomicU64,
    pub(crate) worker_dropped: AtomicU64,
    pub(crate) watcher_sent: AtomicU64,
    pub(crate) watcher_skipped: AtomicU64,
}

/// The server's log: who watches what, the workers' rings, the counters.
pub struct Log {
    /// The union of the watchers' streams.
    wanted: AtomicU8,
    gid: AtomicU64,
    /// Each worker's writing end, until its worker takes it.
    producers: Mutex<Vec<Option<Producer<u8>>>>,
    /// The ring of threads without one of their own (evictions, which the store reports
    /// from inside whatever call made room), and the record being built.
    shared: Mutex<(Producer<u8>, Vec<u8>)>,
    /// The reading ends (the workers', then the shared one), and one record's bytes
    /// (sized once).
    pump: Mutex<(Vec<Consumer<u8>>, Vec<u8>)>,
    watchers: Mutex<Vec<Arc<Watcher>>>,
    pub(crate) counters: LogCounters,
}

/// `watch` refused: memcached's limit of 20 watchers.
#[derive(Debug)]
pub(crate) struct TooMany;

impl Log {
    /// A log for `workers` worker threads.
    pub(crate) fn new(workers: usize) -> Log {
        let (producers, mut consumers): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| {
                let (p, c) = RingBuffer::new(WORKER_BUFFER);
                (Some(p), c)
            })
            .unzip();
        let (shared, c) = RingBuffer::new(WORKER_BUFFER);
        consumers.push(c);
        Log {
            shared: Mutex::new((shared, Vec::with_capacity(1024))),
            wanted: AtomicU8::new(0),
            gid: AtomicU64::new(0),
            producers: Mutex::new(producers),
            pump: Mutex::new((consumers, Vec::new())),
            watchers: Mutex::new(Vec::new()),
            counters: LogCounters::default(),
        }
    }

    /// Whether someone watches `stream`: the check every logging site makes first.
    #[inline(always)]
    pub(crate) fn wants(&self, stream: u8) -> bool {
        self.wanted.load(Relaxed) & stream != 0
    }

    /// The next global line id.
    pub(crate) fn next_gid(&self) -> u64 {
        self.gid.fetch_add(1, Relaxed) + 1
    }

    /// Worker `worker`'s writing end (once; None after, or for a worker beyond those the
    /// log was made for).
    pub(crate) fn take_producer(&self, worker: usize) -> Option<Producer<u8>> {
        self.producers.lock().get_mut(worker).and_then(Option::take)
    }

    /// What `stats reset` clears (memcached keeps `log_watchers`, a gauge).
    pub(crate) fn reset(&self) {
        let c = &self.counters;
        for n in [
            &c.worker_written,
            &c.worker_dropped,
            &c.watcher_sent,
            &c.watcher_skipped,
        ] {
            n.store(0, Relaxed);
        }
    }

    /// Connections watching now (`log_watchers`).
    pub(crate) fn watchers(&self) -> usize {
        self.watchers.lock().len()
    }

    /// Starts a watcher of `streams`: it gets the lines logged from now on.
    pub(crate) fn add(&self, streams: u8) -> Result<Arc<Watcher>, TooMany> {
        let mut watchers = self.watchers.lock();
        if watchers.len() >= WATCHERS_MAX {
            return Err(TooMany);
        }
        let watcher = Arc::new(Watcher {
            streams,
            // memcached's watcher takes a gid of its own and sees the lines from it on.
            min_gid: self.next_gid(),
            outbox: Mutex::new(Outbox {
                bytes: Vec::with_capacity(WATCHER_BUFFER),
                start: 0,
                skipped: 0,
            }),
        });
        watchers.push(watcher.clone());
        self.rewant(&watchers);
        Ok(watcher)
    }

    /// Stops `watcher` (its connection closed).
    pub(crate) fn remove(&self, watcher: &Arc<Watcher>) {
        let mut watchers = self.watchers.lock();
        watchers.retain(|w| !Arc::ptr_eq(w, watcher));
        self.rewant(&watchers);
    }

    fn rewant(&self, watchers: &[Arc<Watcher>]) {
        let wanted = watchers.iter().fold(0, |all, w| all | w.streams);
        self.wanted.store(wanted & !streams::SILENT, Relaxed);
    }

    /// Moves every line the workers logged into the outboxes of the watchers that asked
    /// for it. Returns the lines moved; 0 also when another session is pumping.
    pub(crate) fn pump(&self) -> usize {
        let Some(mut pump) = self.pump.try_lock() else {
            return 0;
        };
        let (consumers, record) = &mut *pump;
        let watchers = self.watchers.lock();
        let mut moved = 0;
        for ring in consumers.iter_mut() {
            while let Some((stream, gid, len)) = peek_header(ring) {
                record.resize(HEADER + len, 0);
                if ring.pop_entire_slice(record).is_err() {
                    // Records are pushed whole; a partial one cannot be seen.
                    break;
                }
                moved += 1;
                for w in watchers.iter() {
                    w.offer(stream, gid, &record[HEADER..], &self.counters);
                }
            }
        }
        moved
    }
}

/// Builds a record of `stream` into `record`: header, stamp, then what `body` writes.
pub(crate) fn build(record: &mut Vec<u8>, stream: u8, gid: u64, body: impl FnOnce(&mut Vec<u8>)) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    record.clear();
    record.resize(HEADER, 0);
    log_line::stamp(record, now.as_secs(), now.subsec_micros(), gid);
    body(record);
    write_header(record, stream, gid);
}

/// Pushes a built record; counts it written or dropped.
pub(crate) fn push(ring: Option<&mut Producer<u8>>, record: &[u8], counters: &LogCounters) {
    let pushed = ring.is_some_and(|ring| ring.push_entire_slice(record).is_ok());
    if pushed {
        counters.worker_written.fetch_add(1, Relaxed);
    } else {
        counters.worker_dropped.fetch_add(1, Relaxed);
    }
}

/// The store reports evictions here, from whichever thread made room: they go through
/// the shared ring (a lock workers contend on only while someone watches evictions).
impl store::EvictionWatch for Log {
    fn wanted(&self) -> bool {
        self.wants(streams::EVICTIONS)
    }

    fn evicted(&self, item: &store::Evicted<'_>) {
        let gid = self.next_gid();
        let mut shared = self.shared.lock();
        let (ring, record) = &mut *shared;
        build(record, streams::EVICTIONS, gid, |out| {
            log_line::eviction(
                out,
                item.key,
                item.fetched,
                item.ttl,
                item.idle,
                item.value_len,
            )
        });
        push(Some(ring), record, &self.counters);
    }
}

/// The stream, gid and line length of the record at the head of `ring`, if one is there.
fn peek_header(ring: &mut Consumer<u8>) -> Option<(u8, u64, usize)> {
    let mut h = [0u8; HEADER];
    // Read without a commit: the header stays in the ring for the pop that follows.
    let chunk = ring.read_chunk(HEADER).ok()?;
    let (a, b) = chunk.as_slices();
    h[..a.len()].copy_from_slice(a);
    h[a.len()..].copy_from_slice(b);
    let len = usize::from(u16::from_le_bytes([h[0], h[1]]));
    let mut gid = [0u8; 8];
    gid.copy_from_slice(&h[3..]);
    Some((h[2], u64::from_le_bytes(gid), len))
}

/// Encodes a record header into the first [`HEADER`] bytes of `record`.
pub(crate) fn write_header(record: &mut [u8], stream: u8, gid: u64) {
    let len = u16::try_from(record.len() - HEADER).unwrap_or(u16::MAX);
    record[..2].copy_from_slice(&len.to_le_bytes());
    record[2] = stream;
    record[3..HEADER].copy_from_slice(&gid.to_le_bytes());
}

/// One watching connection's side of the log.
pub(crate) struct Watcher {
    streams: u8,
    min_gid: u64,
    outbox: Mutex<Outbox>,
}

/// Lines waiting for a watcher's session: `bytes[start..]`.
struct Outbox {
    bytes: Vec<u8>,
    start: usize,
    skipped: u64,
}

impl Watcher {
    /// Takes `line` if this watcher asked for its stream, has room, and started before
    /// it was logged.
    fn offer(&self, stream: u8, gid: u64, line: &[u8], counters: &LogCounters) {
        if self.streams & stream == 0 || gid < self.min_gid {
            return;
        }
        let mut o = self.outbox.lock();
        if o.bytes.len() - o.start + line.len() + NOTICE_ROOM > WATCHER_BUFFER {
            o.skipped += 1;
            counters.watcher_skipped.fetch_add(1, Relaxed);
            return;
        }
        if o.bytes.len() + line.len() + NOTICE_ROOM > o.bytes.capacity() {
            // Make room at the back by moving what waits to the front (no reallocation).
            let start = o.start;
            o.bytes.copy_within(start.., 0);
            let left = o.bytes.len() - start;
            o.bytes.truncate(left);
            o.start = 0;
        }
        if o.skipped > 0 {
            let n = o.skipped;
            log_line::skipped(&mut o.bytes, n);
            o.skipped = 0;
        }
        o.bytes.extend_from_slice(line);
        counters.watcher_sent.fetch_add(1, Relaxed);
    }

    /// Hands at most `max` waiting bytes to `f` (whole lines or not: the stream is one
    /// byte stream). Returns the bytes handed.
    pub(crate) fn take(&self, max: usize, f: impl FnOnce(&[u8])) -> usize {
        let mut o = self.outbox.lock();
        let end = o.bytes.len().min(o.start + max);
        let n = end - o.start;
        if n > 0 {
            f(&o.bytes[o.start..end]);
            o.start = end;
            if o.start == o.bytes.len() {
                o.bytes.clear();
                o.start = 0;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(p: &mut Producer<u8>, log: &Log, stream: u8, line: &[u8]) {
        let mut record = vec![0; HEADER];
        record.extend_from_slice(line);
        write_header(&mut record, stream, log.next_gid());
        p.push_entire_slice(&record).unwrap();
    }

    fn drain(w: &Watcher) -> Vec<u8> {
        let mut out = Vec::new();
        w.take(usize::MAX, |b| out.extend_from_slice(b));
        out
    }

    #[test]
    fn lines_reach_the_watchers_that_asked_logged_after_they_started() {
        let log = Log::new(2);
        let mut p0 = log.take_producer(0).unwrap();
        let mut p1 = log.take_producer(1).unwrap();
        assert!(log.take_producer(0).is_none() && log.take_producer(2).is_none());
        push(&mut p0, &log, streams::FETCHERS, b"before\n");
        assert!(!log.wants(streams::FETCHERS));
        let fetchers = log.add(streams::FETCHERS).unwrap();
        let both = log.add(streams::FETCHERS | streams::MUTATIONS).unwrap();
        assert!(log.wants(streams::MUTATIONS) && !log.wants(streams::EVICTIONS));
        push(&mut p0, &log, streams::FETCHERS, b"get a\n");
        push(&mut p1, &log, streams::MUTATIONS, b"store b\n");
        assert_eq!(log.pump(), 3);
        assert_eq!(drain(&fetchers), b"get a\n");
        assert_eq!(drain(&both), b"get a\nstore b\n");
        assert_eq!(log.counters.watcher_sent.load(Relaxed), 3);
        log.remove(&both);
        assert!(!log.wants(streams::MUTATIONS) && log.wants(streams::FETCHERS));
        log.remove(&fetchers);
        assert_eq!(log.watchers(), 0);
        assert!(!log.wants(0xff));
    }

    #[test]
    fn a_full_outbox_skips_lines_and_says_so_before_the_next() {
        let log = Log::new(1);
        let mut p = log.take_producer(0).unwrap();
        let w = log.add(streams::FETCHERS).unwrap();
        let line = [b'x'; 1000];
        let mut pushed = 0;
        for _ in 0..300 {
            push(&mut p, &log, streams::FETCHERS, &line);
            pushed += 1;
            if pushed % 50 == 0 {
                log.pump();
            }
        }
        log.pump();
        let skipped = log.counters.watcher_skipped.load(Relaxed);
        let sent = log.counters.watcher_sent.load(Relaxed);
        assert_eq!(sent + skipped, 300);
        assert!(skipped > 0 && sent as usize <= WATCHER_BUFFER / 1000);
        assert_eq!(drain(&w).len(), sent as usize * 1000);
        push(&mut p, &log, streams::FETCHERS, b"next\n");
        log.pump();
        assert_eq!(drain(&w), format!("skipped={skipped}\nnext\n").as_bytes());
    }

    #[test]
    fn the_limit_is_twenty_watchers() {
        let log = Log::new(1);
        let all: Vec<_> = (0..WATCHERS_MAX)
            .map(|_| log.add(streams::FETCHERS).unwrap())
            .collect();
        assert!(log.add(streams::FETCHERS).is_err());
        log.remove(&all[3]);
        assert!(log.add(streams::FETCHERS).is_ok());
    }

    #[test]
    fn a_silent_stream_is_accepted_and_wants_nothing() {
        let log = Log::new(1);
        let _w = log.add(streams::SILENT).unwrap();
        assert!(!log.wants(0xff));
        assert_eq!(log.watchers(), 1);
    }
}
