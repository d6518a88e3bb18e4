//! The disk tier glued to the store: the store keeps key, metadata and an 8-byte location
//! for each value sent to disk (`store::External`); `crates/disk` keeps the bytes.
//!
//! - [`writer`]: the background writer thread, which moves values from the segments
//!   eviction will reach first to disk (`Store::cold_items`, `Disk::write`,
//!   `Store::externalize`). Workers never write to the disk tier.
//! - [`owner`]: the two directions of bookkeeping: the store tells the disk of every
//!   external item it drops (`ColdTier`: a release, no IO), and the disk's compaction asks
//!   the store which records are live (`Owner`: `Store::relocate`).
//! - [`restart`]: the engine's page table across a warm restart (`-e`): the `DISK`
//!   section at a clean stop, checked and taken back at the next start.
//! - [`ExtSettings`]: memcached's runtime `extstore` tunables that belong to this side
//!   (item size, item age, low TTL, recache rate).
//!
//! On disk, each record's metadata is the item's CAS and flags ([`RecordMeta`]): a read
//! checks that the record it got is the version the store points at.

pub mod options;
pub mod owner;
pub mod restart;
pub mod writer;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Bytes of metadata stored with each value on disk.
pub const META_LEN: usize = 12;

/// What the disk record carries besides key and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    /// The item's CAS when it went to disk.
    pub cas: u64,
    /// The item's client flags.
    pub flags: u32,
}

impl RecordMeta {
    /// The 12 bytes written to disk.
    pub fn encode(&self) -> [u8; META_LEN] {
        let mut b = [0u8; META_LEN];
        b[..8].copy_from_slice(&self.cas.to_le_bytes());
        b[8..].copy_from_slice(&self.flags.to_le_bytes());
        b
    }

    /// The metadata of a record read back; `None` if it is not 12 bytes.
    pub fn decode(b: &[u8]) -> Option<RecordMeta> {
        let b: &[u8; META_LEN] = b.try_into().ok()?;
        let mut cas = [0u8; 8];
        cas.copy_from_slice(&b[..8]);
        let mut flags = [0u8; 4];
        flags.copy_from_slice(&b[8..]);
        Some(RecordMeta {
            cas: u64::from_le_bytes(cas),
            flags: u32::from_le_bytes(flags),
        })
    }
}

/// The record length on disk of a value of `value_len` bytes under a key of `key_len`.
pub fn record_len(key_len: usize, value_len: usize) -> u64 {
    disk::record_len(key_len, META_LEN, value_len)
}

/// `ext_item_age` when not given: no age limit (memcached's UINT_MAX).
pub const ITEM_AGE_OFF: u32 = u32::MAX;

/// Everything `-o ext_*` sets: the engine's configuration and this side's tunables.
#[derive(Debug, Clone)]
pub struct ExtConfig {
    /// Files, page and buffer sizes, IO threads, compaction tunables.
    pub disk: disk::DiskConfig,
    /// `ext_item_size` (512).
    pub item_size: u32,
    /// `ext_item_age` ([`ITEM_AGE_OFF`]).
    pub item_age: u32,
    /// `ext_low_ttl` (0).
    pub low_ttl: u32,
    /// `ext_recache_rate` (2000).
    pub recache_rate: u32,
}

impl ExtConfig {
    /// memcached's defaults over `disk`.
    pub fn new(disk: disk::DiskConfig) -> ExtConfig {
        ExtConfig {
            disk,
            item_size: 512,
            item_age: ITEM_AGE_OFF,
            low_ttl: 0,
            recache_rate: 2000,
        }
    }

    /// The runtime tunables these start from.
    pub fn settings(&self) -> ExtSettings {
        let s = ExtSettings::default();
        s.item_size.store(self.item_size, Relaxed);
        s.item_age.store(self.item_age, Relaxed);
        s.low_ttl.store(self.low_ttl, Relaxed);
        s.recache_rate.store(self.recache_rate, Relaxed);
        s
    }
}

/// The tunables of this side of the tier, changed at run time by `extstore <name> <value>`.
#[derive(Debug)]
pub struct ExtSettings {
    /// `ext_item_size`: only values larger than this go to disk (512).
    pub item_size: AtomicU32,
    /// `ext_item_age`: without memory pressure, values idle at least this many seconds go
    /// to disk ([`ITEM_AGE_OFF`]: never without pressure).
    pub item_age: AtomicU32,
    /// `ext_low_ttl`: values with less TTL left than this go to the low-TTL bucket (0: off).
    pub low_ttl: AtomicU32,
    /// `ext_recache_rate`: one in this many disk hits on an item read twice within a
    /// minute brings it back to RAM (2000).
    pub recache_rate: AtomicU32,
    recache_tick: AtomicU64,
}

impl Default for ExtSettings {
    fn default() -> Self {
        ExtSettings {
            item_size: AtomicU32::new(512),
            item_age: AtomicU32::new(ITEM_AGE_OFF),
            low_ttl: AtomicU32::new(0),
            recache_rate: AtomicU32::new(2000),
            recache_tick: AtomicU64::new(0),
        }
    }
}

impl ExtSettings {
    /// Whether a disk hit on an item fetched before, last accessed `ago` seconds before
    /// this read, should bring the value back to RAM: memcached's rule (hit twice, the
    /// second time within about a minute, then one in `recache_rate`).
    pub fn recache_now(&self, fetched_before: bool, ago: u64) -> bool {
        let rate = u64::from(self.recache_rate.load(Relaxed));
        // memcached: a rate of 0 turns recaching off.
        if !fetched_before || ago >= 60 || rate == 0 {
            return false;
        }
        self.recache_tick.fetch_add(1, Relaxed).is_multiple_of(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips() {
        let m = RecordMeta {
            cas: 0x0102_0304_0506_0708,
            flags: 0xDEAD_BEEF,
        };
        assert_eq!(RecordMeta::decode(&m.encode()), Some(m));
        assert_eq!(RecordMeta::decode(&[0u8; 11]), None);
    }

    #[test]
    fn recache_is_one_in_rate_of_repeated_recent_hits() {
        let s = ExtSettings::default();
        s.recache_rate.store(3, Relaxed);
        assert!(!s.recache_now(false, 1), "first hit");
        assert!(!s.recache_now(true, 61), "too long ago");
        let hits: Vec<bool> = (0..6).map(|_| s.recache_now(true, 5)).collect();
        assert_eq!(hits.iter().filter(|&&h| h).count(), 2);
    }
}
