//! The disk tier as the cache's handlers see it: reads that park a session, and the
//! replies composed when their bytes arrive.
//!
//! A lookup that finds an external item (its value on disk) asks an IO thread for the
//! record ([`Tier::read`]) with a ticket for its session, and the handler parks. The
//! reply is composed up front except for the value: a header and the bytes a miss would
//! answer instead. Entries wait in reply order (`cache::waiting`): a text multi-get
//! mixing keys in RAM and on disk issues all its reads at once, keeps the RAM items
//! pinned, and answers in key order as reads complete. The IO thread's completion goes
//! to the session's worker as a [`DiskDone`]; the value is sent from the read buffer by
//! reference (`Pinned::Disk`).
//!
//! A read that fails (page since dropped, checksum, short read) is a miss: the client
//! gets what a miss gets, the key is unlinked, and `miss_from_extstore` (and
//! `badcrc_from_extstore`) count it, as memcached does. Commands that need the value
//! itself (append, prepend, incr, decr) read it, bring it back to RAM and run again
//! (`Entry::Recache`).

use crate::disk_tier::owner::Releaser;
use crate::disk_tier::restart::{self, DiskRestore};
use crate::disk_tier::{record_len, writer, ExtConfig, ExtSettings, RecordMeta};
use crate::runtime::Ticket;
use disk::{Disk, DiskError, Location, ReadBuf, ReadError, ReadResult};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use store::{External, ItemRef, Store};

/// What an IO thread sends a parked session: the read numbered `id`, done.
pub struct DiskDone {
    pub(crate) id: u32,
    pub(crate) result: ReadResult,
}

/// The disk engine's completion: posts the result to the session's worker.
pub struct DiskTicket {
    ticket: Ticket<DiskDone>,
    id: u32,
}

impl disk::Completion for DiskTicket {
    fn complete(self, result: ReadResult) {
        // The worker is gone only when the server stopped: the result is dropped.
        let _ = self.ticket.complete(DiskDone {
            id: self.id,
            result,
        });
    }
}

/// The counters memcached keeps in `stats` for extstore reads.
#[derive(Debug, Default)]
pub struct ExtCounters {
    /// Reads of values on disk issued.
    pub get_extstore: AtomicU64,
    /// Reads whose session left (or the server stopped) before they were answered.
    pub get_aborted_extstore: AtomicU64,
    /// Reads refused because read buffers already held `ext_read_mem`.
    pub get_oom_extstore: AtomicU64,
    /// Values brought back to RAM after a read.
    pub recache_from_extstore: AtomicU64,
    /// Reads that found no value (stale location, short read, checksum, mismatch).
    pub miss_from_extstore: AtomicU64,
    /// Of those, checksum failures.
    pub badcrc_from_extstore: AtomicU64,
}

impl ExtCounters {
    /// The `stats` lines, in memcached's order.
    pub fn named(&self) -> [(&'static str, u64); 6] {
        [
            ("get_extstore", self.get_extstore.load(Relaxed)),
            (
                "get_aborted_extstore",
                self.get_aborted_extstore.load(Relaxed),
            ),
            ("get_oom_extstore", self.get_oom_extstore.load(Relaxed)),
            (
                "recache_from_extstore",
                self.recache_from_extstore.load(Relaxed),
            ),
            ("miss_from_extstore", self.miss_from_extstore.load(Relaxed)),
            (
                "badcrc_from_extstore",
                self.badcrc_from_extstore.load(Relaxed),
            ),
        ]
    }

    /// `stats reset`.
    pub fn reset(&self) {
        for c in [
            &self.get_extstore,
            &self.get_aborted_extstore,
            &self.get_oom_extstore,
            &self.recache_from_extstore,
            &self.miss_from_extstore,
            &self.badcrc_from_extstore,
        ] {
            c.store(0, Relaxed);
        }
    }
}

/// The disk tier of a running cache: the engine, the background writer, the tunables.
pub struct Tier {
    pub(crate) disk: Arc<Disk<DiskTicket>>,
    pub(crate) settings: Arc<ExtSettings>,
    pub(crate) counters: ExtCounters,
    /// What `stats settings` reports of the engine's configuration.
    pub(crate) wbuf_size: u64,
    writer: Mutex<Option<JoinHandle<()>>>,
    stop: Arc<writer::Stop>,
    restore: Option<DiskRestore>,
}

impl Tier {
    /// Opens the files (taking back the index `saved` at the last clean stop, if the
    /// store kept its external items for it: `disk_tier::restart`), starts the engine's
    /// threads and the background writer, and connects the store to the disk both ways.
    pub fn open(
        ext: &ExtConfig,
        store: &'static Store,
        saved: Option<&[u8]>,
    ) -> Result<Tier, DiskError> {
        let (disk, restore) = restart::open(&ext.disk, store, saved)?;
        let disk = Arc::new(disk);
        store.set_cold_tier(Arc::new(Releaser(disk.handle())));
        let settings = Arc::new(ext.settings());
        let stop = Arc::new(writer::Stop::default());
        let handle = writer::spawn(store, disk.clone(), settings.clone(), stop.clone())
            .map_err(DiskError::Thread)?;
        Ok(Tier {
            disk,
            settings,
            counters: ExtCounters::default(),
            wbuf_size: ext.disk.wbuf_size,
            writer: Mutex::new(Some(handle)),
            stop,
            restore,
        })
    }

