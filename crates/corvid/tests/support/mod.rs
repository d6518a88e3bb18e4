//! Shared machinery of the whole-server tests: starting memcached and corvid on free ports,
//! and the differential script runner that compares them byte for byte.
//!
//! Every test binary under `tests/` includes this module and uses a different part of it,
//! hence the `dead_code` allowance: what one binary leaves unused another one needs.
#![allow(dead_code)]

pub mod listener;
pub mod normalise;
pub mod proxy;
pub mod restart_disk;
pub mod run;
pub mod script;
pub mod show;
#[macro_use]
pub mod suite;
pub mod text;
pub mod tls;

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

thread_local! {
    /// Environment variables servers started on this thread get (SASL's configuration).
    static SERVER_ENV: std::cell::RefCell<Vec<(String, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with `vars` in the environment of every server it starts.
pub fn with_server_env<R>(vars: &[(String, String)], f: impl FnOnce() -> R) -> R {
    SERVER_ENV.with(|e| *e.borrow_mut() = vars.to_vec());
    let result = f();
    SERVER_ENV.with(|e| e.borrow_mut().clear());
    result
}

/// The reference implementation. Overridable so a developer can point at a source build.
const MEMCACHED_DEFAULT: &str = "/usr/bin/memcached";

/// How long a freshly spawned server may take to accept its first connection.
const STARTUP_DEADLINE: Duration = Duration::from_secs(10);

/// Pause between two connection attempts while a server starts: bounded polling, the
/// deadline above is what decides failure.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// A port picked by the kernel can be taken by someone else before the server binds it.
const PORT_ATTEMPTS: usize = 5;

/// Why a server did not come up.
#[derive(Debug)]
pub struct Refusal {
    /// The exit status, if the process exited (rather than hanging without accepting).
    pub code: Option<i32>,
    /// What the process wrote to stdout and stderr.
    pub output: String,
    /// A readable account: command line, status, output.
    pub report: String,
}

/// Which implementation a `Server` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    Memcached,
    Corvid,
    /// `corvid proxy` in front of one memcached (the one the script's flags configure),
    /// with `flush_all` allowed: what a client of the proxy sees must be what a client
    /// of that memcached sees.
    Proxy,
}

impl Implementation {
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Memcached => "memcached",
            Implementation::Corvid => "corvid",
            Implementation::Proxy => "proxy",
        }
    }

    fn binary(self) -> PathBuf {
        match self {
            Implementation::Memcached => memcached_binary(),
            Implementation::Corvid | Implementation::Proxy => {
                PathBuf::from(env!("CARGO_BIN_EXE_corvid"))
            }
        }
    }

    /// memcached refuses to run as root without `-u`; test containers often are root.
    /// Corvid gets exactly the flags the script asked for.
    fn implicit_args(self) -> Vec<String> {
        match self {
            Implementation::Memcached if running_as_root() => vec!["-u".into(), "root".into()],
            Implementation::Corvid => server_backend_args(),
            _ => Vec::new(),
        }
    }
}

/// The IO backend this run of the suite puts every Corvid server and proxy on:
/// `CORVID_IO_BACKEND` (`epoll`, `uring`), epoll when unset. `scripts/test` runs the
/// socket-level tests a second time with `uring`. Only the tests read the variable: the
/// binary never does (`-o io_backend=` and `proxy --io-backend` are its switches).
/// Any other value fails the test, so a typo cannot quietly test epoll twice.
pub fn io_backend() -> &'static str {
    match std::env::var("CORVID_IO_BACKEND").as_deref() {
        Err(_) | Ok("epoll") => "epoll",
        Ok("uring") => "uring",
        Ok(other) => panic!("CORVID_IO_BACKEND={other}: neither epoll nor uring"),
    }
}

/// The flags that put a `corvid` server on [`io_backend`] (none for epoll, the default).
pub fn server_backend_args() -> Vec<String> {
    match io_backend() {
        "epoll" => Vec::new(),
        name => vec!["-o".into(), format!("io_backend={name}")],
    }
}

/// The flags that put a `corvid proxy` on [`io_backend`] (none for epoll, the default).
pub fn proxy_backend_args() -> Vec<String> {
    match io_backend() {
        "epoll" => Vec::new(),
        name => vec!["--io-backend".into(), name.into()],
    }
}

