//! What the disk-tier tests over sockets share: a server with a small heap and a small
//! disk file started in this process (so a test can ask the store which items are on
//! disk), and the few client steps they all take.
//!
//! Each test binary uses a different part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

#[path = "../backend/mod.rs"]
mod backend;

use disk::{DiskConfig, FileSpec, MIB};
use server::disk_tier::ExtConfig;
use server::{Server, ServerConfig};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use store::{Store, StoreConfig};

/// Page size of the test servers' disk files.
pub const PAGE: u64 = 4 * MIB;

pub struct Running {
    pub addr: SocketAddr,
    pub store: &'static Store,
    pub dir: tempfile::TempDir,
    /// The first disk file.
    pub file: PathBuf,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What a test may change before the server starts.
pub struct Setup {
    /// The store's heap (16 MiB).
    pub memory_limit: usize,
    /// Disk files as `(name in the temp dir, size in MiB)` (one of 32 MiB).
    pub files: Vec<(&'static str, u64)>,
    pub server: ServerConfig,
    pub ext: ExtConfig,
}

/// A server with a 16 MiB heap and a 32 MiB disk file in 4 MiB pages; values idle for
/// 0 s go to disk as soon as their segment is sealed (`ext_item_age=0`).
pub fn start() -> Running {
    start_with(|_| {})
}

pub fn start_with(tweak: impl FnOnce(&mut Setup)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut disk = DiskConfig::new(Vec::new());
    disk.page_size = PAGE;
    disk.wbuf_size = 2 * MIB;
    disk.max_sleep = Duration::from_millis(5);
    let mut ext = ExtConfig::new(disk);
    ext.item_age = 0;
    let mut setup = Setup {
        memory_limit: 16 << 20,
        files: vec![("ext", 32)],
        server: ServerConfig {
            tcp: vec!["127.0.0.1:0".parse().unwrap()],
            threads: 2,
            allow_shutdown: true,
            io_backend: backend::io_backend(),
            ..ServerConfig::default()
        },
        ext,
    };
    tweak(&mut setup);
    let Setup {
        memory_limit,
        files,
        mut server,
        mut ext,
    } = setup;
    for (name, mib) in &files {
        let spec = format!("{}:{mib}m", dir.path().join(name).display());
        ext.disk.files.push(FileSpec::parse(&spec).unwrap());
    }
    server.ext = Some(ext);
    let store: &'static Store = Box::leak(Box::new(
        Store::new(StoreConfig {
            memory_limit,
            ..StoreConfig::default()
        })
        .unwrap(),
    ));
    let server = Server::bind(server, store).unwrap();
    let addr = server.local_addrs()[0];
    let thread = std::thread::spawn(move || {
        server.run().unwrap();
    });
    Running {
        addr,
        store,
        file: dir.path().join(files[0].0),
        dir,
        thread: Some(thread),
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut s) = TcpStream::connect(self.addr) {
            let _ = s.write_all(b"shutdown\r\n");
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Sends `req` and reads exactly `want_len` bytes.
pub fn exchange(s: &mut TcpStream, req: &[u8], want_len: usize) -> Vec<u8> {
    s.write_all(req).unwrap();
    let mut out = vec![0; want_len];
    s.read_exact(&mut out).unwrap();
    out
}

/// A value of `len` bytes that differs from key to key.
pub fn value(key: &str, len: usize) -> Vec<u8> {
    let seed = key
        .bytes()
        .fold(3u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    (0..len)
        .map(|i| b'a' + ((i as u8).wrapping_add(seed) % 26))
        .collect()
}

pub fn set(s: &mut TcpStream, key: &str, flags: u32, v: &[u8]) {
    set_ttl(s, key, flags, 0, v);
}

pub fn set_ttl(s: &mut TcpStream, key: &str, flags: u32, ttl: u32, v: &[u8]) {
    let mut req = format!("set {key} {flags} {ttl} {}\r\n", v.len()).into_bytes();
    req.extend_from_slice(v);
    req.extend_from_slice(b"\r\n");
    assert_eq!(exchange(s, &req, 8), b"STORED\r\n");
}

pub fn on_disk(store: &Store, key: &str) -> bool {
    store
        .peek(key.as_bytes())
        .is_some_and(|i| i.external().is_some())
}

/// Sets `keys` (values of `len` bytes), then enough filler to seal their segment, and
/// waits until the background writer has moved them all to disk.
pub fn put_on_disk(r: &Running, s: &mut TcpStream, keys: &[&str], len: usize) {
    for k in keys {
        set(s, k, 5, &value(k, len));
    }
    seal_until(r, s, || keys.iter().all(|k| on_disk(r.store, k)));
}

/// Sets small filler values (which stay in RAM) until `done`, so that the segments
/// holding earlier values get sealed and the writer reaches them.
pub fn seal_until(r: &Running, s: &mut TcpStream, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut filler = 0;
    while !done() {
        assert!(Instant::now() < deadline, "never went to disk");
        for _ in 0..200 {
            filler += 1;
            set(s, &format!("filler{filler}"), 0, &[b'f'; 400]);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = r;
}

pub fn get_reply(key: &str, flags: u32, v: &[u8], cas: Option<u64>) -> Vec<u8> {
    let mut out = match cas {
        Some(c) => format!("VALUE {key} {flags} {} {c}\r\n", v.len()),
        None => format!("VALUE {key} {flags} {}\r\n", v.len()),
    }
    .into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}

/// `get key` answered with `v` (flags 5) and `END`.
pub fn get_is(s: &mut TcpStream, key: &str, v: &[u8]) {
    let want = [get_reply(key, 5, v, None), b"END\r\n".to_vec()].concat();
    let got = exchange(s, format!("get {key}\r\n").as_bytes(), want.len());
    assert!(got == want, "get {key}: wrong reply ({} bytes)", v.len());
}

/// Every line of `stats ARGS` (empty: the general ones), by name.
pub fn stats(addr: SocketAddr, args: &str) -> HashMap<String, String> {
    let mut s = connect(addr);
    let line = if args.is_empty() {
        "stats\r\n".to_string()
    } else {
        format!("stats {args}\r\n")
    };
    s.write_all(line.as_bytes()).unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 65536];
    while !text.ends_with("END\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("STAT "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One counter of `stats`.
pub fn stat(addr: SocketAddr, name: &str) -> u64 {
    stats(addr, "")
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in stats"))
        .parse()
        .unwrap()
}

/// Waits until `stat(name)` satisfies `ok` (the tier's threads work in the background).
pub fn stat_until(addr: SocketAddr, name: &str, ok: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = stat(addr, name);
        if ok(v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{name} stuck at {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until no item is pinned by a reply or a parked read.
pub fn settles(store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.pinned_items() != 0 {
        assert!(
            Instant::now() < deadline,
            "{} pins left",
            store.pinned_items()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `get key`: the value, or `None` for a miss (`END`).
pub fn get_maybe(s: &mut TcpStream, key: &str) -> Option<Vec<u8>> {
    s.write_all(format!("get {key}\r\n").as_bytes()).unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut b).unwrap();
        line.push(b[0]);
    }
    if line == b"END\r\n" {
        return None;
    }
    let text = String::from_utf8(line).unwrap();
    let len: usize = text
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("get {key}: {text:?}"));
    let mut rest = vec![0; len + 7];
    s.read_exact(&mut rest).unwrap();
    assert_eq!(&rest[len..], b"\r\nEND\r\n");
    rest.truncate(len);
    Some(rest)
}
