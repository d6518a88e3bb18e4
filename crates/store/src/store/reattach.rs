//! After a warm restart whose restart data carried the cold tier's index
//! ([`crate::COLD_TIER_SECTION`]), the restored external items wait for the tier's
//! verdict before anything can read or release them: the tier either takes its index
//! back and counts every location the store kept ([`Store::adopt_external`]), or refuses
//! it, and then the items go ([`Store::drop_external`]).
//!
//! ```
//! # use store::Store;
//! # let store = Store::new(store::StoreConfig::default()).unwrap();
//! // (the tier checked its saved index)
//! # let tier_took_it = true;
//! if tier_took_it {
//!     store.adopt_external(|location, key_len, value_len| { /* count it live */ });
//! } else {
//!     store.drop_external();
//! }
//! assert!(!store.external_pending());
//! ```
//!
//! Why the store cannot just keep them: a refused tier starts with every page free and
//! allocation numbers from 1, so an old location could match a new page and its release
//! would take another record's bytes. Connecting a cold tier while items are still
//! pending drops them first ([`Store::set_cold_tier`]), so no path lets an unverified
//! location meet a tier.

use super::Store;
use std::sync::atomic::Ordering;

impl Store {
    /// True while restored external items wait for the cold tier's verdict.
    pub fn external_pending(&self) -> bool {
        self.external_pending.load(Ordering::Acquire)
    }

    /// The tier took its index back: offers `f` every external item the index holds, as
    /// `(location, key length, value length)`, expired ones too (each will be forgotten
    /// once, whenever the store unlinks it, so the tier must count each now). Answers how
    /// many. Before the store serves; the items stay.
    pub fn adopt_external(&self, mut f: impl FnMut(u64, usize, usize)) -> u64 {
        let mut offered = 0;
        for off in self.external_offsets() {
            let it = self.item(off);
            // SAFETY: found linked and external under the shard lock just released;
            // nothing else uses the store before the verdict.
            let location = unsafe { it.location() };
            f(location, it.klen(), it.vlen());
            offered += 1;
        }
        self.external_pending.store(false, Ordering::Release);
        offered
    }

    /// The tier refused its index (or none runs): unlinks every external item, telling
    /// a connected tier of none (there is none yet). Answers how many went.
    pub fn drop_external(&self) -> u64 {
        let dropped = self.drop_external_at(&self.external_offsets());
        self.external_pending.store(false, Ordering::Release);
        dropped
    }

    /// Heap offsets of every external item in the index.
    fn external_offsets(&self) -> Vec<usize> {
        let mut found = Vec::new();
        for shard in self.shards.iter() {
            let t = shard.table.read();
            for pos in 0..t.capacity() {
                if let Some(off) = t.occupant(pos) {
                    if self.item(off).is_external() {
                        found.push(off);
                    }
                }
            }
        }
        found
    }
}
