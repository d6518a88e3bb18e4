//! The binary protocol from the client's side: request frames (header, extras, key; the
//! value is the caller's to append) and response heads.
//!
//! ```
//! use protocol::binary::client::{parse, write_request, Request};
//! use protocol::binary::{opcode, Extras, Status};
//! use protocol::client::Parsed;
//!
//! let mut out = Vec::new();
//! let set = Request {
//!     extras: Extras::Store { flags: 0, exptime: 0 },
//!     value_len: 2,
//!     ..Request::new(opcode::SET, b"k")
//! };
//! write_request(&mut out, &set).unwrap();
//! out.extend_from_slice(b"hi");
//! assert_eq!(out.len(), 24 + 8 + 1 + 2);
//!
//! let stored = [0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
//! let Ok(Parsed::Reply { reply, frame }) = parse(&stored) else { panic!() };
//! assert_eq!((reply.status(), reply.cas, frame.end()), (Some(Status::Success), 1, 24));
//! ```
//!
//! Quiet opcodes (`GETQ`, `SETQ`, ...) leave out the common-case response
//! ([`silent_status`]); a client sends a batch of them, then a `NOOP`, whose response
//! comes after every response the batch produced. The opaque field, echoed in every
//! response, ties a response to its request.

mod reply;
mod request;
#[cfg(test)]
mod tests;

pub use reply::{counter, parse, Reply};
pub use request::{quiet, silent_status, write_request, FrameTooLarge, Request};
