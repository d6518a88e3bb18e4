//! Hostile clients over real sockets: garbage, lying lengths, oversized keys and lines,
//! requests cut off mid-way, thousands of connections, a slowloris, multi-gets built to
//! amplify output. After each attack the server must still answer other clients
//! correctly, keep the data it stored, and give back the memory the attack made it use
//! (RSS, from /proc, returns to within a few MiB of where it was).
//!
//! Where memcached's observable behaviour is the standard (error replies, which idle
//! connections `idle_timeout` closes), the same attack runs against memcached 1.6.18 too.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::text::TextClient;
use support::{Implementation, Server, Stream, TempDir, Transport};

/// Allocator noise and lazily grown tables: how far above its baseline RSS may stay once
/// an attack is over.
const RSS_SLACK_KIB: u64 = 8 * 1024;

/// A corvid whose memory can be watched: its pid comes from `-P`.
struct Watched {
    server: Server,
    pid: u32,
    _dir: TempDir,
}

impl Watched {
    fn corvid(args: &[&str]) -> Watched {
        Watched::start(Implementation::Corvid, args)
    }

    fn start(implementation: Implementation, args: &[&str]) -> Watched {
        let dir = TempDir::new("pid");
        let pid_file: PathBuf = dir.path().join("pid");
        let pid_arg = pid_file.display().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-P", &pid_arg]);
        let server = Server::start(implementation, &all, Transport::Tcp);
        // The pid file is written just after the listener is bound: poll for it.
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "no pid file from {all:?}");
            std::thread::sleep(Duration::from_millis(5));
        };
        Watched {
            server,
            pid,
            _dir: dir,
        }
    }

    fn name(&self) -> &'static str {
        self.server.implementation().name()
    }

    fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    /// Polls until RSS is back within the slack of `baseline`, failing after 5 s.
    fn settles_to(&self, baseline: u64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = self.rss_kib();
            if now <= baseline + RSS_SLACK_KIB {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: RSS {now} KiB after {what}, baseline {baseline} KiB",
                self.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `stats` until `curr_connections` is at most `n`.
    fn connections_drop_to(&self, client: &mut TextClient, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let open: u64 = client.stats()["curr_connections"]
                .parse()
                .expect("a number");
            if open <= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {open} connections still open, expected {n}",
                self.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// A deterministic byte stream (xorshift), so a failure reproduces.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Data stored before an attack, checked after it.
struct Sentinel {
    client: TextClient,
    values: Vec<(String, Vec<u8>)>,
}

impl Sentinel {
    fn new(server: &Server) -> Sentinel {
        let mut client = TextClient::connect(server);
        let values: Vec<(String, Vec<u8>)> = [10usize, 5_000, 200_000]
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                let value = (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect();
                (format!("sentinel{i}"), value)
            })
            .collect();
        for (key, value) in &values {
            assert_eq!(client.set(key, value), "STORED");
        }
        Sentinel { client, values }
    }

    /// The old connection and a new one are both answered, and the data is intact.
    fn intact(&mut self, server: &Server, after: &str) {
        let name = server.implementation().name();
        for (key, value) in &self.values {
            let got = self.client.get(key);
            assert!(got.as_ref() == Some(value), "{name}: {key} after {after}");
        }
        let mut fresh = TextClient::connect(server);
        assert_eq!(fresh.set("fresh", b"ok"), "STORED", "{name}: after {after}");
        assert_eq!(fresh.get("fresh"), Some(b"ok".to_vec()), "{name}: {after}");
    }
}

/// Reads until the server closes or `limit` passes; true if it closed.
fn closes_within(s: &mut Stream, limit: Duration) -> bool {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("set a read timeout");
    let mut buf = [0u8; 64 * 1024];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    false
}

/// Writes what the socket takes; a server that closed early is not an error here.
fn send_all(s: &mut Stream, bytes: &[u8]) {
    let _ = s.write_all(bytes);
}

/// Everything a server answers to `request` on a fresh connection, up to the reply to a
/// `version` sent after it (not included), or up to a close.
fn answer(server: &Server, request: &[u8]) -> String {
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    send_all(&mut s, request);
    send_all(&mut s, b"version\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(at) = find(&got, b"VERSION ") {
            if got[at..].ends_with(b"\r\n") {
                got.truncate(at);
                return String::from_utf8_lossy(&got).into_owned();
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => {
                let mut text = String::from_utf8_lossy(&got).into_owned();
                text.push_str("<closed>");
                return text;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn bad_lengths_keys_and_numbers_get_memcacheds_replies() {
    let long_key = "k".repeat(251);
    let requests: Vec<Vec<u8>> = vec![
        b"set k 0 0 -1\r\nxx\r\n".to_vec(),
        b"set k 0 0 abc\r\n".to_vec(),
        b"set k 0 0 99999999999999999999\r\n".to_vec(),
        b"set k 0 0 4294967296\r\n".to_vec(),
        b"set k 0 0 2147483648\r\n".to_vec(),
        b"set k 0 0 -2147483648\r\n".to_vec(),
        b"set k 0 0 1e3\r\n".to_vec(),
        b"set k -1 0 1\r\nx\r\n".to_vec(),
        b"set k 0 abc 1\r\nx\r\n".to_vec(),
        b"set k 0 0 1 2 3 4\r\nx\r\n".to_vec(),
        b"cas k 0 0 1 -1\r\nx\r\n".to_vec(),
        b"incr k -1\r\n".to_vec(),
        b"incr k 18446744073709551616\r\n".to_vec(),
        b"touch k abc\r\n".to_vec(),
        b"gat abc k\r\n".to_vec(),
        format!("get {long_key}\r\n").into_bytes(),
        format!("set {long_key} 0 0 1\r\nx\r\n").into_bytes(),
        format!("delete {long_key}\r\n").into_bytes(),
        b"set a\x01\x7f\tb 0 0 1\r\nx\r\nget a\x01\x7f\tb\r\n".to_vec(),
        b"\x00\x01\x02\r\n".to_vec(),
        b"\r\n\r\n\n".to_vec(),
        b"get\r\n".to_vec(),
        b"set k 0 0 3\r\nabcdefgh\r\n".to_vec(),
    ];
    let memcached = Server::memcached(&[]);
    let corvid = Watched::corvid(&[]);
    let mut sentinel = Sentinel::new(&corvid.server);
    for request in &requests {
        let expected = answer(&memcached, request);
        let got = answer(&corvid.server, request);
        assert_eq!(
            got,
            expected,
            "reply to {:?}",
            String::from_utf8_lossy(request)
        );
    }
    sentinel.intact(&corvid.server, "bad lengths, keys and numbers");
}

#[test]
fn hostile_meta_lines_get_memcacheds_replies() {
    let long_key = "k".repeat(251);
    let many_flags = vec!["v"; 40].join(" ");
    let long_opaque = "x".repeat(40);
    let requests: Vec<Vec<u8>> = vec![
        b"ms k 2147483647\r\n".to_vec(),
        b"ms k -1\r\nxx\r\n".to_vec(),
        b"ms k abc\r\n".to_vec(),
        b"ms k 99999999999999999999\r\n".to_vec(),
        format!("ms {long_key} 1\r\nx\r\n").into_bytes(),
        format!("mg {long_key} v\r\n").into_bytes(),
        format!("mg k {many_flags}\r\n").into_bytes(),
        format!("mg k O{long_opaque} v\r\n").into_bytes(),
        b"mg k b\r\n".to_vec(),
        b"mg !!!! b v\r\n".to_vec(),
        b"ma k D18446744073709551616\r\n".to_vec(),
        b"ma k MZ\r\n".to_vec(),
        b"ms k 1 MZ\r\nx\r\n".to_vec(),
        b"md\r\n".to_vec(),
        b"mg\r\n".to_vec(),
        b"mn extra\r\n".to_vec(),
        b"ms k 1 T-1\r\nx\r\nmg k v\r\n".to_vec(),
        b"mg k N30 v\r\nmg k v\r\n".to_vec(),
        b"ms k 0\r\n\r\nmg k v s\r\n".to_vec(),
        b"mg k v v v\r\n".to_vec(),
        b"mg k\x01\x02 v\r\n".to_vec(),
    ];
    let memcached = Server::memcached(&[]);
    let corvid = Watched::corvid(&[]);
    let mut sentinel = Sentinel::new(&corvid.server);
    for request in &requests {
        let expected = answer(&memcached, request);
        let got = answer(&corvid.server, request);
        assert_eq!(
            got,
            expected,
            "reply to {:?}",
            String::from_utf8_lossy(request)
        );
    }
    sentinel.intact(&corvid.server, "hostile meta lines");
}

#[test]
fn garbage_bytes_never_take_the_server_down() {
    let corvid = Watched::corvid(&["-m", "16"]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let baseline = corvid.rss_kib();
    let mut noise = Noise(0x2545_f491_4f6c_dd1d);
    for round in 0..24 {
        let mut s = corvid.server.connect();
        let mut bytes = noise.bytes(64 * 1024);
        match round % 3 {
            // Text-looking: plenty of line ends and spaces between the noise.
            0 => {
                for (i, b) in bytes.iter_mut().enumerate() {
                    if i % 37 == 0 {
                        *b = b'\n';
                    } else if i % 11 == 0 {
                        *b = b' ';
                    }
                }
            }
            // A binary-protocol magic first.
            1 => bytes[0] = 0x80,
            _ => {}
        }
        send_all(&mut s, &bytes);
        // Whatever it answered, it must not hang on to the connection's memory.
        drop(s);
    }
    sentinel.intact(&corvid.server, "garbage");
    corvid.connections_drop_to(&mut sentinel.client, 1);
    corvid.settles_to(baseline, "garbage");
}

#[test]
fn binary_frames_with_lying_lengths_allocate_nothing() {
    let corvid = Watched::corvid(&[]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let baseline = corvid.rss_kib();
    let frame = |opcode: u8, key_len: u16, extras: u8, body: u32| {
        let mut f = vec![0x80, opcode];
        f.extend_from_slice(&key_len.to_be_bytes());
        f.push(extras);
        f.extend_from_slice(&[0, 0, 0]);
        f.extend_from_slice(&body.to_be_bytes());
        f.extend_from_slice(&[0; 12]);
        f
    };
    let lies = [
        frame(0x01, 3, 8, u32::MAX),    // set announcing 4 GiB
        frame(0x01, 0xffff, 8, 16),     // key longer than the body
        frame(0x01, 3, 0xff, 10),       // extras longer than the body
        frame(0x00, 0, 0, 0x7fff_ffff), // get with a 2 GiB body
        frame(0x0e, 3, 0, 0x1000_0000), // append, 256 MiB
        frame(0x05, 3, 20, 23),         // incr whose body stops short
        frame(0xee, 0, 0, 100),         // no such opcode
    ];
    for lie in &lies {
        for _ in 0..4 {
            let mut s = corvid.server.connect();
            let mut bytes = lie.clone();
            bytes.extend_from_slice(&[b'x'; 64 * 1024]);
            send_all(&mut s, &bytes);
        }
    }
    sentinel.intact(&corvid.server, "binary frames with lying lengths");
    corvid.connections_drop_to(&mut sentinel.client, 1);
    corvid.settles_to(baseline, "binary frames with lying lengths");
}

#[test]
fn unterminated_megabyte_lines_are_bounded_and_released() {
    let corvid = Watched::corvid(&[]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let baseline = corvid.rss_kib();
    let mut long_get = b"get".to_vec();
    while long_get.len() < (1 << 20) + 100 {
        long_get.extend_from_slice(b" somekey");
    }
    let mut long_set = b"set ".to_vec();
    long_set.resize((1 << 20) + 100, b'k');
    let mut open = Vec::new();
    for line in [&long_get, &long_set].iter().cycle().take(16) {
        let mut s = corvid.server.connect();
        send_all(&mut s, line);
        open.push(s);
    }
    // While they are open: at most the 1 MiB line bound each, plus slack.
    let peak = corvid.rss_kib();
    assert!(
        peak <= baseline + 16 * 1100 + RSS_SLACK_KIB,
        "RSS {peak} KiB with 16 unterminated lines, baseline {baseline} KiB"
    );
    // A line over the bound is never answered: each of these is closed.
    for s in &mut open {
        assert!(
            closes_within(s, Duration::from_secs(5)),
            "a line over 1 MiB was kept open"
        );
    }
    drop(open);
    sentinel.intact(&corvid.server, "unterminated 1 MiB lines");
    corvid.connections_drop_to(&mut sentinel.client, 1);
    corvid.settles_to(baseline, "unterminated 1 MiB lines");
}

#[test]
fn requests_cut_off_leave_nothing_behind() {
    let corvid = Watched::corvid(&["-m", "64"]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let baseline = corvid.rss_kib();
    let cuts: [&[u8]; 6] = [
        b"set cut0 0 0 10\r\n12345",
        b"set cut1 0 0 900000\r\n",
        b"get cut0 cut1 sent",
        b"set cut2 0 0",
        b"incr cut3 1",
        b"gets",
    ];
    for (i, cut) in cuts.iter().enumerate() {
        let mut s = corvid.server.connect();
        send_all(&mut s, cut);
        if i == 1 {
            // Half of a large value, read straight into a reservation.
            send_all(&mut s, &vec![b'v'; 450_000]);
        }
    }
    sentinel.intact(&corvid.server, "requests cut off");
    for key in ["cut0", "cut1", "cut2", "cut3"] {
        assert_eq!(sentinel.client.get(key), None, "{key} was half stored");
    }
    corvid.connections_drop_to(&mut sentinel.client, 1);
    // The abandoned reservation may have touched up to 900 KB of the heap.
    corvid.settles_to(baseline + 1024, "requests cut off");
}

#[test]
fn values_over_the_item_limit_are_swallowed_without_buffering() {
    let corvid = Watched::corvid(&["-I", "1m"]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let baseline = corvid.rss_kib();
    let mut c = TextClient::connect(&corvid.server);
    let over = vec![b'o'; (1 << 20) + 1];
    for i in 0..8 {
        assert_eq!(
            c.set(&format!("over{i}"), &over),
            "SERVER_ERROR object too large for cache"
        );
        assert_eq!(c.get(&format!("over{i}")), None);
    }
    assert_eq!(c.set("after", b"fine"), "STORED");
    sentinel.intact(&corvid.server, "values of -I + 1 bytes");
    corvid.settles_to(baseline, "values of -I + 1 bytes");
}

#[test]
fn ten_thousand_connections_come_and_go() {
    const N: usize = 10_000;
    let corvid = Watched::corvid(&["-c", "10100"]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let baseline = corvid.rss_kib();
    let start = Instant::now();
    let conns = open_idle(&corvid, &mut sentinel, N);
    let with_all = corvid.rss_kib();
    eprintln!(
        "{N} idle connections: RSS {baseline} -> {with_all} KiB ({} bytes each), opened in {:?}",
        (with_all.saturating_sub(baseline)) * 1024 / N as u64,
        start.elapsed()
    );
    assert!(
        with_all <= baseline + (N as u64 * 2048) / 1024 + RSS_SLACK_KIB,
        "{N} idle connections cost more than 2 KiB each: {baseline} -> {with_all} KiB"
    );
    drop(conns);
    corvid.connections_drop_to(&mut sentinel.client, 1);
    sentinel.intact(&corvid.server, "10,000 connections");
    // What they used is reused, not leaked: 10,000 more cost (almost) nothing more. (Not
    // "RSS falls back": the allocator need not give freed memory back to the kernel, and
    // on io_uring, where a connection costs more, it does not.) A leak of 200 bytes per
    // connection would show here.
    let conns = open_idle(&corvid, &mut sentinel, N);
    let again = corvid.rss_kib();
    assert!(
        again <= with_all + 2048,
        "10,000 connections after 10,000 closed: RSS {with_all} -> {again} KiB"
    );
    drop(conns);
    corvid.connections_drop_to(&mut sentinel.client, 1);
    sentinel.intact(&corvid.server, "20,000 connections");
}

/// Opens `n` connections (every 500th asks `version`), and waits until the server counts
/// them all (the acceptor hands them to workers asynchronously).
fn open_idle(corvid: &Watched, sentinel: &mut Sentinel, n: usize) -> Vec<Stream> {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = corvid.server.connect();
        if i % 500 == 0 {
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("set a read timeout");
            s.write_all(b"version\r\n").expect("write");
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).expect("read");
            assert!(buf[..n].starts_with(b"VERSION "), "connection {i}");
        }
        conns.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open: u64 = sentinel.client.stats()["curr_connections"]
            .parse()
            .expect("a number");
        if open as usize > n {
            return conns;
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections counted with {n} clients and the sentinel"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A value of 4,000 bytes under key `a`, and a get line naming it over and over: composed
/// at once, each such line would be `count` * 4 KB of replies.
fn amplifying_line(count: usize) -> Vec<u8> {
    let mut line = b"get".to_vec();
    for _ in 0..count {
        line.extend_from_slice(b" a");
    }
    line.extend_from_slice(b"\r\n");
    line
}

#[test]
fn an_amplifying_multi_get_queues_bounded_output() {
    const KEYS: usize = 128 * 1024;
    let corvid = Watched::corvid(&[]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let mut c = TextClient::connect(&corvid.server);
    assert_eq!(c.set("a", &[b'v'; 4000]), "STORED");
    let before: u64 = c.stats()["cmd_get"].parse().expect("a number");
    let baseline = corvid.rss_kib();
    // Two clients ask for 512 MB each and read nothing.
    let line = amplifying_line(KEYS);
    let mut hogs: Vec<Stream> = (0..2).map(|_| corvid.server.connect()).collect();
    for h in &mut hogs {
        send_all(h, &line);
        // Once the first byte of the reply is here, the server is composing.
        h.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set a read timeout");
        let mut first = [0u8; 1];
        h.read_exact(&mut first).expect("the reply starts");
    }
    let mut peak = 0;
    for _ in 0..20 {
        peak = peak.max(corvid.rss_kib());
        std::thread::sleep(Duration::from_millis(25));
    }
    // Per client: its line (256 KB), about 1 MiB of queued output, and slack.
    assert!(
        peak <= baseline + 2 * 1536 + RSS_SLACK_KIB,
        "RSS {peak} KiB while two clients sit on 512 MB multi-gets, baseline {baseline} KiB"
    );
    sentinel.intact(&corvid.server, "an amplifying multi-get");
    // Leaving mid-reply still counts every key as memcached does (it composes whole).
    drop(hogs);
    corvid.connections_drop_to(&mut sentinel.client, 2);
    let after: u64 = c.stats()["cmd_get"].parse().expect("a number");
    assert!(
        after >= before + 2 * KEYS as u64,
        "cmd_get {before} -> {after} after two abandoned {KEYS}-key gets"
    );
    corvid.settles_to(baseline, "an amplifying multi-get");
}

#[test]
fn a_multi_get_paused_by_backpressure_answers_every_key_in_order() {
    let corvid = Watched::corvid(&[]);
    let mut c = TextClient::connect(&corvid.server);
    let value = |i: usize| -> Vec<u8> {
        let mut v = format!("{i}:").into_bytes();
        v.resize(3000 + i * 997 % 3000, b'0' + (i % 10) as u8);
        v
    };
    for i in 0..16 {
        assert_eq!(c.set(&format!("m{i}"), &value(i)), "STORED");
    }
    // 4,000 keys, some missing: several MiB of replies, paused and resumed many times.
    for command in ["get", "gets", "gat 0", "gats 0"] {
        let mut line = command.as_bytes().to_vec();
        let mut expected_keys = Vec::new();
        for k in 0..4000 {
            let i = k * 7 % 19;
            line.extend_from_slice(format!(" m{i}").as_bytes());
            if i < 16 {
                expected_keys.push(i);
            }
        }
        line.extend_from_slice(b"\r\nversion\r\n");
        c.send(&line);
        for &i in &expected_keys {
            let header = c.line();
            let prefix = format!("VALUE m{i} 0 {}", value(i).len());
            assert!(
                header.starts_with(&prefix),
                "{command}: {header:?}, expected {prefix}"
            );
            assert_eq!(c.line().as_bytes(), value(i), "{command}: value of m{i}");
        }
        assert_eq!(c.line(), "END", "{command}");
        assert!(c.line().starts_with("VERSION "), "{command}");
    }
}

/// What `idle_timeout` closes must match memcached: a connection between commands or in
/// the middle of a command line (a slowloris feeding one byte at a time), but not one in
/// the middle of a value.
fn slowloris_is_closed_but_a_slow_value_is_not(server: Server) {
    let name = server.implementation().name();
    let mut loris = server.connect();
    let mut uploader = server.connect();
    send_all(&mut uploader, b"set slow 0 0 10\r\n12345");
    let start = Instant::now();
    let line = b"get slowly-arriving-key";
    let mut closed = false;
    for &byte in line.iter().cycle().take(40) {
        if loris.write_all(&[byte]).is_err()
            || closes_within(&mut loris, Duration::from_millis(300))
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "{name}: a slowloris survived {:?} under idle_timeout=1",
        start.elapsed()
    );
    assert!(
        !closes_within(&mut uploader, Duration::from_millis(100)),
        "{name}: a connection in the middle of a value was closed"
    );
    send_all(&mut uploader, b"67890\r\nget slow\r\n");
    let mut reply = Vec::new();
    uploader
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    let mut buf = [0u8; 256];
    while !reply.ends_with(b"END\r\n") {
        match uploader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "STORED\r\nVALUE slow 0 10\r\n1234567890\r\nEND\r\n",
        "{name}: the slow value"
    );
}

#[test]
fn memcached_closes_a_slowloris() {
    slowloris_is_closed_but_a_slow_value_is_not(Server::memcached(&["-o", "idle_timeout=1"]));
}

#[test]
fn corvid_closes_a_slowloris() {
    slowloris_is_closed_but_a_slow_value_is_not(Server::corvid(&["-o", "idle_timeout=1"]));
}

#[test]
fn a_client_that_never_reads_is_held_by_backpressure() {
    let corvid = Watched::corvid(&[]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let mut c = TextClient::connect(&corvid.server);
    assert_eq!(c.set("a", &[b'v'; 4000]), "STORED");
    let baseline = corvid.rss_kib();
    let mut s = corvid.server.connect();
    s.set_write_timeout(Some(Duration::from_millis(500)))
        .expect("set a write timeout");
    // Pipelined gets, never reading: the server stops reading once ~1 MiB of replies
    // wait, and then the socket buffers fill and our writes stall.
    let batch = b"get a\r\n".repeat(10_000);
    let mut sent = 0usize;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        match s.write(&batch) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let rss = corvid.rss_kib();
    assert!(
        rss <= baseline + 2048 + RSS_SLACK_KIB,
        "RSS {rss} KiB after {sent} bytes of unread gets, baseline {baseline} KiB"
    );
    sentinel.intact(&corvid.server, "a client that never reads");
    drop(s);
    corvid.connections_drop_to(&mut sentinel.client, 2);
    corvid.settles_to(baseline, "a client that never reads");
}

#[test]
fn a_flood_past_the_connection_limit_is_refused_and_forgotten() {
    let corvid = Watched::corvid(&["-c", "50"]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let baseline = corvid.rss_kib();
    let mut refused = 0;
    let mut held = Vec::new();
    for _ in 0..500 {
        let mut s = corvid.server.connect();
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set a read timeout");
        let _ = s.write_all(b"version\r\n");
        let mut reply = Vec::new();
        let mut buf = [0u8; 128];
        while !reply.ends_with(b"\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => reply.extend_from_slice(&buf[..n]),
            }
        }
        if reply == b"ERROR Too many open connections\r\n" {
            refused += 1;
        } else {
            assert!(reply.starts_with(b"VERSION "), "{reply:?}");
            held.push(s);
        }
    }
    assert!(
        held.len() <= 50,
        "{} connections served under -c 50",
        held.len()
    );
    assert!(refused >= 450, "only {refused} of 500 refused under -c 50");
    // The sentinel still works while the limit is reached; once the flood is gone, new
    // clients are served again.
    assert!(
        sentinel.client.get("sentinel0").is_some(),
        "the sentinel's data"
    );
    drop(held);
    corvid.connections_drop_to(&mut sentinel.client, 1);
    sentinel.intact(&corvid.server, "a flood past -c");
    corvid.settles_to(baseline, "a flood past -c");
}

/// The binary protocol's version of the slowloris: `idle_timeout` closes a connection
/// stuck in a header or in the extras and key after it (memcached's `conn_read`), not
/// one in the middle of a value (`conn_nread`).
fn binary_slowloris_is_closed_but_a_slow_value_is_not(server: Server) {
    let name = server.implementation().name();
    // SET, key "k", 8 bytes of extras, a 10-byte value.
    let mut frame = vec![0x80, 0x01, 0, 1, 8, 0, 0, 0, 0, 0, 0, 19];
    frame.extend_from_slice(&[0; 12]);
    frame.extend_from_slice(&[0; 8]);
    frame.push(b'k');
    let mut header = server.connect();
    send_all(&mut header, &frame[..10]);
    let mut key = server.connect();
    send_all(&mut key, &frame[..32]);
    let mut value = server.connect();
    send_all(&mut value, &frame);
    send_all(&mut value, b"12345");
    for (what, s) in [
        ("a half header", &mut header),
        ("extras without the key", &mut key),
    ] {
        assert!(
            closes_within(s, Duration::from_secs(6)),
            "{name}: a connection stuck in {what} survived idle_timeout=1"
        );
    }
    assert!(
        !closes_within(&mut value, Duration::from_millis(100)),
        "{name}: a connection in the middle of a binary value was closed"
    );
    send_all(&mut value, b"67890");
    value
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    let mut reply = [0u8; 24];
    value.read_exact(&mut reply).expect("the SET response");
    assert_eq!(&reply[..2], &[0x81, 0x01], "{name}: a SET response");
    assert_eq!(&reply[6..8], &[0, 0], "{name}: status");
}

#[test]
fn memcached_closes_a_binary_slowloris() {
    binary_slowloris_is_closed_but_a_slow_value_is_not(Server::memcached(&[
        "-o",
        "idle_timeout=1",
    ]));
}

#[test]
fn corvid_closes_a_binary_slowloris() {
    binary_slowloris_is_closed_but_a_slow_value_is_not(Server::corvid(&["-o", "idle_timeout=1"]));
}

/// A corvid started under `ulimit -n <limit>`, outside `support::Server` (which has no
/// way to set a resource limit); killed on drop.
struct FdLimited {
    child: std::process::Child,
    port: u16,
}

impl FdLimited {
    fn start(limit: u32, args: &[&str]) -> FdLimited {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let port_arg = port.to_string();
        let mut all = vec!["-p", &port_arg, "-l", "127.0.0.1", "-U", "0", "-t", "2"];
        all.extend_from_slice(args);
        let backend = support::server_backend_args();
        all.extend(backend.iter().map(String::as_str));
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_corvid"))
            .args(&all)
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("start corvid under sh");
        let limited = FdLimited { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "corvid under ulimit -n {limit} never listened"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        limited
    }
}

impl Drop for FdLimited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn clients_waiting_for_descriptors_are_served_once_some_free_up() {
    // -c far above what 48 descriptors allow: accept itself fails (EMFILE) and clients wait
    // in the listen backlog. The listener is edge-triggered, so unless the server retries,
    // they wait forever, even after descriptors free up.
    let server = FdLimited::start(48, &["-c", "1000"]);
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for _ in 0..70 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        s.write_all(b"version\r\n").expect("write");
        waiting.push(s);
    }
    let mut buf = [0u8; 64];
    for mut s in std::mem::take(&mut waiting) {
        s.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("set a read timeout");
        match s.read(&mut buf) {
            Ok(n) if buf[..n].starts_with(b"VERSION ") => served.push(s),
            _ => waiting.push(s),
        }
    }
    assert!(
        !waiting.is_empty(),
        "all 70 clients were served under ulimit -n 48: the test no longer runs out of descriptors"
    );
    assert!(served.len() >= 20, "only {} clients served", served.len());
    let freed = 20;
    served.truncate(served.len() - freed);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut late = 0;
    for s in &mut waiting {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set a read timeout");
        if let Ok(n) = s.read(&mut buf) {
            if buf[..n].starts_with(b"VERSION ") {
                late += 1;
            }
        }
        if late == freed {
            break;
        }
    }
    assert!(
        late >= freed / 2,
        "{late} of {} waiting clients served after {freed} descriptors were freed",
        waiting.len()
    );
}

/// A client that sends a command every 400 ms is never idle for `idle_timeout=1`:
/// memcached closes only when more than the timeout (in whole seconds) has passed.
fn a_steady_client_is_never_closed(server: Server) {
    let name = server.implementation().name();
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    let mut buf = [0u8; 64];
    for i in 0..10 {
        s.write_all(b"version\r\n").expect("write");
        match s.read(&mut buf) {
            Ok(n) if buf[..n].starts_with(b"VERSION ") => {}
            other => panic!("{name}: command {i} every 400 ms: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(400));
    }
}

#[test]
fn memcached_keeps_a_steady_client() {
    a_steady_client_is_never_closed(Server::memcached(&["-o", "idle_timeout=1"]));
}

#[test]
fn corvid_keeps_a_steady_client() {
    a_steady_client_is_never_closed(Server::corvid(&["-o", "idle_timeout=1"]));
}
