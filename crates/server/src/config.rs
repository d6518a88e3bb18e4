//! What the server needs to know from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A size fixed at build time, overridable by an environment variable when building
/// (`CORVID_COPY_MAX=8192 cargo build --release`), so that `bench/thresholds` can build
/// variants and measure where a threshold belongs without a runtime knob on the hot path.
/// A value that is not a plain decimal number fails the build.
pub(crate) const fn build_size(value: Option<&str>, default: usize) -> usize {
    let Some(text) = value else {
        return default;
    };
    let bytes = text.as_bytes();
    assert!(!bytes.is_empty(), "empty build-time size");
    let mut n = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "build-time size is not a number");
        n = n * 10 + (bytes[i] - b'0') as usize;
        i += 1;
    }
    n
}

/// Which protocols a connection may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolMode {
    /// The first byte decides (0x80 is binary), as memcached's `-B auto`.
    Auto,
    /// Text (classic and meta) only.
    Ascii,
    /// Binary only.
    Binary,
}

/// TLS (`-Z`): what connections start from, and which TCP listeners use it.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// Certificates, key, client-certificate rules; reloadable.
    pub context: Arc<channel::tls::TlsContext>,
    /// `-l notls:` addresses: plain TCP beside the TLS listeners.
    pub plain: Vec<SocketAddr>,
    /// `-l mtls:` addresses: a client certificate is required there.
    pub mutual: Vec<SocketAddr>,
    /// A handshake not finished this long after the connection was accepted is given
    /// up: the connection is closed and counted in `ssl_handshake_errors`.
    pub handshake_timeout: Duration,
}

/// How a listener's connections are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain bytes.
    Plain,
    /// TLS.
    Tls,
    /// TLS with a client certificate required (`mtls:`).
    MutualTls,
}

impl ServerTls {
    /// How connections to the TCP listener bound for `addr` are carried.
    pub fn security_of(&self, addr: SocketAddr) -> Security {
        if self.plain.contains(&addr) {
            Security::Plain
        } else if self.mutual.contains(&addr) {
            Security::MutualTls
        } else {
            Security::Tls
        }
    }
}

/// Server settings. Defaults are memcached's.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// TCP addresses to listen on (empty: no TCP).
    pub tcp: Vec<SocketAddr>,
    /// UDP addresses to serve (`-U`; empty: no UDP).
    pub udp: Vec<SocketAddr>,
    /// Unix socket path (`-s`).
    pub unix_socket: Option<PathBuf>,
    /// Permissions of the Unix socket (`-a`, octal).
    pub unix_mask: u32,
    /// Worker threads (`-t`).
    pub threads: usize,
    /// Maximum simultaneous connections (`-c`).
    pub max_conns: usize,
    /// Requests served per connection per wakeup before yielding (`-R`).
    pub reqs_per_event: usize,
    /// Whether the `shutdown` command is honoured (`-A`).
    pub allow_shutdown: bool,
    /// Verbosity (`-v` count).
    pub verbose: u8,
    /// Close connections idle this long (`-o idle_timeout`); None = never.
    pub idle_timeout: Option<Duration>,
    /// Listen backlog (`-b`).
    pub backlog: i32,
    /// `flush_all` allowed (`-F` turns it off).
    pub flush_enabled: bool,
    /// Key dumps allowed (`-X` turns them off: `stats cachedump`, `lru_crawler metadump`).
    pub dump_enabled: bool,
    /// `watch` allowed (`-W` turns it off).
    pub watch_enabled: bool,
    /// Protocol negotiation (`-B`).
    pub protocol: ProtocolMode,
    /// Values shown by `stats settings` that the server does not otherwise use.
    pub tcp_port: u16,
    /// UDP port shown by `stats settings`.
    pub udp_port: u16,
    /// The `-l` text shown by `stats settings` (`inter`).
    pub interface: Option<String>,
    /// Stop reading from a connection whose unsent output exceeds this many bytes.
    pub output_high_watermark: usize,
    /// Resume reading once unsent output is below this.
    pub output_low_watermark: usize,
    /// The disk tier (`-o ext_path=...` and the other `ext_*` options); None: off.
    pub ext: Option<crate::disk_tier::ExtConfig>,
    /// TLS (`-Z`); None: every listener is plain.
    pub tls: Option<ServerTls>,
    /// `-Y`: text connections log in with a user of this file first.
    pub auth_file: Option<Arc<crate::Credentials>>,
    /// `-S`: binary connections authenticate with SASL against this password file.
    pub sasl: Option<Arc<crate::Credentials>>,
    /// The admin HTTP listener's address (`--admin`): metrics, health, stats as JSON.
    pub admin: Option<SocketAddr>,
    /// memcached subsystems Corvid has no counterpart for, as the flags left them.
    pub subsystems: Subsystems,
    /// How workers wait and do their sessions' IO (`-o io_backend`).
    pub io_backend: IoBackend,
}

