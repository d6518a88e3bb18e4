//! `-o key=value,key2,...`: memcached's extended options, as entries of the options
//! table. Every key memcached 1.6.18 accepts is accepted (so its init scripts start
//! Corvid), values memcached checks are checked with its messages, the keys Corvid uses
//! are applied, and the rest leave one warning line each. A key memcached does not know
//! is an error, as there.
//!
//! The entries, in the table's order, by what they configure: [`corvid_keys`] (what
//! Corvid applies of its own: idle timeout, IO backend, maxconns_fast), [`tuning`]
//! (memcached's hash, LRU, slab and buffer tuning, accepted and ignored), [`tls`]
//! (`ssl_*`), [`disk_tier`] (`ext_*`). How a value is read, with memcached's messages:
//! [`value`]; the makers of ignored keys' entries: [`ignored_keys`].

// First: the entry macros it defines are visible only to modules declared after it.
#[macro_use]
mod ignored_keys;

mod corvid_keys;
mod disk_tier;
mod tls;
mod tuning;
mod value;

use super::options::Opt;

/// Every `-o` key memcached 1.6.18 accepts (the Debian build: with TLS and extstore,
/// without the proxy), the ones Corvid uses first.
pub(super) fn entries() -> impl Iterator<Item = &'static Opt> {
    corvid_keys::CORVID_KEYS
        .iter()
        .chain(tuning::TUNING)
        .chain(tls::TLS)
        .chain(disk_tier::DISK_TIER)
}
