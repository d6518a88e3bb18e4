//! The engine's counters, under memcached's `extstore_*` names.
//!
//! ```
//! # let stats = disk::DiskStats::default();
//! // What `stats` prints, in memcached 1.6.18's order:
//! let names: Vec<&str> = stats.named().iter().map(|(n, _)| *n).collect();
//! assert_eq!(names[0], "extstore_compact_lost");
//! assert_eq!(names[names.len() - 1], "extstore_io_queue");
//! ```

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters kept outside the page-table lock (bumped by IO threads and compaction).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) objects_read: AtomicU64,
    pub(crate) bytes_read: AtomicU64,
    pub(crate) compact_lost: AtomicU64,
    pub(crate) compact_rescues: AtomicU64,
    pub(crate) compact_skipped: AtomicU64,
    pub(crate) io_queue: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) read_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}

/// A snapshot of every counter.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DiskStats {
    /// Live objects compaction could not rewrite (no room): they became misses.
    pub compact_lost: u64,
    /// Live objects compaction rewrote.
    pub compact_rescues: u64,
    /// Live but unread objects compaction dropped (`ext_drop_unread`).
    pub compact_skipped: u64,
    /// Pages allocated.
    pub page_allocs: u64,
    /// Pages dropped while holding live objects.
    pub page_evictions: u64,
    /// Pages freed (dropped, compacted or emptied).
    pub page_reclaims: u64,
    /// Pages free now.
    pub pages_free: u64,
    /// Pages not free now.
    pub pages_used: u64,
    /// Objects lost with dropped pages.
    pub objects_evicted: u64,
    /// Objects read back.
    pub objects_read: u64,
    /// Objects written (rewrites included).
    pub objects_written: u64,
    /// Objects live now.
    pub objects_used: u64,
    /// Bytes lost with dropped pages.
    pub bytes_evicted: u64,
    /// Bytes written into write buffers.
    pub bytes_written: u64,
    /// Bytes read back.
    pub bytes_read: u64,
    /// Live bytes now.
    pub bytes_used: u64,
    /// Bytes of used pages not holding live objects.
    pub bytes_fragmented: u64,
    /// Bytes of all pages.
    pub limit_maxbytes: u64,
    /// Reads waiting for an IO thread.
    pub io_queue: u64,
    /// Write-buffer writes that failed (their objects read back as checksum failures).
    /// Not a memcached counter.
    pub write_errors: u64,
    /// Reads that failed in the operating system. Not a memcached counter.
    pub read_errors: u64,
}

impl DiskStats {
    /// The `stats` lines memcached 1.6.18 prints for extstore, in its order.
    pub fn named(&self) -> [(&'static str, u64); 19] {
        [
            ("extstore_compact_lost", self.compact_lost),
            ("extstore_compact_rescues", self.compact_rescues),
            ("extstore_compact_skipped", self.compact_skipped),
            ("extstore_page_allocs", self.page_allocs),
            ("extstore_page_evictions", self.page_evictions),
            ("extstore_page_reclaims", self.page_reclaims),
            ("extstore_pages_free", self.pages_free),
            ("extstore_pages_used", self.pages_used),
            ("extstore_objects_evicted", self.objects_evicted),
            ("extstore_objects_read", self.objects_read),
            ("extstore_objects_written", self.objects_written),
            ("extstore_objects_used", self.objects_used),
            ("extstore_bytes_evicted", self.bytes_evicted),
            ("extstore_bytes_written", self.bytes_written),
            ("extstore_bytes_read", self.bytes_read),
            ("extstore_bytes_used", self.bytes_used),
            ("extstore_bytes_fragmented", self.bytes_fragmented),
            ("extstore_limit_maxbytes", self.limit_maxbytes),
            ("extstore_io_queue", self.io_queue),
        ]
    }
}
