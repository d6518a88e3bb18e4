//! Bytes to requests and requests to bytes for the memcached wire protocols.
//!
//! This crate is pure syntax: it turns the bytes a client sent into borrowed requests
//! and appends reply bytes to a buffer; for clients (`corvid bench`, the proxy's
//! backend connections) each protocol's `client` module does the reverse, composing
//! requests and reading replies ([`client`]). [`http`] is the little HTTP the admin
//! listener speaks. It must never do IO, never touch the
//! cache, never panic on any input and never allocate per request.

pub mod binary;
pub mod client;
pub mod http;
pub mod meta;
pub mod text;
