//! Who hears of evictions: the server's `watch evictions`. The store calls a watch only
//! while it says it wants to hear (one call per evicted item), so nobody watching costs
//! an evicted item one check and a request nothing.

/// Receives the items the store evicts to make room.
pub trait EvictionWatch: Send + Sync + 'static {
    /// Whether evictions are wanted now.
    fn wanted(&self) -> bool;
    /// `item` was evicted. Called with no store lock held; must not block for long.
    fn evicted(&self, item: &Evicted<'_>);
}

/// What memcached's eviction log line says about an evicted item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evicted<'a> {
    pub key: &'a [u8],
    /// Read since it was stored.
    pub fetched: bool,
    /// Seconds it had left; -1 when it never expired.
    pub ttl: i64,
    /// Seconds since it was last stored or read.
    pub idle: u64,
    pub value_len: usize,
}
