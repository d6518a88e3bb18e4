//! The text parser, command family by command family, against memcached 1.6.18.
//!
//! Each test mirrors a behaviour observed on the memcached 1.6.18 binary (started with
//! `memcached -p <port> -l 127.0.0.1 -U 0` and asked over a socket); the name says which.
//! - [`framing`]: where a line ends, the 2048-byte rule for lines without a newline, the
//!   HTTP rule;
//! - [`retrieval`]: get, gets, bget, gat, gats;
//! - [`storage`]: set, add, replace, append, prepend, cas;
//! - [`arithmetic`]: incr, decr;
//! - [`lifetime`]: touch, delete, flush_all;
//! - [`server_commands`]: version, quit, verbosity, shutdown, stats, watch, lru_crawler,
//!   extstore, and what is left to the meta parser;
//! - [`replies`]: the exact bytes of static and error replies.
//!
//! This module holds what they share: running the parser and taking its answer apart.

mod arithmetic;
mod framing;
mod lifetime;
mod replies;
mod retrieval;
mod server_commands;
mod storage;

use super::*;

fn request(buf: &[u8]) -> (Request<'_>, usize) {
    match parse(buf) {
        Parse::Request { request, consumed } => (request, consumed),
        other => panic!("expected a request for {buf:?}, got {other:?}"),
    }
}

fn error(buf: &[u8]) -> ProtocolError {
    match parse(buf) {
        Parse::Error {
            error, consumed, ..
        } => {
            assert_eq!(consumed, buf.len(), "an error drops exactly its line");
            error
        }
        other => panic!("expected an error for {buf:?}, got {other:?}"),
    }
}

fn reply(buf: &[u8]) -> &'static [u8] {
    error(buf).reply()
}

fn keys<'a>(keys: Keys<'a>) -> Vec<&'a [u8]> {
    keys.collect()
}

fn store(buf: &[u8]) -> (StoreCommand, &[u8], u32, i64, usize, u64, bool) {
    match request(buf).0 {
        Request::Store {
            command,
            key,
            flags,
            exptime,
            bytes,
            cas,
            noreply,
        } => (command, key, flags, exptime, bytes, cas, noreply),
        other => panic!("expected a store for {buf:?}, got {other:?}"),
    }
}

fn line_of(len: usize, prefix: &[u8]) -> Vec<u8> {
    let mut line = prefix.to_vec();
    line.resize(len, b'a');
    line
}
