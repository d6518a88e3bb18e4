//! The client halves against the real thing: requests composed by `text::client`,
//! `meta::client` and `binary::client` go to a fresh memcached 1.6.18, and every reply
//! it sends is read back incrementally (a byte count at a time, as a socket delivers
//! it) and checked field by field. A fresh server makes CAS values predictable.
//!
//! One test binary, its modules by concept:
//! - [`memcached`]: starting a fresh memcached on a port it picks;
//! - [`exchange`]: sending a request and reading whole replies as they arrive;
//! - [`text`], [`meta`], [`binary`]: each protocol's replies, described field by field;
//! - [`garbage`]: bytes no memcached could have sent are refused.

mod binary;
mod exchange;
mod garbage;
mod memcached;
mod meta;
mod text;
