//! Real servers for the placement tests: memcached backends on free ports, nutcracker in
//! front of them, and asking a backend which keys it holds.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a spawned server may take to accept its first connection.
/// Generous: the machine running the suite is often loaded (a slow start or a slow
/// crawl is not a placement error).
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Keys written per round trip.
const BATCH: usize = 500;

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "corvid-proxy-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed on drop.
pub struct Process {
    pub child: Child,
    pub what: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running_as_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
}

/// A port the kernel just handed out on `ip`.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_until_accepting(process: &mut Process, endpoint: &Endpoint) {
    let deadline = Instant::now() + STARTUP_DEADLINE;
    loop {
        if endpoint.connect().is_ok() {
            return;
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = process.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{} exited ({status}) before accepting: {err}", process.what);
        }
        assert!(
            Instant::now() < deadline,
            "{} never accepted on {endpoint:?}",
            process.what
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Where a backend listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A connection to an [`Endpoint`].
enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Endpoint {
    /// A connection whose reads give up after [`IO_TIMEOUT`] (a hung peer fails the
    /// test with a message instead of hanging it).
    fn connect(&self) -> std::io::Result<Conn> {
        match self {
            Endpoint::Tcp(addr) => TcpStream::connect(addr).and_then(|s| {
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                Ok(Conn::Tcp(s))
            }),
            Endpoint::Unix(path) => UnixStream::connect(path).and_then(|s| {
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                Ok(Conn::Unix(s))
            }),
        }
    }
}

/// A memcached backend.
pub struct Memcached {
    pub endpoint: Endpoint,
    _process: Process,
}

impl Memcached {
    /// On `ip` and a free port.
    pub fn start(ip: Ipv4Addr) -> Memcached {
        Memcached::start_on(ip, free_port(ip)).expect("memcached starts")
    }

    /// On `ip:port`; `None` when that address cannot be bound.
    pub fn start_on(ip: Ipv4Addr, port: u16) -> Option<Memcached> {
        TcpListener::bind((ip, port)).ok()?;
        let args = ["-l", &ip.to_string(), "-p", &port.to_string(), "-U", "0"].map(String::from);
        Some(Memcached::spawn(
            &args,
            Endpoint::Tcp(SocketAddr::from((ip, port))),
        ))
    }

    /// On a Unix socket at `path`.
    pub fn start_unix(path: &Path) -> Memcached {
        let args = ["-s".to_string(), path_str(path).to_string()];
        Memcached::spawn(&args, Endpoint::Unix(path.to_path_buf()))
    }

    fn spawn(listen: &[String], endpoint: Endpoint) -> Memcached {
        let mut args = listen.to_vec();
        args.extend(["-m", "64", "-t", "1"].map(String::from));
        if running_as_root() {
            args.extend(["-u".to_string(), "root".to_string()]);
        }
        let child = Command::new("/usr/bin/memcached")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn /usr/bin/memcached (apt-get install memcached)");
        let mut process = Process {
            child,
            what: format!("memcached {endpoint:?}"),
        };
        wait_until_accepting(&mut process, &endpoint);
        Memcached {
            endpoint,
            _process: process,
        }
    }

    /// The TCP address (for a TCP backend).
    pub fn addr(&self) -> SocketAddr {
        match &self.endpoint {
            Endpoint::Tcp(addr) => *addr,
            Endpoint::Unix(path) => panic!("{} is a Unix socket", path.display()),
        }
    }

    /// Every key this server holds that starts with `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        // memcached's own background crawler may be walking the LRU: the dump is refused
        // with BUSY until it is done, so ask again (polling, with a generous deadline).
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Some(keys) = self.try_keys(prefix) {
                return keys;
            }
            assert!(
                Instant::now() < deadline,
                "lru_crawler stayed busy on {:?}",
                self.endpoint
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The keys, or `None` when the crawler is busy.
    fn try_keys(&self, prefix: &str) -> Option<Vec<String>> {
        let mut conn = self.endpoint.connect().expect("connect to memcached");
        conn.write_all(b"lru_crawler metadump all\r\n")
            .expect("metadump");
        let mut reader = BufReader::new(conn);
        let mut keys = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).expect("read metadump");
            assert!(n > 0, "memcached closed during metadump");
            let text = line.trim_end();
            if text == "END" {
                break;
            }
            if text.starts_with("BUSY") {
                return None;
            }
            assert!(!text.starts_with("ERROR"), "{text}");
            let Some(encoded) = text.strip_prefix("key=").and_then(|r| r.split(' ').next()) else {
                continue;
            };
            let key = percent_decode(encoded);
            if key.starts_with(prefix) {
                keys.push(key);
            }
        }
        Some(keys)
    }
}

impl Memcached {
    /// Whether this server holds `key` (`mg`), for the rare key a metadump passes over
    /// (the crawler can miss an item that moves between LRU queues while it walks).
    pub fn has(&self, key: &str) -> bool {
        let mut stream = self.endpoint.connect().expect("connect to memcached");
        stream
            .write_all(format!("mg {key}\r\n").as_bytes())
            .expect("mg");
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).expect("mg reply");
        match &reply {
            b"HD\r\n" => true,
            b"EN\r\n" => false,
            other => panic!("mg {key}: {}", String::from_utf8_lossy(other)),
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8 key")
}

/// nutcracker running a YAML configuration.
pub struct Nutcracker {
    pub addr: SocketAddr,
    _process: Process,
    _dir: TempDir,
}

impl Nutcracker {
    /// Starts nutcracker with `yaml`, whose single pool must listen on `addr`.
    pub fn start(yaml: &str, addr: SocketAddr) -> Nutcracker {
        let dir = TempDir::new("nutcracker");
        let conf = dir.0.join("nutcracker.yml");
        std::fs::write(&conf, yaml).expect("write yaml");
        let stats = free_port(Ipv4Addr::LOCALHOST);
        let child = Command::new(nutcracker_binary())
            .arg("-c")
            .arg(&conf)
            .arg("-o")
            .arg(dir.0.join("nutcracker.log"))
            .args(["-s", &stats.to_string(), "-a", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nutcracker (apt-get install nutcracker)");
        let mut process = Process {
            child,
            what: format!("nutcracker with {}", conf.display()),
        };
        wait_until_accepting(&mut process, &Endpoint::Tcp(addr));
        Nutcracker {
            addr,
            _process: process,
            _dir: dir,
        }
    }
}

pub fn nutcracker_binary() -> PathBuf {
    ["/usr/sbin/nutcracker", "/usr/bin/nutcracker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nutcracker"))
}

/// Sets every key (value `x`) through `addr`, pipelined, checking every reply.
pub fn set_all(addr: SocketAddr, keys: &[String]) {
    let stream = TcpStream::connect(addr).expect("connect to proxy");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    for batch in keys.chunks(BATCH) {
        let mut out = Vec::with_capacity(batch.len() * 40);
        for key in batch {
            out.extend_from_slice(format!("set {key} 0 0 1\r\nx\r\n").as_bytes());
        }
        writer.write_all(&out).expect("write sets");
        for key in batch {
            line.clear();
            reader.read_line(&mut line).expect("read reply");
            assert_eq!(line, "STORED\r\n", "set {key}");
        }
    }
}

/// Clears every backend between configurations.
pub fn flush(backends: &[&Memcached]) {
    for backend in backends {
        let mut stream = backend.endpoint.connect().expect("connect");
        stream.write_all(b"flush_all\r\n").expect("flush");
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).expect("flush reply");
        assert_eq!(&reply, b"OK\r\n");
    }
}

/// A loopback address other than 127.0.0.1 on which port 11211 is free, to test the
/// naming rule for that port without colliding with a system memcached.
pub fn loopback_with_free_11211(avoid: &[Ipv4Addr]) -> Ipv4Addr {
    let seed = std::process::id() as u8;
    for i in 0..200u8 {
        let ip = Ipv4Addr::new(127, 0, 1 + (seed % 50), 2 + i);
        if !avoid.contains(&ip) && TcpListener::bind((ip, 11211)).is_ok() {
            return ip;
        }
    }
    panic!("no 127.0.x.y address has port 11211 free");
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Environment variable set in the copy of a test that runs in its own network namespace.
const PRIVATE_NETWORK: &str = "CORVID_TEST_PRIVATE_NETWORK";

/// Runs `body` in a network namespace of its own, where every port (11211 included) is
/// free whatever else runs on the machine: the test binary runs itself again, just this
/// test, under `unshare -n` (`-rn` when not root) with the loopback interface brought up.
/// Where namespaces are not available, `body` runs here.
pub fn in_private_network(test: &str, body: impl FnOnce()) {
    if std::env::var_os(PRIVATE_NETWORK).is_some() {
        return body();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let mut unshare = Command::new("unshare");
    if !running_as_root() {
        unshare.arg("-r");
    }
    let probe = Command::new("unshare")
        .args(if running_as_root() {
            &["-n", "true"][..]
        } else {
            &["-rn", "true"][..]
        })
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("no network namespaces here: running {test} in the host's network");
        return body();
    }
    let output = unshare
        .args([
            "-n",
            "--",
            "sh",
            "-c",
            "PATH=\"$PATH:/usr/sbin:/sbin\" ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(PRIVATE_NETWORK, "1")
        .output()
        .expect("run unshare");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && text.contains("1 passed"),
        "{test} in its own network namespace:\n{text}"
    );
}
