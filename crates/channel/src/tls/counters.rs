//! TLS events, counted where they happen: every connection of a context shares one set.

use std::sync::atomic::AtomicU64;

/// TLS events, counted where they happen (every connection shares these).
#[derive(Debug, Default)]
pub struct TlsCounters {
    /// Handshakes that failed (a protocol error, or a client too slow to finish).
    pub handshake_errors: AtomicU64,
    /// TLS errors after the handshake (a bad record, a failed decryption).
    pub proto_errors: AtomicU64,
    /// Sessions stored for resumption (with `ssl_session_cache`).
    pub new_sessions: AtomicU64,
    /// Handshakes completed.
    pub handshakes: AtomicU64,
}
