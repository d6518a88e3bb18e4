//! memcached's binary protocol, as memcached 1.6 answers it (`doc/protocol-binary.txt`;
//! behaviour pinned against the 1.6.18 binary, see `docs/protocol-binary.md`).
//!
//! A request is a 24-byte [`Header`], then extras, key and value. The server reads the
//! header first and asks [`check`] what to do before it reads anything else: the frame
//! is judged on its header alone (magic, lengths, extras length for the opcode), so a
//! lying body length never makes anyone buffer or allocate what it claims. A valid
//! [`Command`] then needs only its extras and key buffered ([`Header::head_len`], at
//! most a few hundred bytes) to be [`decode`]d; a storage command's value follows and is
//! the server's to read, straight into the store.

pub mod client;
mod header;
pub mod opcode;
mod request;
mod response;
mod status;

#[cfg(test)]
mod tests;

pub use header::{Header, HEADER_LEN, REQUEST_MAGIC, RESPONSE_MAGIC};
pub use request::{check, decode, Command, Extras, Frame, Request, StoreKind};
pub use response::{write_error, write_header, write_miss_with_key, write_stat, ResponseHeader};
pub use status::Status;
