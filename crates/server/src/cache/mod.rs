//! The cache: memcached's commands over the runtime. Its handler ([`CacheHandler`])
//! speaks text, meta and binary over a session or a UDP datagram; it does no IO.
//!
//! Each memcached rule has one home: copy-or-pin of a value and refuse-and-unlink in
//! `value`, the text error precedence in `text`, the `stats` groups in `report`,
//! command counters in `stats`, disk reads and their replies in `tier`. Modules, each
//! importing only those listed before it: `command_kind`, `detail`, `stats`, `latency`,
//! `slabs`, `value`, `dump`, `tier`, `state`, `login` (`-Y`), `sasl` (`-S`), `report`,
//! `meta`, `text`, `binary`, `udp`, `service`, `handler`, `view` (what the admin listener
//! reads); `maintenance` stands apart (the store's clock and sweeper, on a thread of their
//! own).

mod binary;
mod command_kind;
mod detail;
mod dump;
mod handler;
mod latency;
mod log;
mod log_line;
mod log_writer;
mod login;
mod maintenance;
mod meta;
mod report;
mod sasl;
mod service;
mod slabs;
mod state;
mod stats;
mod text;
mod tier;
mod udp;
mod value;
mod view;
mod waiting;
mod watch;

pub use detail::{DetailStats, Event};
pub use maintenance::Maintenance;
pub use service::Cache;
pub use state::CacheHandler;
pub use stats::{CacheStats, CommandCounters, VERSION};
pub use tier::{DiskDone, DiskTicket, ExtCounters, Tier};
pub use value::{Pinned, COPY_MAX};
