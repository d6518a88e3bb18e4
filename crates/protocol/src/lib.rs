//! Bytes to requests and requests to bytes for the memcached wire protocols.
//!
//! This crate is pure syntax: it turns the bytes a client sent into borrowed requests
//! and appends reply bytes to a buffer. It must never do IO, never touch the cache,
//! never panic on any input and never allocate per request.

pub mod binary;
pub mod meta;
pub mod text;
