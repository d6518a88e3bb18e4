//! memcached's `ssl_*` options as values, with memcached's defaults, and what each means
//! for rustls.

use rustls::{CipherSuite as Suite, SupportedCipherSuite};
use std::path::PathBuf;

/// Client certificate checking (`ssl_verify_mode`, memcached's numbers 0 to 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// 0: no client certificate is asked for.
    #[default]
    None,
    /// 1: asked for; one that is sent must verify.
    Request,
    /// 2: required, and must verify.
    Require,
    /// 3: "once": as `Request` (rustls never renegotiates, so once is always).
    Once,
}

impl VerifyMode {
    /// memcached's number (0 to 3).
    pub fn from_level(level: i64) -> Option<VerifyMode> {
        Some(match level {
            0 => VerifyMode::None,
            1 => VerifyMode::Request,
            2 => VerifyMode::Require,
            3 => VerifyMode::Once,
            _ => return None,
        })
    }

    /// memcached's number for it.
    pub fn level(self) -> u8 {
        match self {
            VerifyMode::None => 0,
            VerifyMode::Request => 1,
            VerifyMode::Require => 2,
            VerifyMode::Once => 3,
        }
    }

    /// What memcached's `stats settings` shows: OpenSSL's flag bits (`SSL_VERIFY_PEER` 1,
    /// `FAIL_IF_NO_PEER_CERT` 2, `CLIENT_ONCE` 4), not the number given.
    pub fn openssl_flags(self) -> u8 {
        match self {
            VerifyMode::None => 0,
            VerifyMode::Request => 1,
            VerifyMode::Require => 3,
            VerifyMode::Once => 5,
        }
    }
}

/// The oldest protocol version accepted (`ssl_min_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinVersion {
    /// 2, the default: TLS 1.2 and 1.3.
    #[default]
    Tls12,
    /// 3: TLS 1.3 only.
    Tls13,
}

impl MinVersion {
    /// memcached's number; 0 and 1 (TLS 1.0, 1.1) have no counterpart in rustls.
    pub fn from_level(level: i64) -> Option<MinVersion> {
        match level {
            2 => Some(MinVersion::Tls12),
            3 => Some(MinVersion::Tls13),
            _ => None,
        }
    }

    /// As memcached's `stats settings` names it.
    pub fn name(self) -> &'static str {
        match self {
            MinVersion::Tls12 => "tlsv1.2",
            MinVersion::Tls13 => "tlsv1.3",
        }
    }
}

/// How the private key file is encoded (`ssl_keyformat`: OpenSSL's `SSL_FILETYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// 1, the default.
    #[default]
    Pem,
    /// 2 (`SSL_FILETYPE_ASN1`): raw DER.
    Der,
}

impl KeyFormat {
    /// memcached's number; 3 (an OpenSSL engine) has no counterpart.
    pub fn from_number(n: i64) -> Option<KeyFormat> {
        match n {
            1 => Some(KeyFormat::Pem),
            2 => Some(KeyFormat::Der),
            _ => None,
        }
    }

    /// memcached's number for it.
    pub fn number(self) -> u8 {
        match self {
            KeyFormat::Pem => 1,
            KeyFormat::Der => 2,
        }
    }
}

/// Everything `-Z` and the `ssl_*` options say. Defaults are memcached's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `ssl_chain_cert`: the certificate chain, PEM, server certificate first.
    pub chain_cert: Option<PathBuf>,
    /// `ssl_key`: the private key; when absent it is read from the chain file.
    pub key: Option<PathBuf>,
    /// `ssl_keyformat`.
    pub key_format: KeyFormat,
    /// `ssl_ca_cert`: CA certificates client certificates must chain to.
    pub ca_cert: Option<PathBuf>,
    /// `ssl_verify_mode`.
    pub verify_mode: VerifyMode,
    /// `ssl_min_version`.
    pub min_version: MinVersion,
    /// `ssl_ciphers`: OpenSSL cipher names, colon separated (see [`CIPHER_NAMES`]).
    pub ciphers: Option<String>,
    /// `ssl_session_cache`: resume sessions (server-side cache); off by default.
    pub session_cache: bool,
    /// `ssl_wbuf_size` in bytes (the option is in KiB): the most plaintext encrypted per
    /// write, so a large value leaves in chunks of at most this.
    pub wbuf_size: usize,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            chain_cert: None,
            key: None,
            key_format: KeyFormat::Pem,
            ca_cert: None,
            verify_mode: VerifyMode::None,
            min_version: MinVersion::Tls12,
            ciphers: None,
            session_cache: false,
            wbuf_size: 16 * 1024,
        }
    }
}

