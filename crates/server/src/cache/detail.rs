//! `stats detail`: per-prefix counters of gets, hits, sets and deletes, recorded only
//! while turned on (`stats detail on`), as memcached does.
//!
//! A key's prefix is what precedes the first `:`; keys without one are not recorded.
//! The dump lists prefixes in the order memcached's table would (bucket by bucket of a
//! 256-bucket table hashed with murmur3, newest first within a bucket) so that replies
//! match byte for byte.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;

const BUCKETS: usize = 256;
const DELIMITER: u8 = b':';

#[derive(Debug, Default, Clone)]
struct Counts {
    prefix: Vec<u8>,
    get: u64,
    hit: u64,
    set: u64,
    del: u64,
}

/// The per-prefix counters. Off by default: then each command pays one relaxed load.
#[derive(Debug)]
pub struct DetailStats {
    enabled: AtomicBool,
    buckets: Mutex<Vec<Vec<Counts>>>,
}

impl Default for DetailStats {
    fn default() -> Self {
        DetailStats {
            enabled: AtomicBool::new(false),
            buckets: Mutex::new(vec![Vec::new(); BUCKETS]),
        }
    }
}

/// What a command did to a key, for the counters.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// A lookup; `hit` says whether it found the item.
    Get { hit: bool },
    /// A storage attempt.
    Set,
    /// A delete attempt.
    Delete,
}

impl DetailStats {
    /// `stats detail on|off`.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Relaxed);
    }

    /// Whether recording is on (`stats settings` shows it as `detail_enabled`).
    pub fn enabled(&self) -> bool {
        self.enabled.load(Relaxed)
    }

    /// Records `event` for `key` if recording is on and the key has a prefix.
    #[inline]
    pub fn record(&self, key: &[u8], event: Event) {
        if !self.enabled.load(Relaxed) {
            return;
        }
        self.record_slow(key, event);
    }

    fn record_slow(&self, key: &[u8], event: Event) {
        let Some(end) = key.iter().position(|&b| b == DELIMITER) else {
            return;
        };
        let prefix = &key[..end];
        let bucket = murmur3_32(prefix, 0) as usize % BUCKETS;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let chain = &mut buckets[bucket];
        let counts = match chain.iter().position(|c| c.prefix == prefix) {
            Some(i) => &mut chain[i],
            None => {
                chain.push(Counts {
                    prefix: prefix.to_vec(),
                    ..Counts::default()
                });
                let last = chain.len() - 1;
                &mut chain[last]
            }
        };
        match event {
            Event::Get { hit } => {
                counts.get += 1;
                counts.hit += u64::from(hit);
            }
            Event::Set => counts.set += 1,
            Event::Delete => counts.del += 1,
        }
    }

    /// Forgets every prefix (`stats reset`, as memcached's `stats_prefix_clear`);
    /// recording stays on or off.
    pub fn clear(&self) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        for chain in buckets.iter_mut() {
            chain.clear();
        }
    }

    /// Appends `stats detail dump` lines (without `END`).
    pub fn dump(&self, out: &mut Vec<u8>) {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        for chain in buckets.iter() {
            // memcached links new prefixes at the head of a bucket's chain.
            for c in chain.iter().rev() {
                out.extend_from_slice(b"PREFIX ");
                out.extend_from_slice(&c.prefix);
                // Writing to a Vec cannot fail.
                let _ = write!(
                    out,
                    " get {} hit {} set {} del {}\r\n",
                    c.get, c.hit, c.set, c.del
                );
            }
        }
    }
}

/// MurmurHash3, x86 32-bit variant: the hash memcached 1.6 uses by default.
fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, &b) in tail.iter().enumerate() {
            k |= u32::from(b) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_reference_vectors() {
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(murmur3_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
    }

    #[test]
    fn records_only_when_on_and_only_prefixed_keys() {
        let d = DetailStats::default();
        d.record(b"a:1", Event::Set);
        d.set_enabled(true);
        d.record(b"a:1", Event::Get { hit: true });
        d.record(b"a:2", Event::Get { hit: false });
        d.record(b"nocolon", Event::Set);
        d.record(b"a:1", Event::Delete);
        let mut out = Vec::new();
        d.dump(&mut out);
        assert_eq!(out, b"PREFIX a get 2 hit 1 set 0 del 1\r\n");
    }

    #[test]
    fn dump_order_is_memcacheds_bucket_order() {
        // Observed on memcached 1.6.18: prefixes a, b, c recorded in that order dump as
        // b, c, a.
        let d = DetailStats::default();
        d.set_enabled(true);
        for p in [&b"a:x"[..], b"b:x", b"c:x"] {
            d.record(p, Event::Set);
        }
        let mut out = Vec::new();
        d.dump(&mut out);
        let text = String::from_utf8(out).expect("utf8");
        let order: Vec<&str> = text.lines().map(|l| &l[7..8]).collect();
        assert_eq!(order, vec!["b", "c", "a"]);
    }
}
