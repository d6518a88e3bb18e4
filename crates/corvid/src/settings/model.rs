//! What the command line and the config files amount to: the settings main starts the
//! server with, and what else a command line can ask for.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the server (boxed: the settings are large beside the other answers).
    Serve(Box<Settings>),
    /// Print this text to stdout and exit 0 (`-h`, and `-i` for the license).
    Help(String),
    /// Print this line to stdout and exit 0 (`-V`).
    Version(String),
    /// Print these settings (TOML, `--print-config`) to stdout and exit 0.
    PrintConfig(String),
}

/// Which protocols a connection may speak (`-B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolMode {
    /// The first byte decides: `0x80` is binary, anything else text.
    #[default]
    Auto,
    Ascii,
    Binary,
}

/// Everything the command line configures. Defaults are memcached's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `-p`: TCP port; 0 turns TCP off and -1 asks the kernel for a free port, as in
    /// memcached. See [`Settings::tcp_port`].
    pub port: i32,
    /// `-U`: UDP port; 0 is off (the default), -1 a free port.
    pub udp_port: i32,
    /// `-s`: a Unix socket path; when set, TCP and UDP are off.
    pub unix_socket: Option<PathBuf>,
    /// `-a`: permission bits of the Unix socket.
    pub unix_mask: u32,
    /// `-l`: addresses to listen on (each `host` or `host:port`); empty means all.
    pub listen: Vec<String>,
    /// `-m`: item memory in bytes (the flag is in MiB).
    pub memory_limit: usize,
    /// `-M`: answer an error when memory is full instead of evicting.
    pub no_evict: bool,
    /// `-c`: most connections open at once.
    pub max_conns: usize,
    /// `-t`: worker threads.
    pub threads: usize,
    /// `-I`: largest item in bytes.
    pub item_size_max: usize,
    /// `-v`: how many times it was given (`-vv` is 2).
    pub verbose: u8,
    /// `-R`: requests served per connection per wakeup before it yields.
    pub reqs_per_event: usize,
    /// `-C`
    pub cas_disabled: bool,
    /// `-A`: allow the text `shutdown` command.
    pub allow_shutdown: bool,
    /// `-B`
    pub protocol: ProtocolMode,
    /// `-u`: user to run as.
    pub user: Option<String>,
    /// `-o idle_timeout=N`: seconds; 0 is off.
    pub idle_timeout: u64,
    /// `-o io_backend=uring`: workers do their sessions' IO on io_uring (else epoll).
    pub io_uring: bool,
    /// One line each, for main to print at start: flags accepted but not acted on.
    pub warnings: Vec<String>,
    /// Options accepted and ignored, by config key, with their value in command-line
    /// syntax: kept so `--print-config` shows them (and its output starts the same server,
    /// warnings included).
    pub ignored: BTreeMap<&'static str, String>,
    /// The `-o ext_*` keys (the disk tier), in order, as given: the server reads them
    /// with `server::disk_tier::options::ExtOptions`.
    pub ext: Vec<(String, Option<String>)>,
    /// `-d`: detach into the background.
    pub daemonize: bool,
    /// `-P`: where to write the process id.
    pub pid_file: Option<PathBuf>,
    /// `-b`: listen backlog.
    pub backlog: u32,
    /// `-F` clears it: `flush_all` is refused.
    pub flush_enabled: bool,
    /// `-X` clears it: `stats cachedump` and `lru_crawler metadump` are refused.
    pub dump_enabled: bool,
    /// `-W` clears it: `watch` is refused.
    pub watch_enabled: bool,
    /// `-k`: mlockall.
    pub lock_memory: bool,
    /// `-r`: raise the core file size limit.
    pub enable_coredumps: bool,
    /// `-o maxconns_fast` (default) / `no_maxconns_fast`: over `-c`, reject new
    /// connections with `ERROR Too many open connections` rather than stop accepting.
    pub maxconns_fast: bool,
    /// `-e`: the item heap is this file, kept across a clean stop (warm restart).
    pub memory_file: Option<PathBuf>,
    /// `-Z`: TLS on the TCP listeners (except `-l notls:` ones).
    pub tls_enabled: bool,
    /// The `-o ssl_*` options.
    pub tls: channel::tls::TlsSettings,
    /// `-o ssl_handshake_timeout`: seconds a TLS client has to finish its handshake.
    pub ssl_handshake_timeout: u64,
    /// `-Y`: the authfile text connections log in against.
    pub auth_file: Option<PathBuf>,
    /// `-S`: SASL on binary connections.
    pub sasl: bool,
    /// `--admin`: where the admin HTTP listener (metrics, health, stats as JSON) binds;
    /// off when `None`.
    pub admin: Option<std::net::SocketAddr>,
}

pub(super) const MIB: usize = 1024 * 1024;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: 11211,
            udp_port: 0,
            unix_socket: None,
            unix_mask: 0o700,
            listen: Vec::new(),
            memory_limit: 64 * MIB,
            no_evict: false,
            max_conns: 1024,
            threads: 4,
            item_size_max: MIB,
            verbose: 0,
            reqs_per_event: 20,
            cas_disabled: false,
            allow_shutdown: false,
            protocol: ProtocolMode::Auto,
            user: None,
            idle_timeout: 0,
            io_uring: false,
            warnings: Vec::new(),
            ignored: BTreeMap::new(),
            ext: Vec::new(),
            daemonize: false,
            pid_file: None,
            backlog: 1024,
            flush_enabled: true,
            dump_enabled: true,
            watch_enabled: true,
            lock_memory: false,
            enable_coredumps: false,
            maxconns_fast: true,
            memory_file: None,
            tls_enabled: false,
            tls: channel::tls::TlsSettings::default(),
            ssl_handshake_timeout: 10,
            auth_file: None,
            sasl: false,
            admin: None,
        }
    }
}

impl Settings {
    /// The TCP port to bind, or `None` when TCP is off (`-p 0`, or `-s`). 0 (from `-p -1`)
    /// lets the kernel pick one.
    pub fn tcp_port(&self) -> Option<u16> {
        (self.unix_socket.is_none() && self.port != 0).then(|| bind_port(self.port))
    }

    /// The UDP port to bind, or `None` when UDP is off (`-U 0`, or `-s`); 0 as above.
    pub fn udp_bind_port(&self) -> Option<u16> {
        (self.unix_socket.is_none() && self.udp_port != 0).then(|| bind_port(self.udp_port))
    }
}

/// memcached's -1 ("any free port") is port 0 to bind(); `finish` has checked the range.
fn bind_port(port: i32) -> u16 {
    u16::try_from(port).unwrap_or(0)
}
