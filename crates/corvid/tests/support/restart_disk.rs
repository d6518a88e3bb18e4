//! What the warm-restart tests with a disk tier share: a server with `-e` and a small
//! disk tier in one temp dir, filled until values are on disk, stopped gracefully, and
//! read back by text, meta and binary gets.

use super::text::TextClient;
use super::{Implementation, Server, TempDir, Transport};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Bytes of each `big` value: over `ext_item_size`, so it goes to disk.
pub const BIG: usize = 2000;
const STOP: Duration = Duration::from_secs(30);

/// The value of `big{i}`.
pub fn big(i: usize) -> Vec<u8> {
    (0..BIG).map(|j| b'a' + ((i * 7 + j) % 26) as u8).collect()
}

/// A memory file and a 64 MiB disk tier of 8 MiB pages in a temp dir. Values over 600
/// bytes idle for a second go to disk; `-m 16` keeps the rest in RAM.
pub struct Setup {
    pub dir: TempDir,
    args: Vec<String>,
}

impl Setup {
    pub fn new(label: &str) -> Setup {
        let dir = TempDir::new(label);
        let ext = format!(
            "ext_page_size=8,ext_wbuf_size=2,ext_path={}:64m,ext_item_size=600,ext_item_age=1",
            dir.path().join("ext").display()
        );
        let file = dir.path().join("mem").display().to_string();
        let args = ["-m", "16", "-A", "-e", &file, "-o", &ext]
            .iter()
            .map(|s| s.to_string())
            .collect();
        Setup { dir, args }
    }

    pub fn ext_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ext")
    }

    pub fn start(&self) -> Server {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        Server::start(Implementation::Corvid, &args, Transport::Tcp)
    }

    /// As `start`, without `ext_item_age` (not part of what a restart checks): nothing
    /// goes to disk without memory pressure, so the tier's gauges move only when the test
    /// moves them.
    pub fn start_quiet(&self) -> Server {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.replace(",ext_item_age=1", ""))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Server::start(Implementation::Corvid, &args, Transport::Tcp)
    }
}

/// Numbers from `stats`.
pub fn stat(c: &mut TextClient, name: &str) -> u64 {
    let stats = c.stats();
    stats
        .get(name)
        .unwrap_or_else(|| panic!("no stat {name}"))
        .parse()
        .unwrap()
}

/// Several stats at one moment.
pub fn stats_of(c: &mut TextClient, names: &[&str]) -> HashMap<String, u64> {
    let stats = c.stats();
    names
        .iter()
        .map(|n| (n.to_string(), stats[*n].parse().unwrap()))
        .collect()
}

/// Sets `small0..300` ("tiny") and `big{from..to}`, then waits until the disk holds at
/// least `want` values; answers how many it holds.
pub fn fill(c: &mut TextClient, from: usize, to: usize, want: u64) -> u64 {
    for i in 0..300 {
        assert_eq!(c.set(&format!("small{i}"), b"tiny"), "STORED");
    }
    for i in from..to {
        assert_eq!(c.set(&format!("big{i}"), &big(i)), "STORED");
    }
    wait_on_disk(c, want)
}

/// Waits until the disk holds at least `want` values, then turns `ext_item_age` off and
/// waits until the background writer has moved none for 3 s (so what a test reads before
/// a stop is what the stop saves).
pub fn wait_on_disk(c: &mut TextClient, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = (0, Instant::now());
    let mut quiet = false;
    loop {
        let used = stat(c, "extstore_objects_used");
        if used >= want && !quiet {
            c.send(b"extstore item_age 4294967295\r\n");
            assert_eq!(c.line(), "OK");
            quiet = true;
        }
        if used != last.0 {
            last = (used, Instant::now());
        } else if quiet && last.1.elapsed() >= Duration::from_secs(3) {
            return used;
        }
        assert!(Instant::now() < deadline, "only {used} values went to disk");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Turns `ext_item_age` back on (1 s), for a test that fills the tier again.
pub fn age_on(c: &mut TextClient) {
    c.send(b"extstore item_age 1\r\n");
    assert_eq!(c.line(), "OK");
}

/// `shutdown graceful`, and the process exits 0.
pub fn stop_gracefully(server: &mut Server, c: &mut TextClient) {
    c.send(b"shutdown graceful\r\n");
    let status = server.wait_for_exit(STOP).expect("stops");
    assert!(status.success(), "{status}: {}", server.log());
}

/// `gets key`: the value and its CAS.
pub fn gets(c: &mut TextClient, key: &str) -> Option<(Vec<u8>, u64)> {
    c.send(format!("gets {key}\r\n").as_bytes());
    let line = c.line();
    if line == "END" {
        return None;
    }
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words[0], "VALUE", "{line}");
    let len: usize = words[3].parse().unwrap();
    let cas: u64 = words[4].parse().unwrap();
    let value = c.bytes(len + 2)[..len].to_vec();
    assert_eq!(c.line(), "END");
    Some((value, cas))
}

/// `mg key v c f s`: value, CAS, flags and size, or None on `EN`.
pub fn meta_get(c: &mut TextClient, key: &str) -> Option<(Vec<u8>, u64, u32, usize)> {
    c.send(format!("mg {key} v c f s\r\n").as_bytes());
    let line = c.line();
    if line == "EN" {
        return None;
    }
    let mut words = line.split(' ');
    assert_eq!(words.next(), Some("VA"), "{line}");
    let len: usize = words.next().unwrap().parse().unwrap();
    let (mut cas, mut flags, mut size) = (0, 0, 0);
    for w in words {
        let (flag, n) = w.split_at(1);
        match flag {
            "c" => cas = n.parse().unwrap(),
            "f" => flags = n.parse().unwrap(),
            "s" => size = n.parse().unwrap(),
            _ => {}
        }
    }
    let value = c.bytes(len + 2)[..len].to_vec();
    Some((value, cas, flags, size))
}

/// A binary GET of `key` on a new connection: value and CAS, or None (not found).
pub fn binary_get(server: &Server, key: &str) -> Option<(Vec<u8>, u64)> {
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = vec![0x80u8, 0x00];
    req.extend_from_slice(&(key.len() as u16).to_be_bytes());
    req.extend_from_slice(&[0, 0, 0, 0]);
    req.extend_from_slice(&(key.len() as u32).to_be_bytes());
    req.extend_from_slice(&[0; 12]);
    req.extend_from_slice(key.as_bytes());
    s.write_all(&req).unwrap();
    let mut head = [0u8; 24];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[0], 0x81, "a binary response");
    let status = u16::from_be_bytes([head[6], head[7]]);
    let body = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
    let extras = usize::from(head[4]);
    let cas = u64::from_be_bytes(head[16..24].try_into().unwrap());
    let mut rest = vec![0u8; body];
    s.read_exact(&mut rest).unwrap();
    (status == 0).then(|| (rest[extras..].to_vec(), cas))
}
