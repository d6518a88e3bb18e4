//! The texts `-V` and `-i` print (`-h` is generated from the options table: see
//! [`render`](super::render)).

/// The memcached release whose flags and behaviour Corvid follows.
pub(super) const MEMCACHED_VERSION: &str = "1.6.18";

pub(super) fn version() -> String {
    format!(
        "corvid {} (memcached {MEMCACHED_VERSION} compatible)",
        env!("CARGO_PKG_VERSION")
    )
}

pub(super) fn license() -> String {
    format!(
        "{}\n\nCorvid is distributed under the MIT license.\n\
         It contains no memcached code; it follows memcached's documented behaviour.\n",
        version()
    )
}
