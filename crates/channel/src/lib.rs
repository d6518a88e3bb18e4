//! Bytes in, bytes out: the one place where Corvid talks to the operating system's
//! sockets (streams and datagrams) and files (the disk tier's [`FileChannel`]).
//!
//! Every IO call answers one of three [`Outcome`]s: progress was made (`Done`), nothing
//! can happen until the socket is ready again (`Retry`), or the channel is finished
//! (`Abort`). EINTR, EAGAIN, ECONNRESET and their friends are decided here, once; the
//! layers above never see an errno.
//!
//! ```
//! use channel::{read, Outcome};
//! let mut input: &[u8] = b"get foo\r\n";
//! let mut buf = [0u8; 64];
//! assert!(matches!(read(&mut input, &mut buf), Outcome::Done(9)));
//! assert!(matches!(read(&mut input, &mut buf), Outcome::Abort(_)));
//! ```
//!
//! This crate must never know about a protocol or the cache: it binds and accepts
//! ([`Listener`]), moves bytes over a [`Stream`] (TCP, Unix, TLS: [`tls`]), keeps the
//! per-connection buffers ([`ReadBuffer`], [`SendQueue`]) and their pool ([`BufferPool`]),
//! frames UDP [`datagram`]s as memcached does, reads and writes the disk tier's files
//! ([`FileChannel`]) and loads TLS certificates. Every socket and file system call Corvid
//! makes is made here.

pub mod datagram;
mod file;
mod listener;
mod outcome;
mod pool;
mod read_buffer;
mod send_queue;
mod socket_calls;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;

pub use file::{FileChannel, OpenError};
pub use listener::{Accepted, Listener};
pub use outcome::{read, read_vectored, write, writev, Abort, Outcome};
pub use pool::BufferPool;
pub use read_buffer::ReadBuffer;
pub use send_queue::{Payload, SendQueue, IOVECS_PER_CALL};
pub use stream::Stream;
