//! The cache's command counters and the `stats` replies.
//!
//! Each worker bumps its own counters (relaxed atomics on their own cache line, written
//! by one thread), and `stats` sums them. Item counters come from the store, connection
//! and byte counters from the runtime. Names and order follow memcached 1.6's `stats`,
//! so dashboards keep working.
//!
//! One module per reply: [`counters`] (what workers count), [`general`] (`stats`, with
//! the version string and the clock it reports), [`settings`] (`stats settings`),
//! [`slab_class`] (`stats items` and `stats slabs`), [`conns`] (`stats conns`),
//! [`pages`] (`stats extstore`), each writing its lines with [`stat_line`]. This module
//! only re-exports them, so callers name `stats::write_general` and the like.

mod conns;
mod counters;
mod general;
mod pages;
mod settings;
mod slab_class;
mod stat_line;

pub(crate) use conns::{write_conn, ConnEntry};
pub use counters::{CacheStats, CommandCounters};
pub use general::VERSION;
pub(crate) use general::{unix_now, write_general, Sources};
pub(crate) use pages::write_pages;
pub(crate) use settings::write_settings;
pub(crate) use slab_class::{write_items, write_slabs};
