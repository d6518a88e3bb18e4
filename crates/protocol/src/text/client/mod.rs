//! The classic text protocol from the client's side: request lines composed onto an
//! output buffer, replies read one line at a time.
//!
//! ```
//! use protocol::client::{Parsed, DATA_END};
//! use protocol::text::client::{parse, write_get, write_store, Reply, Store};
//! use protocol::text::{GetKind, StoreCommand};
//!
//! let mut out = Vec::new();
//! write_store(&mut out, &Store::new(StoreCommand::Set, b"k", 2));
//! out.extend_from_slice(b"hi");
//! out.extend_from_slice(DATA_END);
//! write_get(&mut out, GetKind::Get, [&b"k"[..], b"other"]);
//! assert_eq!(out, b"set k 0 0 2\r\nhi\r\nget k other\r\n");
//!
//! let Ok(Parsed::Reply { reply, frame }) = parse(b"STORED\r\n") else { panic!() };
//! assert_eq!((reply, frame.end()), (Reply::Stored, 8));
//! ```
//!
//! Keys are written as given: a caller passes keys memcached accepts (1 to 250 bytes, no
//! spaces or control bytes), such as the ones [`text::parse`](crate::text::parse) hands
//! out. Replies are recognised line by line without knowing the request; the caller
//! knows what it asked and so which replies fit.

mod reply;
mod request;
#[cfg(test)]
mod tests;

pub use reply::{parse, Reply};
pub use request::{
    write_delete, write_delta, write_flush_all, write_gat, write_get, write_quit, write_shutdown,
    write_stats, write_store, write_touch, write_verbosity, write_version, Store,
};