/// The OpenSSL cipher names `ssl_ciphers` accepts, and the rustls suite each is. TLS 1.2
/// names restrict TLS 1.2 only (OpenSSL's cipher list does not touch TLS 1.3, whose
/// suites stay all allowed); TLS 1.3 names, if any are given, restrict TLS 1.3 too.
pub const CIPHER_NAMES: &[(&str, Suite)] = &[
    ("TLS_AES_128_GCM_SHA256", Suite::TLS13_AES_128_GCM_SHA256),
    ("TLS_AES_256_GCM_SHA384", Suite::TLS13_AES_256_GCM_SHA384),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        Suite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        Suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        Suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        Suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        Suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        Suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        Suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The suites an `ssl_ciphers` list allows, in rustls' order of preference; an error
/// names the first entry with no counterpart.
pub(crate) fn cipher_suites(
    list: &str,
    all: &[SupportedCipherSuite],
) -> Result<Vec<SupportedCipherSuite>, String> {
    let mut named = Vec::new();
    for name in list.split(':').map(str::trim).filter(|n| !n.is_empty()) {
        let Some((_, suite)) = CIPHER_NAMES.iter().find(|(n, _)| *n == name) else {
            return Err(format!(
                "ssl_ciphers: \"{name}\" has no counterpart in rustls; name suites from: {}",
                CIPHER_NAMES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(":")
            ));
        };
        named.push(*suite);
    }
    if named.is_empty() {
        return Err("ssl_ciphers: the list names no cipher".into());
    }
    let tls13_named = all
        .iter()
        .any(|s| s.tls13().is_some() && named.contains(&s.suite()));
    Ok(all
        .iter()
        .filter(|s| match s.tls13() {
            Some(_) => !tls13_named || named.contains(&s.suite()),
            None => named.contains(&s.suite()),
        })
        .copied()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcached_numbers_map_both_ways() {
        for level in 0..=3 {
            let mode = VerifyMode::from_level(level).expect("valid");
            assert_eq!(i64::from(mode.level()), level);
        }
        assert_eq!(VerifyMode::from_level(4), None);
        assert_eq!(VerifyMode::Require.openssl_flags(), 3);
        assert_eq!(VerifyMode::Once.openssl_flags(), 5);
        assert_eq!(MinVersion::from_level(1), None);
        assert_eq!(
            MinVersion::from_level(3).map(MinVersion::name),
            Some("tlsv1.3")
        );
        assert_eq!(KeyFormat::from_number(2), Some(KeyFormat::Der));
        assert_eq!(KeyFormat::from_number(3), None);
    }

    #[test]
    fn cipher_lists_restrict_the_versions_they_name() {
        let all = rustls::crypto::aws_lc_rs::default_provider().cipher_suites;
        let only12 = cipher_suites("ECDHE-ECDSA-AES128-GCM-SHA256", &all).expect("known");
        // TLS 1.3 untouched, TLS 1.2 down to the one named.
        assert_eq!(only12.iter().filter(|s| s.tls13().is_none()).count(), 1);
        assert_eq!(
            only12.iter().filter(|s| s.tls13().is_some()).count(),
            all.iter().filter(|s| s.tls13().is_some()).count()
        );
        let only13 = cipher_suites("TLS_AES_128_GCM_SHA256", &all).expect("known");
        assert_eq!(only13.len(), 1);
        let err = cipher_suites("HIGH:!aNULL", &all).expect_err("keywords have no counterpart");
        assert!(err.contains("\"HIGH\""), "{err}");
    }
}