/// How a worker waits for its sessions and does their IO (docs/io.md, "io_uring").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoBackend {
    /// Readiness: edge-triggered epoll (mio), one `recv`/`send` system call each.
    Epoll,
    /// Completions: one io_uring per worker; receives and sends are submitted and reaped
    /// in one `io_uring_enter` per loop turn. Falls back to epoll (saying so once) where
    /// the kernel refuses io_uring.
    Uring,
}

impl IoBackend {
    /// The backend `name` names (`epoll`, `uring`), as [`IoBackend::name`] spells it.
    pub fn from_name(name: &str) -> Option<IoBackend> {
        match name {
            "epoll" => Some(IoBackend::Epoll),
            "uring" => Some(IoBackend::Uring),
            _ => None,
        }
    }

    /// Its name in `-o io_backend=` and `stats settings`.
    pub fn name(self) -> &'static str {
        match self {
            IoBackend::Epoll => "epoll",
            IoBackend::Uring => "uring",
        }
    }
}

/// memcached subsystems Corvid has no counterpart for, on or off as the flags set them
/// (`-o no_lru_crawler`, `-o no_modern`, ...): `stats` lists their counters (at zero) and
/// `stats settings` their switches only as memcached would with the same flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsystems {
    /// `-o maxconns_fast` (`rejected_connections`).
    pub maxconns_fast: bool,
    /// `-o slab_reassign` (`slab_reassign_*`, `slabs_moved`).
    pub slab_reassign: bool,
    /// `-o lru_crawler` (`lru_crawler_running`, `lru_crawler_starts`).
    pub lru_crawler: bool,
    /// `-o lru_maintainer`, and the segmented LRU that needs it (`lru_maintainer_juggles`,
    /// `moves_to_cold`, ...).
    pub lru_maintainer: bool,
}

impl Default for Subsystems {
    fn default() -> Self {
        Subsystems {
            maxconns_fast: true,
            slab_reassign: true,
            lru_crawler: true,
            lru_maintainer: true,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tcp: Vec::new(),
            udp: Vec::new(),
            unix_socket: None,
            unix_mask: 0o700,
            threads: 4,
            max_conns: 1024,
            reqs_per_event: 20,
            allow_shutdown: false,
            verbose: 0,
            idle_timeout: None,
            backlog: 1024,
            flush_enabled: true,
            dump_enabled: true,
            watch_enabled: true,
            protocol: ProtocolMode::Auto,
            tcp_port: 11211,
            udp_port: 0,
            interface: None,
            output_high_watermark: 1 << 20,
            output_low_watermark: 256 << 10,
            ext: None,
            tls: None,
            auth_file: None,
            sasl: None,
            admin: None,
            subsystems: Subsystems::default(),
            io_backend: IoBackend::Epoll,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::build_size;

    #[test]
    fn build_sizes_default_or_parse() {
        assert_eq!(build_size(None, 4096), 4096);
        assert_eq!(build_size(Some("16384"), 4096), 16384);
        assert_eq!(build_size(Some("0"), 4096), 0);
    }

    #[test]
    #[should_panic(expected = "not a number")]
    fn build_sizes_refuse_junk() {
        build_size(Some("16k"), 4096);
    }
}
