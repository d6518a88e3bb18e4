//! The meta protocol from the client's side: `mg ms md ma mn me` lines with their flags,
//! and the replies (`VA HD EN NF NS EX MN ME`) with their return flags.
//!
//! ```
//! use protocol::client::Parsed;
//! use protocol::meta::client::{parse, write_get, Flag, Status};
//!
//! let mut out = Vec::new();
//! write_get(&mut out, b"k", &[Flag::ReturnValue, Flag::ReturnKey, Flag::Opaque(b"7")]);
//! assert_eq!(out, b"mg k v k O7\r\n");
//!
//! let buf = b"VA 2 kk O7\r\nhi\r\n";
//! let Ok(Parsed::Reply { reply, frame }) = parse(buf) else { panic!() };
//! assert_eq!(reply.status, Status::Value(2));
//! assert_eq!((reply.flags.key, reply.flags.opaque), (Some(&b"k"[..]), Some(&b"7"[..])));
//! assert_eq!(frame.data(buf), Ok(Some(&b"hi"[..])));
//! ```
//!
//! Replies come in request order. With [`Flag::Quiet`] the common-case reply is left out,
//! so a client batches quiet requests and ends the batch with `mn`: everything before
//! `MN` answers the batch. [`Flag::Opaque`] and [`Flag::ReturnKey`] tie a reply to its
//! request when that is not enough.

mod reply;
mod request;
#[cfg(test)]
mod tests;

pub use reply::{parse, Reply, ReturnFlags, Status};
pub use request::{
    encode_key, write_arithmetic, write_debug, write_delete, write_get, write_noop, write_set, Flag,
};
