//! TLS over TCP, with rustls: memcached's `-Z` settings ([`TlsSettings`]), the
//! certificates and keys they name, loaded and reloaded ([`TlsContext`]), and the
//! encrypted [`Stream`](crate::Stream) variant ([`TlsStream`]).
//!
//! ```no_run
//! use channel::tls::{TlsContext, TlsSettings};
//! let mut settings = TlsSettings::default();
//! settings.chain_cert = Some("/etc/corvid/cert.pem".into());
//! settings.key = Some("/etc/corvid/key.pem".into());
//! let context = TlsContext::new(settings).expect("certificate and key load");
//! // An accepted TCP stream becomes a TLS stream; its handshake happens as it is read.
//! # fn accepted() -> channel::Stream { unimplemented!() }
//! let stream = accepted().into_tls(&context, false).expect("a TLS stream");
//! assert!(stream.buffers_input());
//! context.reload().expect("new connections get the new certificate");
//! ```
//!
//! Cryptography is aws-lc-rs's (rustls' `aws_lc_rs` provider): on this project's machines
//! it does a server handshake about five times cheaper than ring, with the same AES-GCM
//! speed (docs/tls.md has the numbers). No OpenSSL is linked.

mod context;
mod counters;
mod settings;
mod stream;

pub use context::{TlsContext, TlsError};
pub use counters::TlsCounters;
pub use settings::{KeyFormat, MinVersion, TlsSettings, VerifyMode, CIPHER_NAMES};
pub use stream::TlsStream;

#[cfg(test)]
mod tests;
