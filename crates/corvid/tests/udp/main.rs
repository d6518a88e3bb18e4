//! UDP (`-U`): corvid against memcached 1.6.18, datagram for datagram (frame headers
//! included), text and then binary, then what only corvid promises (a request cut short
//! does not poison the next, workers sharing the socket), then a real client crate over
//! UDP.
//!
//! memcached keeps per-thread state across datagrams, so the differential runs it with one
//! thread (`-t 1`) and never sends it what leaves state behind: a request cut short, a
//! refused large value (its data is swallowed from later datagrams), and `quit` or a fatal
//! binary error before the end (they stick: every later datagram then ends at its first
//! write-out). docs/udp.md has the details.
//! The end of each reply is found without sleeping: after each step a `version` request
//! follows, and its reply marks the end (one server thread answers in order).
//!
//! One test binary, its modules by concept:
//! - [`server`]: a server with UDP on, and a client socket for it;
//! - [`datagram`]: frame headers, request datagrams, the marker exchange, printing;
//! - [`normalise`]: what may differ between the servers (versions, CAS values) made equal;
//! - [`text_steps`], [`binary_steps`]: the requests both servers must answer alike;
//! - [`differential`]: running the steps on both and comparing, and its tests;
//! - [`counters`]: the `stats` counters binary requests over UDP move;
//! - [`corvid_only`]: what corvid promises beyond memcached (cut-short requests, shared
//!   socket, hostile datagrams);
//! - [`real_client`]: the `memcache` crate over UDP.

#[path = "../support/mod.rs"]
mod support;

mod binary_steps;
mod corvid_only;
mod counters;
mod datagram;
mod differential;
mod normalise;
mod real_client;
mod server;
mod text_steps;
