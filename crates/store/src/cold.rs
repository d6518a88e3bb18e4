//! The vocabulary of the cold tier (the disk tier), as the store sees it: where a value
//! went ([`External`]) and whom the store tells when it drops one ([`ColdTier`]). The
//! operations are in `store/external.rs`.

/// Where an item's value is when it is not in RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct External {
    /// The tier's location (opaque to the store; never 0).
    pub location: u64,
    /// The value's length.
    pub value_len: usize,
}

/// The cold tier, as the store sees it.
pub trait ColdTier: Send + Sync + 'static {
    /// The store dropped an item whose value is at `location` (`value_len` bytes, under
    /// `key`). Called under the item's shard lock: quick, and never calling the store.
    fn forget(&self, location: u64, key: &[u8], value_len: usize);
}