/// The path of the reference memcached, failing the test (never skipping it) when absent.
pub fn memcached_binary() -> PathBuf {
    let path = std::env::var_os("MEMCACHED_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(MEMCACHED_DEFAULT));
    assert!(
        path.is_file(),
        "the reference server {} is missing: these tests compare corvid with memcached 1.6; \
         run ./scripts/test, which installs the Debian memcached package (or set MEMCACHED_BIN)",
        path.display()
    );
    path
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Where a server listens.
#[derive(Clone, Debug)]
pub enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A connected client socket of either family, for code that does not care which.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<tls::TlsClient>),
}

impl Stream {
    pub fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tls(s) => s.sock.set_read_timeout(t),
        }
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(t),
            Stream::Unix(s) => s.set_write_timeout(t),
            Stream::Tls(s) => s.sock.set_write_timeout(t),
        }
    }

    /// Closes the sending half: the server reads end-of-file but may still answer.
    pub fn shutdown_write(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            // TLS ends with a close_notify, then the FIN.
            Stream::Tls(s) => {
                s.conn.send_close_notify();
                std::io::Write::flush(s.as_mut())?;
                s.sock.shutdown(std::net::Shutdown::Write)
            }
        }
    }
}

impl std::io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl std::io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A private scratch directory (server logs, Unix sockets), removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Short names: a Unix socket path must fit in 108 bytes.
        let path = std::env::temp_dir().join(format!("cvt-{}-{label}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A running memcached or corvid process, killed when dropped.
pub struct Server {
    implementation: Implementation,
    child: Child,
    endpoint: Endpoint,
    args: Vec<String>,
    /// Over TLS: the certificates it serves and a client trusting them.
    tls: Option<(tls::Pki, std::sync::Arc<rustls::ClientConfig>)>,
    /// The memcached behind a proxy, stopped after it.
    backend: Option<Box<Server>>,
    // Declared last: the log and socket live here and must outlive the process.
    dir: TempDir,
}

impl Server {
    /// memcached on a free 127.0.0.1 port with `-U 0 -t 2` and `args`.
    pub fn memcached(args: &[&str]) -> Server {
        Server::start(Implementation::Memcached, args, Transport::Tcp)
    }

    /// corvid on a free 127.0.0.1 port with `-U 0 -t 2` and `args`.
    pub fn corvid(args: &[&str]) -> Server {
        Server::start(Implementation::Corvid, args, Transport::Tcp)
    }

    /// memcached listening only on a Unix socket in a private directory.
    pub fn memcached_unix(args: &[&str]) -> Server {
        Server::start(Implementation::Memcached, args, Transport::Unix)
    }

    /// corvid listening only on a Unix socket in a private directory.
    pub fn corvid_unix(args: &[&str]) -> Server {
        Server::start(Implementation::Corvid, args, Transport::Unix)
    }

    /// Either implementation, over either transport.
    pub fn start(implementation: Implementation, args: &[&str], transport: Transport) -> Server {
        Server::try_start(implementation, args, transport).unwrap_or_else(|refusal| {
            panic!(
                "{} did not start: {}",
                implementation.name(),
                refusal.report
            )
        })
    }

    /// Like `start`, but a server that exits or never accepts is an `Err`, for tests of
    /// command lines a server must refuse.
    pub fn try_start(
        implementation: Implementation,
        args: &[&str],
        transport: Transport,
    ) -> Result<Server, Refusal> {
        if implementation == Implementation::Proxy {
            return Server::try_start_proxy(args, transport);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = TempDir::new(implementation.name());
            let (endpoint, mut full_args) = match transport {
                Transport::Tcp | Transport::Tls => {
                    let port = free_port();
                    let endpoint = Endpoint::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
                    let args = vec![
                        "-p".to_string(),
                        port.to_string(),
                        "-l".into(),
                        "127.0.0.1".into(),
                    ];
                    (endpoint, args)
                }
                Transport::Unix => {
                    let path = dir.path().join("sock");
                    let args = vec!["-s".to_string(), path.display().to_string()];
                    (Endpoint::Unix(path), args)
                }
            };
            full_args.extend(["-U", "0", "-t", "2"].map(String::from));
            full_args.extend(implementation.implicit_args());
            let tls = (transport == Transport::Tls).then(|| {
                let pki = tls::Pki::new();
                full_args.extend(pki.write(dir.path()).args());
                let client = pki.client(false);
                (pki, client)
            });
            // `${dir}`: this server's private directory (an extstore file goes there).
            let here = dir.path().display().to_string();
            full_args.extend(args.iter().map(|a| a.replace("${dir}", &here)));

            let log_path = dir.path().join("log");
            let log = fs::File::create(&log_path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
            let log_err = log.try_clone().expect("duplicate a log file handle");
            let binary = implementation.binary();
            let env = SERVER_ENV.with(|e| e.borrow().clone());
            let child = Command::new(&binary)
                .args(&full_args)
                .envs(env)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let mut server = Server {
                implementation,
                child,
                endpoint,
                args: full_args,
                tls,
                backend: None,
                dir,
            };
            match server.wait_until_accepting() {
                Ok(()) => return Ok(server),
                Err(refusal) => {
                    // Someone else took the port between our probe and the server's bind.
                    let port_taken = matches!(transport, Transport::Tcp | Transport::Tls)
                        && (refusal.output.contains("in use")
                            || refusal.output.contains("EADDRINUSE"));
                    if !port_taken || attempt == PORT_ATTEMPTS {
                        return Err(refusal);
                    }
                }
            }
        }
    }

    /// memcached with `args`, and `corvid proxy` in front of it (`--threads 2`, a TOML
    /// configuration of one pool of that one server, `flush_all` allowed).
    fn try_start_proxy(args: &[&str], transport: Transport) -> Result<Server, Refusal> {
        let backend = Server::try_start(Implementation::Memcached, args, Transport::Tcp)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = TempDir::new("proxy");
            let (endpoint, listen) = match transport {
                Transport::Tcp => {
                    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
                    (Endpoint::Tcp(addr), addr.to_string())
                }
                Transport::Unix => {
                    let path = dir.path().join("sock");
                    let listen = path.display().to_string();
                    (Endpoint::Unix(path), listen)
                }
                Transport::Tls => panic!("the proxy has no TLS listeners"),
            };
            let config = dir.path().join("proxy.toml");
            let text = format!(
                "[[listen]]\naddress = \"{listen}\"\nroute = \"main\"\n\n\
                 [pools.main]\nservers = [\"127.0.0.1:{}:1\"]\nallow_flush_all = true\n",
                backend.port()
            );
            fs::write(&config, text).expect("write the proxy's configuration");
            let log_path = dir.path().join("log");
            let mut full_args: Vec<String> = vec![
                "proxy".into(),
                "--toml".into(),
                config.display().to_string(),
                "-s".into(),
                free_port().to_string(),
                "-a".into(),
                "127.0.0.1".into(),
                "-o".into(),
                log_path.display().to_string(),
                "--threads".into(),
                "2".into(),
            ];
            full_args.extend(proxy_backend_args());
            let log = fs::File::create(dir.path().join("out"))
                .unwrap_or_else(|e| panic!("cannot create the proxy's output file: {e}"));
            let log_err = log.try_clone().expect("duplicate a log file handle");
            let binary = Implementation::Proxy.binary();
            let child = Command::new(&binary)
                .args(&full_args)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let mut server = Server {
                implementation: Implementation::Proxy,
                child,
                endpoint,
                args: full_args,
                tls: None,
                backend: None,
                dir,
            };
            match server.wait_until_accepting() {
                Ok(()) => {
                    server.backend = Some(Box::new(backend));
                    return Ok(server);
                }
                Err(refusal) => {
                    let port_taken = refusal.output.contains("in use");
                    if !port_taken || attempt == PORT_ATTEMPTS {
                        return Err(refusal);
                    }
                }
            }
        }
    }

    /// Polls with a connection attempt until the server accepts one, it exits, or the
    /// startup deadline passes.
    fn wait_until_accepting(&mut self) -> Result<(), Refusal> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let output = self.log();
                return Err(Refusal {
                    code: status.code(),
                    report: format!(
                        "{} {:?} exited with {status} before accepting connections; its \
                         output:\n{output}",
                        self.implementation.name(),
                        self.args,
                    ),
                    output,
                });
            }
            if self.try_connect().is_ok() && self.owns_its_port() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let output = self.log();
                return Err(Refusal {
                    code: None,
                    report: format!(
                        "{} {:?} accepted no connection within {STARTUP_DEADLINE:?}; its \
                         output:\n{output}",
                        self.implementation.name(),
                        self.args,
                    ),
                    output,
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Its TCP port is held by this very process, not by another test's server that
    /// took the port after it was picked (see [`listener`]).
    fn owns_its_port(&self) -> bool {
        match &self.endpoint {
            Endpoint::Tcp(addr) => listener::listens_on(self.child.id(), addr.port()),
            Endpoint::Unix(_) => true,
        }
    }

    pub fn try_connect(&self) -> std::io::Result<Stream> {
        match &self.endpoint {
            Endpoint::Tcp(addr) if self.tls.is_some() => {
                let client = self.tls.as_ref().map(|(_, c)| c.clone()).expect("tls");
                let s = tls::connect(*addr, client, Duration::from_secs(5))?;
                Ok(Stream::Tls(Box::new(s)))
            }
            Endpoint::Tcp(addr) => {
                let s = TcpStream::connect_timeout(addr, Duration::from_secs(1))?;
                // Scripts split writes on purpose; Nagle would glue them back together.
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Endpoint::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
        }
    }

    /// A new client connection, panicking if the server refuses it.
    pub fn connect(&self) -> Stream {
        self.try_connect().unwrap_or_else(|e| {
            panic!(
                "cannot connect to {} at {:?}: {e}; its output:\n{}",
                self.implementation.name(),
                self.endpoint,
                self.log()
            )
        })
    }

    /// The certificates a TLS server serves (None over plain transports).
    pub fn pki(&self) -> Option<&tls::Pki> {
        self.tls.as_ref().map(|(pki, _)| pki)
    }

    pub fn implementation(&self) -> Implementation {
        self.implementation
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The TCP port, for tools that take `-p`.
    pub fn port(&self) -> u16 {
        match &self.endpoint {
            Endpoint::Tcp(addr) => addr.port(),
            Endpoint::Unix(path) => panic!("server on {} has no TCP port", path.display()),
        }
    }

    /// Whatever the process wrote to stdout and stderr so far (a proxy's log too).
    pub fn log(&self) -> String {
        let mut text = String::new();
        for name in ["log", "out"] {
            if let Ok(mut f) = fs::File::open(self.dir.path().join(name)) {
                let _ = f.read_to_string(&mut text);
            }
        }
        text
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the process a signal (SIGTERM, SIGUSR1, SIGKILL, ...).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid, which `child` keeps from being reused
        // until it is waited for.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.child.id());
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (bounded) for the process to exit by itself, e.g. after `shutdown`.
    pub fn wait_for_exit(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + deadline;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How clients reach a server: TCP on 127.0.0.1, or a Unix socket (`-s`), or TLS over
/// TCP (`-Z` with certificates made for the test).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Unix,
    Tls,
}

/// A port nobody listens on right now: the kernel's pick for an ephemeral bind.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local address of a bound socket")
        .port()
}

/// Polls until a socket is bound to `addr`'s UDP port. A server accepting on TCP may not
/// have bound its UDP socket yet (both bind TCP first), and a datagram sent in that gap
/// comes back as an ICMP error that fails the test's next send. The kernel's socket table
/// is asked rather than the server, whose counters the tests compare.
pub fn wait_until_udp_bound(addr: SocketAddr, who: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let local = format!(":{:04X} ", addr.port());
    loop {
        let table = std::fs::read_to_string("/proc/net/udp").expect("read /proc/net/udp");
        // Columns: sl, local_address (hex ip:port), rem_address, ...
        if table
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(1))
            .any(|local_address| format!("{local_address} ").ends_with(&local))
        {
            return;
        }
        assert!(Instant::now() < deadline, "{who} never bound udp {addr}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
