//! What the store is told at start, and what can go wrong.

/// Store configuration, filled from the command line by the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Bytes of item heap (`-m` MiB * 2^20).
    pub memory_limit: usize,
    /// `-I` in bytes: the largest key + value + item header, counted like memcached.
    pub item_size_max: usize,
    /// False with `-M`: a full heap answers `OutOfMemory` instead of evicting.
    pub evict: bool,
    /// False with `-C`: no CAS is kept and every item reports CAS 0.
    pub cas_enabled: bool,
    /// Segment size; the store raises it so that an `item_size_max` item fits.
    pub segment_size: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            memory_limit: 64 << 20,
            item_size_max: 1 << 20,
            evict: true,
            cas_enabled: true,
            segment_size: 1 << 20,
        }
    }
}

/// Why a store operation could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The item is larger than `item_size_max` (SERVER_ERROR object too large for cache).
    #[error("object too large for cache")]
    TooLarge,
    /// No room and eviction is off or impossible (SERVER_ERROR out of memory storing object).
    #[error("out of memory storing object")]
    OutOfMemory,
    /// Key empty or longer than 250 bytes.
    #[error("key length must be 1..=250 bytes")]
    KeyLength,
    /// The configuration cannot be honoured.
    #[error("bad store configuration: {0}")]
    Config(String),
    /// The memory file of `-e` cannot be used (opened, locked, sized, marked running).
    #[error("memory file: {0}")]
    MemoryFile(String),
}

/// Longest key memcached accepts.
pub const KEY_MAX: usize = 250;

/// memcached's item size for a key and value, the number `-I` is compared with: a 48-byte
/// header, 8 bytes of CAS when enabled, the key and its NUL, 4 bytes of flags when non-zero,
/// and the value with its trailing CRLF. Measured against memcached 1.6.18: with `-I 1m` and
/// a 1-byte key and zero flags the largest accepted value is 1048516 bytes.
pub fn memcached_item_size(key_len: usize, value_len: usize, flags: u32, cas: bool) -> usize {
    48 + if cas { 8 } else { 0 } + key_len + 1 + if flags != 0 { 4 } else { 0 } + value_len + 2
}
