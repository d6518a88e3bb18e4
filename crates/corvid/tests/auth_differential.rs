//! Differential conformance for authentication: every script under tests/scripts/auth/
//! runs against memcached 1.6.18 and corvid with the same `-Y` authfile (a test fixture
//! in that directory, users that guard nothing), and the normalised replies must be
//! identical.

#[macro_use]
mod support;

differential_suite! {
    "auth";
    ascii,
}
