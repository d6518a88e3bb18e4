//! A running memcached, corvid or `corvid proxy` (in front of a memcached) on a free
//! port or a Unix socket, polled until it accepts and killed on drop; and [`Refusal`],
//! why one did not come up.

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, listener, loopback_args, proxy_backend_args, tls, Implementation, TempDir};
use super::{Endpoint, Stream, Transport};

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
                    (endpoint, loopback_args(port, 2))
                }
                Transport::Unix => {
                    let path = dir.path().join("sock");
                    let mut args = vec!["-s".to_string(), path.display().to_string()];
                    args.extend(["-U", "0", "-t", "2"].map(String::from));
                    (Endpoint::Unix(path), args)
                }
            };
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
