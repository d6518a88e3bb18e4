//! Hostile clients over real sockets: garbage, lying lengths, oversized keys and lines,
//! requests cut off mid-way, thousands of connections, a slowloris, multi-gets built to
//! amplify output. After each attack the server must still answer other clients
//! correctly, keep the data it stored, and give back the memory the attack made it use
//! (RSS, from /proc, returns to within a few MiB of where it was).
//!
//! Where memcached's observable behaviour is the standard (error replies, which idle
//! connections `idle_timeout` closes), the same attack runs against memcached 1.6.18 too.
//!
//! One test binary, its modules by concept. The attacks: [`malformed_input`] (bad
//! lengths, keys, numbers, garbage, lying binary frames, endless lines, requests cut
//! off, values over the limit), [`connections`] (thousands of them, a flood past `-c`,
//! running out of descriptors), [`backpressure`] (amplifying multi-gets, a client that
//! never reads), [`slow_clients`] (slowloris, text and binary, and a steady client
//! `idle_timeout` must not close). The tools: [`watched`] (a server whose RSS is
//! watched), [`sentinel`] (data stored before an attack, checked after), [`attacker`]
//! (noise, writes that ignore a close, reading a reply or a close).

#[path = "../support/mod.rs"]
mod support;

mod attacker;
mod backpressure;
mod connections;
mod malformed_input;
mod sentinel;
mod slow_clients;
mod watched;
