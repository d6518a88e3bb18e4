//! The floor server: the least work any server can do to answer `corvid bench`'s (and
//! memtier's) load correctly. A measuring instrument, not a cache, and no part of
//! Corvid: it stores nothing.
//!
//! ```text
//! cargo build --release -p bench --example floor_server
//! target/release/examples/floor_server -p 11311 --value-size 100 --backend epoll
//! bench/compare --rt --backends epoll,uring,floor,floor-uring     # runs it per scenario
//! ```
//!
//! What it is for: issue 20 asks for Corvid's server CPU per request to be 0.7x (100 B)
//! and 0.9x (64 KiB) of memcached's, and most of that CPU is the kernel's (loopback TCP,
//! system calls). Running this beside memcached and Corvid in the same rounds of
//! `bench/compare` shows how low a server's CPU per request can go on this kernel at
//! all: what is left when the server's own work is nearly nothing (docs/io.md, "The
//! floor").
//!
//! What it does, one thread, one loop:
//! - `--backend epoll`: Corvid's epoll pattern: edge-triggered, per readable connection
//!   one `recv` (a short read proves the socket drained; no `EAGAIN` read), every
//!   complete request answered, then one `send` (or `sendmsg` for several pieces) per
//!   batch of replies.
//! - `--backend uring`: one io_uring (`SINGLE_ISSUER | DEFER_TASKRUN`), a multishot
//!   accept into the registered file table, one multishot receive per connection into
//!   provided buffers (requests are answered straight from the buffer), one send per
//!   connection per turn, and one `io_uring_enter` per turn that submits them all and
//!   waits.
//!
//! Each `get` key is answered with a `VALUE` of `--value-size` bytes, the value
//! `corvid bench` expects for that key (so its checks pass and its error count says the
//! replies are right); a storage command's data block is skipped and answered `STORED`.
//!
//! `--store BYTES` makes it the storing floor: BYTES of memory, faulted in at start, cut
//! into slots of the value size with no index (a key's slot is its generator id modulo
//! the slot count); a set's data block goes into its key's slot (on epoll, the rest of
//! it received straight there), a get sends its slot by reference. What that adds is
//! what holding the values costs: memory no cache holds, copied by the kernel.
//! Receives take up to `max(16 KiB, 2 x value size)` at once, so a 64 KiB data block
//! arrives in one buffer. memcached's flags `bench/compare` passes (`-U -t -m -c -u -o`)
//! are accepted and ignored.
//!
//! It keeps no limits a real server needs (a client that never reads its replies can
//! make its output grow without bound on io_uring): run it only on loopback, for
//! measuring.

mod answer;
mod epoll;
mod store;
#[cfg(test)]
mod tests;
mod uring;

use answer::Answerer;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use store::Store;

/// The smallest receive: a pooled read buffer's worth in Corvid (and memcached's).
const MIN_RECEIVE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Epoll,
    Uring,
}

struct Flags {
    addr: String,
    port: u16,
    backend: Backend,
    value_size: usize,
    store: Option<usize>,
}

fn parse_flags(args: &[String]) -> Result<Flags, String> {
    let mut flags = Flags {
        addr: "127.0.0.1".into(),
        port: 11211,
        backend: Backend::Epoll,
        value_size: 100,
        store: None,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "-p" => flags.port = value()?.parse().map_err(|e| format!("-p: {e}"))?,
            "-l" => flags.addr = value()?.clone(),
            "--value-size" => {
                flags.value_size = value()?.parse().map_err(|e| format!("--value-size: {e}"))?
            }
            "--store" => flags.store = Some(value()?.parse().map_err(|e| format!("--store: {e}"))?),
            "--backend" => {
                flags.backend = match value()?.as_str() {
                    "epoll" => Backend::Epoll,
                    "uring" => Backend::Uring,
                    other => return Err(format!("--backend: {other:?} is not epoll or uring")),
                }
            }
            // memcached's flags that bench/compare gives every server.
            "-U" | "-t" | "-m" | "-c" | "-u" | "-o" => {
                value()?;
            }
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    Ok(flags)
}

/// Bytes one receive may take: a data block of the configured size and what follows it
/// arrive in one buffer.
pub fn receive_size(value_size: usize) -> usize {
    MIN_RECEIVE.max(value_size.saturating_mul(2))
}

/// A listening socket with a backlog of 1,024 (memcached's; std's 128 would drop the
/// SYNs of 1,000 connections opened at once) and `TCP_NODELAY`, which the sockets it
/// accepts inherit (so no `setsockopt` per connection).
pub fn listen(addr: &str, port: u16) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind((addr, port))?;
    let fd = listener.as_raw_fd();
    let one: libc::c_int = 1;
    // SAFETY: `fd` is the listener's open socket; the option value is a live c_int of
    // the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is the listener's open socket; listening again only sets the backlog.
    if unsafe { libc::listen(fd, 1024) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves on `listener` until the process ends (or an error the loop cannot go on from);
/// with `store`, values are kept in that many bytes of slots (`--store`).
pub fn serve(
    listener: TcpListener,
    backend: Backend,
    value_size: usize,
    store: Option<usize>,
) -> std::io::Result<()> {
    let store = store
        .map(|bytes| Store::new(bytes, value_size))
        .transpose()?;
    let answerer = Answerer::new(value_size, store).map_err(std::io::Error::other)?;
    match backend {
        Backend::Epoll => epoll::serve(listener, answerer, receive_size(value_size)),
        Backend::Uring => uring::serve(listener, answerer, receive_size(value_size)),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags = match parse_flags(&args) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("floor_server: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match listen(&flags.addr, flags.port) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("floor_server: {}:{}: {e}", flags.addr, flags.port);
            return ExitCode::from(1);
        }
    };
    match serve(listener, flags.backend, flags.value_size, flags.store) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor_server: {e}");
            ExitCode::from(1)
        }
    }
}
