//! The certificates, key and client-certificate rules every TLS connection starts from,
//! loaded from the files `ssl_chain_cert`, `ssl_key` and `ssl_ca_cert` name, and
//! reloaded on demand (`refresh_certs`, SIGHUP): a reload builds a whole new rustls
//! configuration first and swaps it in only if everything loaded, so a failed reload
//! keeps the old one and says why. Connections hold the configuration they started with:
//! new ones get the new certificate, old ones keep theirs.

use super::counters::TlsCounters;
use super::settings::{cipher_suites, KeyFormat, MinVersion, TlsSettings, VerifyMode};
use super::stream::TlsStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, StoresServerSessions};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{InconsistentKeys, RootCertStore, SupportedProtocolVersion};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Sessions a server-side cache keeps (OpenSSL's default cache size, which memcached's
/// `ssl_session_cache` uses).
const SESSION_CACHE_SIZE: usize = 20 * 1024;

/// Why the TLS configuration could not be (re)loaded. The texts are memcached's, with
/// rustls' reason where memcached prints OpenSSL's.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("Error loading the certificate chain: {path} : {reason}")]
    Chain { path: String, reason: String },
    #[error("Error loading the key: {path} : {reason}")]
    Key { path: String, reason: String },
    #[error("Error validating the certificate")]
    Mismatch,
    #[error("Error loading the CA certificate: {path} : {reason}")]
    Ca { path: String, reason: String },
    /// A setting rustls cannot honour (a cipher name, verification without a CA).
    #[error("{0}")]
    Setting(String),
}

/// The rustls configurations in force.
struct Live {
    /// For TLS listeners: client certificates per `ssl_verify_mode`.
    default: Arc<ServerConfig>,
    /// For `mtls:` listeners: a client certificate required (needs `ssl_ca_cert`).
    mutual: Option<Arc<ServerConfig>>,
    loaded_at: Instant,
}

/// What every TLS connection of the server starts from.
pub struct TlsContext {
    settings: TlsSettings,
    counters: Arc<TlsCounters>,
    /// Kept across reloads: sessions survive a certificate refresh.
    sessions: Arc<dyn StoresServerSessions>,
    live: Mutex<Live>,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TlsContext {
    /// Loads the certificate chain, the key and the CA file `settings` name.
    pub fn new(settings: TlsSettings) -> Result<TlsContext, TlsError> {
        let counters = Arc::new(TlsCounters::default());
        let sessions: Arc<dyn StoresServerSessions> = if settings.session_cache {
            Arc::new(CountedSessions {
                inner: ServerSessionMemoryCache::new(SESSION_CACHE_SIZE),
                counters: counters.clone(),
            })
        } else {
            Arc::new(NoServerSessionStorage {})
        };
        let live = load(&settings, &sessions)?;
        Ok(TlsContext {
            settings,
            counters,
            sessions,
            live: Mutex::new(live),
        })
    }

    /// Loads the files again; on success new connections use what was loaded, on
    /// failure nothing changes.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = load(&self.settings, &self.sessions)?;
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// Whether `mtls:` listeners can be served (a CA file was given).
    pub fn supports_mutual(&self) -> bool {
        self.settings.ca_cert.is_some()
    }

    /// Seconds since the certificate in force was loaded.
    pub fn seconds_since_refresh(&self) -> u64 {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.loaded_at.elapsed().as_secs()
    }

    /// The settings it was made from.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Its counters.
    pub fn counters(&self) -> &TlsCounters {
        &self.counters
    }

    /// An accepted TCP connection as a TLS stream whose handshake has not begun;
    /// `mutual` requires a client certificate. None when no TLS connection can be made
    /// for it (an `mtls:` listener without a CA, which start-up refuses): drop it.
    /// [`Stream::into_tls`](crate::Stream::into_tls) is the way in for a `Stream`.
    pub fn accept(&self, tcp: mio::net::TcpStream, mutual: bool) -> Option<TlsStream> {
        let config = {
            let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            if mutual {
                live.mutual.clone()?
            } else {
                live.default.clone()
            }
        };
        let conn = rustls::ServerConnection::new(config).ok()?;
        Some(TlsStream::new(
            tcp,
            conn,
            self.settings.wbuf_size,
            self.counters.clone(),
        ))
    }
}

/// Builds the configurations `settings` describe, from their files.
fn load(
    settings: &TlsSettings,
    sessions: &Arc<dyn StoresServerSessions>,
) -> Result<Live, TlsError> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(list) = &settings.ciphers {
        provider.cipher_suites =
            cipher_suites(list, &provider.cipher_suites).map_err(TlsError::Setting)?;
    }
    let provider = Arc::new(provider);
    let key = certified_key(settings, &provider)?;
    let roots = match &settings.ca_cert {
        Some(path) => Some(Arc::new(ca_roots(path)?)),
        None => None,
    };
    let versions: &[&SupportedProtocolVersion] = match settings.min_version {
        MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let build = |verifier| -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::Setting(format!("ssl_ciphers: {e}")))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(key.clone())));
        config.session_storage = sessions.clone();
        if !settings.session_cache {
            // As memcached without ssl_session_cache: no resumption at all.
            config.send_tls13_tickets = 0;
        }
        Ok(Arc::new(config))
    };
    let verifier = match (settings.verify_mode, &roots) {
        (VerifyMode::None, _) => WebPkiClientVerifier::no_client_auth(),
        (mode, Some(roots)) => {
            let builder =
                WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
            let builder = match mode {
                VerifyMode::Require => builder,
                _ => builder.allow_unauthenticated(),
            };
            builder
                .build()
                .map_err(|e| TlsError::Setting(format!("ssl_ca_cert: {e}")))?
        }
        (mode, None) => {
            return Err(TlsError::Setting(format!(
                "ssl_verify_mode={} needs ssl_ca_cert: the CA client certificates are checked \
                 against",
                mode.level()
            )))
        }
    };
    let default = build(verifier)?;
    let mutual = match &roots {
        Some(roots) => Some(build(
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| TlsError::Setting(format!("ssl_ca_cert: {e}")))?,
        )?),
        None => None,
    };
    Ok(Live {
        default,
        mutual,
        loaded_at: Instant::now(),
    })
}