    /// What became of the index saved at the last clean stop (`None`: nothing to take).
    pub fn restore(&self) -> Option<&DiskRestore> {
        self.restore.as_ref()
    }

    /// The `DISK` section of the restart data (stops the engine first). After
    /// [`Tier::stop`] and every worker.
    pub fn restart_section(&self) -> std::io::Result<store::ExtraSection> {
        restart::section(&self.disk)
    }

    /// Stops the background writer and the engine (after the workers: reads still
    /// queued complete as aborted and are dropped).
    pub fn stop(&self) {
        self.stop.stop();
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
        self.disk.shutdown();
    }

    /// Queues the read of `ext` (the value of a `key_len`-byte key) for an IO thread.
    /// False when read buffers already hold `ext_read_mem`: nothing is queued, the
    /// caller answers what memcached answers when it cannot allocate a read buffer (a
    /// miss), and `get_oom_extstore` counts it.
    pub(crate) fn read(
        &self,
        ticket: Ticket<DiskDone>,
        id: u32,
        ext: External,
        key_len: usize,
    ) -> bool {
        let len = record_len(key_len, ext.value_len);
        // The IO threads are woken at the end of the worker's turn (`Cache::turn_end`).
        let queued = self.disk.read_later(
            Location::from_bits(ext.location),
            len,
            DiskTicket { ticket, id },
        );
        let counter = match queued {
            Ok(()) => &self.counters.get_extstore,
            Err(_) => &self.counters.get_oom_extstore,
        };
        counter.fetch_add(1, Relaxed);
        queued.is_ok()
    }

    /// Judges a finished read: the value if it is the one `expect` describes; otherwise
    /// a miss, counted and unlinked as memcached does. A value read twice within a
    /// minute is sometimes brought back to RAM (`ext_recache_rate`).
    pub(crate) fn settle(
        &self,
        store: &Store,
        key: &[u8],
        expect: &Expect,
        result: ReadResult,
    ) -> Option<ReadBuf> {
        let c = &self.counters;
        let failed = match result {
            Ok(buf) => {
                let meta = RecordMeta::decode(buf.meta());
                let same = buf.key() == key
                    && buf.value().len() == expect.value_len
                    && meta.is_some_and(|m| m.cas == expect.cas);
                if same {
                    if self.settings.recache_now(expect.fetched_before, expect.ago)
                        && store
                            .recache(key, expect.location, buf.value())
                            .unwrap_or(false)
                    {
                        c.recache_from_extstore.fetch_add(1, Relaxed);
                    }
                    return Some(buf);
                }
                false
            }
            Err(ReadError::ShuttingDown) => {
                c.get_aborted_extstore.fetch_add(1, Relaxed);
                return None;
            }
            // Only `Disk::read_now` answers this; counted as a miss.
            Err(ReadError::OutOfMemory) => false,
            Err(ReadError::BadChecksum) => true,
            Err(_) => false,
        };
        c.miss_from_extstore.fetch_add(1, Relaxed);
        if failed {
            c.badcrc_from_extstore.fetch_add(1, Relaxed);
        }
        store.unlink_external(key, expect.location);
        None
    }
}

/// memcached's `extstore <option> <value>` tunables and `stats settings` lines, which
/// exist with or without a disk tier (memcached answers `OK` either way).
pub struct Knobs {
    /// Shared with the background writer when a tier runs.
    pub(crate) settings: Arc<ExtSettings>,
    /// The compaction tunables and `max_sleep` when no tier runs (a running tier has
    /// its engine's).
    idle_tuning: disk::Tuning,
    wbuf_size: u64,
}

impl Knobs {
    /// memcached's defaults, with no tier.
    pub(crate) fn new() -> Knobs {
        Knobs {
            settings: Arc::new(ExtSettings::default()),
            idle_tuning: disk::Tuning::new(0, 0, 0.8, false),
            wbuf_size: 4 << 20,
        }
    }

