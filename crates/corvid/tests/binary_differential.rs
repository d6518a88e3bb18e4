//! Differential conformance for the binary protocol: every script under
//! tests/scripts/binary/ runs against memcached 1.6.18 and corvid, and the normalised
//! response frames must be identical (docs/testing.md has the script language;
//! docs/protocol-binary.md what the scripts pin).

#[macro_use]
mod support;

differential_suite! {
    "binary";
    storage,
    retrieval,
    arithmetic,
    admin,
    malformed,
    modes,
    modes_ascii,
    modes_binary,
    disabled,
    pipeline,
}