fn shown(path: Option<&Path>) -> String {
    path.map_or_else(|| "(null)".to_string(), |p| p.display().to_string())
}

/// The chain and its key, checked to belong together.
fn certified_key(
    settings: &TlsSettings,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain_path = settings.chain_cert.as_deref();
    let chain_error = |reason: String| TlsError::Chain {
        path: shown(chain_path),
        reason,
    };
    let path = chain_path.ok_or_else(|| chain_error("no ssl_chain_cert given".into()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| chain_error(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| chain_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(chain_error("no certificate in the file".into()));
    }
    let key_path = settings.key.as_deref().unwrap_or(path);
    let key_error = |reason: String| TlsError::Key {
        path: key_path.display().to_string(),
        reason,
    };
    let key_der: PrivateKeyDer<'static> = match settings.key_format {
        KeyFormat::Pem => {
            PrivateKeyDer::from_pem_file(key_path).map_err(|e| key_error(e.to_string()))?
        }
        KeyFormat::Der => {
            let bytes = std::fs::read(key_path).map_err(|e| key_error(e.to_string()))?;
            PrivateKeyDer::try_from(bytes).map_err(|e| key_error(e.to_string()))?
        }
    };
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| key_error(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(_) => Err(TlsError::Mismatch),
    }
}

/// The CA certificates client certificates must chain to.
fn ca_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let error = |reason: String| TlsError::Ca {
        path: path.display().to_string(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| error(e.to_string()))? {
        roots
            .add(cert.map_err(|e| error(e.to_string()))?)
            .map_err(|e| error(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(error("no certificate in the file".into()));
    }
    Ok(roots)
}

/// rustls' session cache, counting the sessions it stores (`ssl_new_sessions`).
#[derive(Debug)]
struct CountedSessions {
    inner: Arc<ServerSessionMemoryCache>,
    counters: Arc<TlsCounters>,
}

impl StoresServerSessions for CountedSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.counters.new_sessions.fetch_add(1, Relaxed);
        self.inner.put(key, value)
    }
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key)
    }
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.take(key)
    }
    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}
