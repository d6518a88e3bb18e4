//! The TLS keys (`ssl_*`): memcached's names, levels and messages, applied to the
//! rustls settings (`-Z` turns TLS on).

use super::value::{fail, ignored, need, whole};
use crate::settings::error::SettingsError;
use crate::settings::options::{extended, Given, Kind, Opt, Status, Value};
use channel::tls::{KeyFormat, MinVersion, VerifyMode};

/// memcached's 0..3 TLS levels, with its message for anything else.
fn ssl_level(g: Given<'_>, key: &'static str) -> Result<i64, SettingsError> {
    let v = need(g, &format!("Missing {key} argument"))?;
    let n: i64 = whole(v, key)?;
    if !(0..=3).contains(&n) {
        return Err(fail(format!(
            "Invalid {key}. Use help to see valid options."
        )));
    }
    Ok(n)
}

/// A TLS file path for --print-config.
fn tls_path(p: &Option<std::path::PathBuf>) -> Option<Value> {
    p.as_ref()
        .map(|p| Value::String(p.to_string_lossy().into_owned()))
}

/// The `ssl_*` entries.
pub(super) const TLS: &[Opt] = &[
    extended(
        "ssl_chain_cert",
        Kind::Text,
        "<file>",
        "TLS certificate chain, PEM, the server's certificate first",
        |b, g| {
            let v = need(g, "Missing ssl_chain_cert argument")?;
            b.settings.tls.chain_cert = Some(v.into());
            Ok(())
        },
    )
    .show(|s| tls_path(&s.tls.chain_cert)),
    extended(
        "ssl_key",
        Kind::Text,
        "<file>",
        "TLS private key (default: read from ssl_chain_cert)",
        |b, g| {
            let v = need(g, "Missing ssl_key argument")?;
            b.settings.tls.key = Some(v.into());
            Ok(())
        },
    )
    .show(|s| tls_path(&s.tls.key)),
    extended(
        "ssl_verify_mode",
        Kind::Int,
        "<0..3>",
        "TLS client certificates: 0 none, 1 request, 2 require, 3 once",
        |b, g| {
            let n = ssl_level(g, "ssl_verify_mode")?;
            b.settings.tls.verify_mode = VerifyMode::from_level(n).unwrap_or_default();
            Ok(())
        },
    )
    .note("1 to 3 need `ssl_ca_cert` (checked at start); 3 acts as 1, rustls never renegotiates")
    .show(|s| Some(Value::Integer(s.tls.verify_mode.level().into()))),
    extended(
        "ssl_keyformat",
        Kind::Int,
        "<1-2>",
        "TLS key file format: 1 PEM, 2 DER",
        |b, g| {
            let v = need(g, "Missing ssl_keyformat argument")?;
            let n: i64 = whole(v, "ssl_keyformat")?;
            b.settings.tls.key_format = KeyFormat::from_number(n).ok_or_else(|| {
                fail(format!(
                    "ssl_keyformat={n}: corvid reads keys as 1 (PEM) or 2 (DER); an OpenSSL \
                     engine has no counterpart in rustls"
                ))
            })?;
            Ok(())
        },
    )
    .note("3 (an OpenSSL engine) is refused")
    .show(|s| Some(Value::Integer(s.tls.key_format.number().into()))),
    extended(
        "ssl_ciphers",
        Kind::Text,
        "<list>",
        "TLS cipher suites, OpenSSL names separated by colons",
        |b, g| {
            let v = need(g, "Missing ssl_ciphers argument")?;
            b.settings.tls.ciphers = Some(v.to_string());
            Ok(())
        },
    )
    .note("names of suites rustls has (`ECDHE-ECDSA-AES128-GCM-SHA256`, `TLS_AES_128_GCM_SHA256`, ...); OpenSSL keywords (`HIGH`, `!aNULL`) and suites rustls lacks are refused at start, naming the first")
    .show(|s| s.tls.ciphers.clone().map(Value::String)),
    extended(
        "ssl_ca_cert",
        Kind::Text,
        "<file>",
        "CA certificates (PEM) client certificates must chain to",
        |b, g| {
            let v = need(g, "Missing ssl_ca_cert argument")?;
            b.settings.tls.ca_cert = Some(v.into());
            Ok(())
        },
    )
    .show(|s| tls_path(&s.tls.ca_cert)),
    extended(
        "ssl_wbuf_size",
        Kind::Int,
        "<kb>",
        "most plaintext encrypted per write, in KiB (16)",
        |b, g| {
            let v = need(g, "Missing ssl_wbuf_size argument")?;
            let kb: usize = whole(v, "ssl_wbuf_size")?;
            if kb == 0 {
                return Err(fail("ssl_wbuf_size must be at least 1"));
            }
            b.settings.tls.wbuf_size = kb.saturating_mul(1024);
            Ok(())
        },
    )
    .note("large values leave through the TLS writer in chunks of at most this")
    .show(|s| Some(Value::Integer((s.tls.wbuf_size / 1024) as i64))),
    extended(
        "ssl_session_cache",
        Kind::Switch,
        "",
        "resume TLS sessions from a server-side cache",
        |b, _| {
            b.settings.tls.session_cache = true;
            Ok(())
        },
    )
    .show(|s| Some(Value::Boolean(s.tls.session_cache))),
    switch!("ssl_kernel_tls", "kernel TLS offload"),
    extended(
        "ssl_min_version",
        Kind::Int,
        "<2-3>",
        "oldest TLS version: 2 TLS 1.2, 3 TLS 1.3",
        |b, g| {
            let n = ssl_level(g, "ssl_min_version")?;
            b.settings.tls.min_version = MinVersion::from_level(n).ok_or_else(|| {
                fail(format!(
                    "ssl_min_version={n}: TLS 1.0 and 1.1 are not supported (rustls speaks \
                     TLS 1.2 and 1.3); use 2 or 3"
                ))
            })?;
            Ok(())
        },
    )
    .note("0 and 1 (TLS 1.0, 1.1) are refused: rustls does not speak them")
    .show(|s| Some(Value::Integer(match s.tls.min_version {
        MinVersion::Tls12 => 2,
        MinVersion::Tls13 => 3,
    }))),
    extended(
        "ssl_handshake_timeout",
        Kind::Int,
        "<sec>",
        "close a TLS connection whose handshake is not done this long after it was accepted",
        |b, g| {
            let v = need(g, "Missing ssl_handshake_timeout argument")?;
            let n: u64 = whole(v, "ssl_handshake_timeout")?;
            if n == 0 {
                return Err(fail("ssl_handshake_timeout must be at least 1"));
            }
            b.settings.ssl_handshake_timeout = n;
            Ok(())
        },
    )
    .note("Corvid's own (memcached has no such limit); default 10")
    .show(|s| Some(Value::Integer(i64::try_from(s.ssl_handshake_timeout).unwrap_or(i64::MAX)))),
];
