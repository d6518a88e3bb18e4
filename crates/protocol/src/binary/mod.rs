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
mod request;
mod response;
mod status;

#[cfg(test)]
mod tests;

pub use header::{Header, HEADER_LEN, REQUEST_MAGIC, RESPONSE_MAGIC};
pub use request::{check, decode, Command, Extras, Frame, Request, StoreKind};
pub use response::{write_error, write_header, write_stat, ResponseHeader};
pub use status::Status;

/// Request opcodes (`protocol_binary_command` in memcached's `protocol_binary.h`).
pub mod opcode {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCREMENT: u8 = 0x05;
    pub const DECREMENT: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0a;
    pub const VERSION: u8 = 0x0b;
    pub const GETK: u8 = 0x0c;
    pub const GETKQ: u8 = 0x0d;
    pub const APPEND: u8 = 0x0e;
    pub const PREPEND: u8 = 0x0f;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCREMENTQ: u8 = 0x15;
    pub const DECREMENTQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1a;
    pub const TOUCH: u8 = 0x1c;
    pub const GAT: u8 = 0x1d;
    pub const GATQ: u8 = 0x1e;
    pub const SASL_LIST_MECHS: u8 = 0x20;
    pub const SASL_AUTH: u8 = 0x21;
    pub const SASL_STEP: u8 = 0x22;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;
}