    /// The knobs of a running tier.
    pub(crate) fn of(tier: &Tier) -> Knobs {
        Knobs {
            settings: tier.settings.clone(),
            idle_tuning: disk::Tuning::new(0, 0, 0.8, false),
            wbuf_size: tier.wbuf_size,
        }
    }

    fn tuning<'a>(&'a self, tier: Option<&'a Tier>) -> &'a disk::Tuning {
        tier.map_or(&self.idle_tuning, |t| t.disk.tuning())
    }

    /// `extstore <option> <value>`: true (`OK`) if the option is known and the value
    /// parses as memcached parses it (an unsigned 32-bit number, truncated as memcached
    /// truncates; a float for `max_frag`). A value that does not parse leaves the
    /// setting at 0 (memcached's parsers zero their output first), `drop_unread` as it
    /// was.
    pub(crate) fn set(&self, tier: Option<&Tier>, option: &[u8], value: &[u8]) -> bool {
        let tuning = self.tuning(tier);
        let s = &self.settings;
        if option == b"max_frag" {
            let frag = parse_float(value);
            tuning.set_max_frag(frag.unwrap_or(0.0));
            return frag.is_some();
        }
        let parsed = parse_u32(value);
        if option == b"drop_unread" {
            if let Some(n) = parsed {
                tuning.set_drop_unread(n != 0);
            }
            return parsed.is_some();
        }
        let n = parsed.unwrap_or(0);
        match option {
            b"item_size" => s.item_size.store(n, Relaxed),
            b"item_age" => s.item_age.store(n, Relaxed),
            b"low_ttl" => s.low_ttl.store(n, Relaxed),
            b"recache_rate" => s.recache_rate.store(n, Relaxed),
            b"compact_under" => tuning.set_compact_under(n),
            b"drop_under" => tuning.set_drop_under(n),
            b"max_sleep" => tuning.set_max_sleep_us(n),
            _ => return false,
        }
        parsed.is_some()
    }

    /// The `ext_*` lines of `stats settings`, in memcached's order.
    pub(crate) fn settings_lines(&self, tier: Option<&Tier>) -> Vec<(&'static str, String)> {
        let s = &self.settings;
        let t = self.tuning(tier);
        vec![
            ("ext_item_size", s.item_size.load(Relaxed).to_string()),
            ("ext_item_age", s.item_age.load(Relaxed).to_string()),
            ("ext_low_ttl", s.low_ttl.load(Relaxed).to_string()),
            ("ext_recache_rate", s.recache_rate.load(Relaxed).to_string()),
            ("ext_wbuf_size", self.wbuf_size.to_string()),
            ("ext_compact_under", t.compact_under().to_string()),
            ("ext_drop_under", t.drop_under().to_string()),
            ("ext_max_sleep", t.max_sleep_us().to_string()),
            ("ext_max_frag", format!("{:.2}", t.max_frag())),
            ("slab_automove_freeratio", "0.010".to_string()),
            (
                "ext_drop_unread",
                if t.drop_unread() { "yes" } else { "no" }.to_string(),
            ),
        ]
    }
}

/// memcached's `safe_strtoul` into a 32-bit setting: leading blanks, an optional sign,
/// digits, nothing after; a negative number is refused, a large one truncated.
fn parse_u32(text: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(text).ok()?.trim_start();
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    if negative && n != 0 {
        return None;
    }
    Some(n as u32)
}

/// memcached's `safe_strtod`: a decimal number with nothing after it.
fn parse_float(text: &[u8]) -> Option<f64> {
    let n: f64 = std::str::from_utf8(text).ok()?.trim_start().parse().ok()?;
    n.is_finite().then_some(n)
}

/// What a read must bring back to be the value the lookup found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect {
    pub(crate) location: u64,
    pub(crate) value_len: usize,
    pub(crate) cas: u64,
    /// For the recache rule: hit before, and how long ago.
    pub(crate) fetched_before: bool,
    pub(crate) ago: u64,
}

impl Expect {
    /// The expectation for `item`, whose value is `ext`.
    pub(crate) fn of(item: &ItemRef<'_>, ext: External) -> Expect {
        Expect {
            location: ext.location,
            value_len: ext.value_len,
            cas: item.cas(),
            fetched_before: item.fetched_before(),
            ago: item.last_access_ago(),
        }
    }
}
