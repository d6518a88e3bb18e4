//! Proxy processes for the serving tests: `corvid proxy` (from a twemproxy YAML or a
//! Corvid TOML) or nutcracker on a free port, a plain client with generous timeouts, and
//! backends restarted on the port they had.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, memcached_binary, running_as_root, TempDir};

/// How long a process may take to accept its first connection on the loaded machine.
pub const STARTUP: Duration = Duration::from_secs(20);

/// A process the test started (a proxy, or a restarted backend), killed on drop.
pub struct Proxy {
    pub child: Child,
    pub addr: SocketAddr,
    /// The JSON stats port (0 for a backend).
    pub stats: u16,
    /// The configuration file (a proxy), rewritten by reload tests.
    pub conf: PathBuf,
    pub dir: TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Sends the process a signal by its pid (never by name: the machine is shared).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid, which `child` keeps from being reused
        // until it is waited for.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.child.id());
    }

    /// The resident set size, from /proc (bytes).
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read the proxy's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .expect("VmRSS in /proc status")
            * 1024
    }
}

pub fn nutcracker_binary() -> PathBuf {
    ["/usr/sbin/nutcracker", "/usr/bin/nutcracker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nutcracker is installed (./scripts/test installs it)")
}

/// Which proxy, read from which kind of file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nutcracker,
    CorvidYaml,
    CorvidToml,
}

/// Starts a proxy with the configuration `make(listen)` gives; `threads` workers
/// (corvid only).
pub fn start(kind: Kind, threads: usize, make: impl Fn(SocketAddr) -> String) -> Proxy {
    let dir = TempDir::new(if kind == Kind::Nutcracker {
        "nut"
    } else {
        "cpx"
    });
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let conf = dir.path().join(match kind {
        Kind::CorvidToml => "proxy.toml",
        _ => "proxy.yml",
    });
    std::fs::write(&conf, make(addr)).expect("write the configuration");
    let stats_port = free_port();
    let stats = stats_port.to_string();
    let log = dir.path().join("log");
    let conf_arg = conf.display().to_string();
    let log_arg = log.display().to_string();
    let mut command = match kind {
        Kind::Nutcracker => {
            let mut c = Command::new(nutcracker_binary());
            c.args(["-c", &conf_arg]);
            c
        }
        Kind::CorvidYaml | Kind::CorvidToml => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_corvid"));
            let flag = if kind == Kind::CorvidToml {
                "--toml"
            } else {
                "-c"
            };
            c.args(["proxy", "--threads", &threads.to_string(), flag, &conf_arg]);
            c.args(super::proxy_backend_args());
            c
        }
    };
    command.args(["-s", &stats, "-a", "127.0.0.1", "-o", &log_arg]);
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the proxy");
    let mut proxy = Proxy {
        child,
        addr,
        stats: stats_port,
        conf,
        dir,
    };
    let deadline = Instant::now() + STARTUP;
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = proxy.child.try_wait() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("proxy exited ({status}) before accepting: {log}");
        }
        assert!(Instant::now() < deadline, "proxy never accepted on {addr}");
        std::thread::sleep(Duration::from_millis(10));
    }
    proxy
}

/// `corvid proxy --toml FILE --explain KEY`'s output.
pub fn explain(conf: &Path, key: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_corvid"))
        .args(["proxy", "--toml"])
        .arg(conf)
        .args(["--explain", key])
        .output()
        .expect("run corvid proxy --explain");
    assert!(
        output.status.success(),
        "--explain {key}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The ports of the servers an `--explain` line (`  read: ...`, `  write: ...`) names,
/// in its order (`pool/127.0.0.1:PORT:WEIGHT`), the shadow copy's last.
pub fn explained_ports(explanation: &str, verb: &str) -> Vec<u16> {
    let line = explanation
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{verb}:")))
        .unwrap_or_else(|| panic!("no {verb} line in {explanation}"));
    line.split("127.0.0.1:")
        .skip(1)
        .map(|s| {
            s.split(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("a port")
        })
        .collect()
}

/// A backend (re)started on a given port: memcached, or corvid's server.
pub fn backend_on(corvid: bool, port: u16) -> Proxy {
    let mut command = if corvid {
        Command::new(env!("CARGO_BIN_EXE_corvid"))
    } else {
        Command::new(memcached_binary())
    };
    command.args(super::loopback_args(port, 1));
    if corvid {
        command.args(super::server_backend_args());
    }
    if !corvid && running_as_root() {
        command.args(["-u", "root"]);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a backend");
    let back = Proxy {
        child,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        stats: 0,
        conf: PathBuf::new(),
        dir: TempDir::new("back"),
    };
    let started = Instant::now();
    while TcpStream::connect(back.addr).is_err() {
        assert!(
            started.elapsed() < STARTUP,
            "the backend did not come up on {port}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    back
}

/// A client connection with generous timeouts (the machine is loaded).
pub struct Client(pub TcpStream);

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).ok();
        s.set_nodelay(true).ok();
        Client(s)
    }

    pub fn to_port(port: u16) -> Client {
        Client::new(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Sends `bytes` and reads until the reply ends with `end` (counted `times`).
    pub fn ask(&mut self, bytes: &[u8], end: &[u8], times: usize) -> Vec<u8> {
        self.0.write_all(bytes).expect("send");
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        while count(&got, end) < times {
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!(
                    "no complete reply to {:?}: {e}; got {:?}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]),
                    String::from_utf8_lossy(&got)
                ),
            }
        }
        got
    }

    /// One reply line.
    pub fn line(&mut self, bytes: &[u8]) -> String {
        String::from_utf8_lossy(&self.ask(bytes, b"\r\n", 1)).into_owned()
    }

    /// Whether the server holds `key` (asked directly of a backend).
    pub fn has(&mut self, key: &str) -> bool {
        self.ask(format!("get {key}\r\n").as_bytes(), b"END\r\n", 1)
            .starts_with(b"VALUE")
    }
}

pub fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}
