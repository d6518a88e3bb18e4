//! Differential conformance for the meta protocol: every script under
//! tests/scripts/meta/ runs against memcached 1.6.18 and corvid, and the normalised
//! replies must be identical (docs/testing.md has the script language;
//! docs/protocol-meta.md what the scripts pin and where Corvid follows protocol.txt
//! instead, which no script here exercises).

#[macro_use]
mod support;

differential_suite! {
    "meta";
    basics,
    get,
    set,
    delete_arith,
    errors,
    stampede,
    nocas,
}
