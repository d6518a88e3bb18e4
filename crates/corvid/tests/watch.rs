//! `watch`: memcached 1.6.18's log streams. The same commands go to both servers while a
//! watcher listens; its lines are compared with the timestamp, `gid`, `cfd` and `rport`
//! normalised (memcached's deterministic lines only: no expiry, no refused values, whose
//! memcached lines carry garbage). Then what memcached cannot be compared on: a watcher
//! that stops reading loses lines, counted, without slowing a client; several watchers;
//! one leaving.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::text::TextClient;
use support::{Implementation, Server, Stream, Transport};

/// Generous: memcached's logger thread backs off to 1 s when idle, and the machine is
/// loaded.
const PATIENCE: Duration = Duration::from_secs(30);

fn send(s: &mut Stream, bytes: &[u8]) {
    s.write_all(bytes).expect("write");
}

/// Reads until `done` says the text so far is complete.
fn read_while(s: &mut Stream, done: impl Fn(&str) -> bool) -> String {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let deadline = Instant::now() + PATIENCE;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while !done(&String::from_utf8_lossy(&out)) {
        if Instant::now() >= deadline {
            let got = String::from_utf8_lossy(&out);
            let tail = &got[got.len().saturating_sub(2000)..];
            panic!("gave up waiting; got {} bytes, ending {tail:?}", got.len());
        }
        match s.read(&mut buf) {
            Ok(0) => panic!("closed after {} bytes", out.len()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    String::from_utf8(out).expect("utf8")
}

/// Sends one request and reads its reply (ends with one of `ends`).
fn ask(s: &mut Stream, request: &[u8], ends: &[&str]) -> String {
    send(s, request);
    read_while(s, |t| ends.iter().any(|e| t.ends_with(e)))
}

/// A watching connection and what it has read past the lines already taken.
struct Watcher {
    stream: Stream,
    pending: String,
}

/// Starts a watcher of `streams` on `server`.
fn watcher(server: &Server, streams: &str) -> Watcher {
    let mut w = server.connect();
    let request = format!("watch {streams}\r\n");
    send(&mut w, request.trim_start().as_bytes());
    let reply = read_while(&mut w, |t| t.contains("\r\n"));
    let (ok, rest) = reply.split_once("\r\n").expect("a line");
    assert_eq!(
        ok,
        "OK",
        "{}: watch {streams}",
        server.implementation().name()
    );
    Watcher {
        stream: w,
        pending: rest.to_string(),
    }
}

impl Watcher {
    /// The lines `keep` accepts, normalised, up to and including the first that holds
    /// `marker`; lines read past it wait for the next call.
    fn until(&mut self, marker: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            while let Some((line, rest)) = self.pending.split_once('\n') {
                let line = line.to_string();
                self.pending = rest.to_string();
                assert!(
                    !line.ends_with('\r'),
                    "watch lines end with \\n alone: {line:?}"
                );
                if keep(&line) {
                    lines.push(normalise(&line));
                    if line.contains(marker) {
                        return lines;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {marker:?} in time; got {lines:#?}"
            );
            let more = read_while(&mut self.stream, |t| t.contains('\n'));
            self.pending.push_str(&more);
        }
    }

    /// Every line up to the first holding `marker`.
    fn lines_until(&mut self, marker: &str) -> Vec<String> {
        self.until(marker, |_| true)
    }
}

/// The local port of a client connection, which its connection events name as `rport`.
fn port_of(s: &Stream) -> u16 {
    match s {
        Stream::Tcp(t) => t.local_addr().expect("local address").port(),
        _ => panic!("not a TCP client"),
    }
}

/// Whether a connection event is about one of `ports` (the server's own start-up probe
/// may be logged late, once a watcher is there).
fn about(line: &str, ports: &[u16]) -> bool {
    ports.iter().any(|p| line.contains(&format!(" rport={p} ")))
}

/// A line with its varying fields replaced: `ts=TS gid=GID ... cfd=CFD rport=PORT`.
fn normalise(line: &str) -> String {
    line.split(' ')
        .map(|field| match field.split_once('=') {
            Some((name @ ("ts" | "gid" | "cfd" | "rport"), _)) => format!("{name}=*"),
            _ => field.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Classic, meta and binary commands whose lines memcached writes deterministically.
fn commands(c: &mut Stream) {
    let stored = [
        "STORED\r\n",
        "NOT_STORED\r\n",
        "EXISTS\r\n",
        "NOT_FOUND\r\n",
    ];
    let got = ["END\r\n"];
    let script: &[(&[u8], &[&str])] = &[
        (b"set foo 5 0 3\r\nbar\r\n", &stored),
        (b"get foo\r\n", &got),
        (b"get nope\r\n", &got),
        (b"gets foo bar\r\n", &got),
        (b"add foo 0 0 1\r\nx\r\n", &stored),
        (b"replace r 0 0 1\r\nx\r\n", &stored),
        (b"append foo 0 0 1\r\nx\r\n", &stored),
        (b"prepend r 0 0 1\r\nx\r\n", &stored),
        (b"cas foo 0 0 1 999\r\nx\r\n", &stored),
        (b"cas r 0 0 1 5\r\nx\r\n", &stored),
        (b"set k%20x 0 100 2\r\nab\r\n", &stored),
        (b"set n 0 0 1\r\n5\r\n", &stored),
        (b"incr n 3\r\n", &["\r\n"]),
        (b"decr n 1\r\n", &["\r\n"]),
        (b"incr miss 1\r\n", &["\r\n"]),
        (b"touch foo 10\r\n", &["\r\n"]),
        (b"touch miss 10\r\n", &["\r\n"]),
        (b"gat 10 foo miss\r\n", &got),
        (b"delete foo\r\n", &["\r\n"]),
        (b"delete foo\r\n", &["\r\n"]),
        (b"mg n v\r\n", &["\r\n"]),
        (b"mg miss v\r\n", &["EN\r\n"]),
        (b"ms m 2 T50 F3\r\nhi\r\n", &["HD\r\n"]),
        (b"ms m 2 MA\r\nhi\r\n", &["HD\r\n"]),
        (b"ms m 2 ME\r\nhi\r\n", &["NS\r\n"]),
        (b"ms m 2 C1\r\nhi\r\n", &["EX\r\n"]),
        (b"md m\r\n", &["HD\r\n"]),
        (b"ma n\r\n", &["HD\r\n"]),
        (b"mn\r\n", &["MN\r\n"]),
        (b"set zz_end 0 0 1\r\nx\r\n", &stored),
    ];
    for (request, ends) in script {
        ask(c, request, ends);
    }
}

/// What a watcher of `streams` gets while `commands` run, on `implementation`.
fn watched(implementation: Implementation, streams: &str) -> Vec<String> {
    let server = Server::start(implementation, &[], Transport::Tcp);
    let mut w = watcher(&server, streams);
    let mut c = server.connect();
    commands(&mut c);
    w.lines_until("key=zz_end")
}

#[test]
fn fetchers_and_mutations_lines_are_memcached_s() {
    for streams in ["", "fetchers", "mutations", "fetchers mutations"] {
        let memcached = watched(Implementation::Memcached, streams);
        assert!(memcached.len() > 10, "{streams}: {memcached:#?}");
        let corvid = watched(Implementation::Corvid, streams);
        assert_eq!(corvid, memcached, "watch {streams}");
    }
}

#[test]
fn binary_commands_are_watched_as_memcached_s() {
    let lines = |implementation| {
        let server = Server::start(implementation, &[], Transport::Tcp);
        let mut w = watcher(&server, "fetchers mutations");
        let mut c = server.connect();
        // SET "bk" = "vv" (flags 0, no expiry), GET "bk", DELETE "bk", GET "bk".
        let mut set = vec![0x80, 0x01, 0, 2, 8, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0];
        set.extend_from_slice(&[0; 8]);
        set.extend_from_slice(&[0; 8]);
        set.extend_from_slice(b"bkvv");
        let frame = |opcode: u8| {
            let mut f = vec![0x80, opcode, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2];
            f.extend_from_slice(&[0; 12]);
            f.extend_from_slice(b"bk");
            f
        };
        // The marker goes through the same connection: lines of different workers may
        // come out of order.
        let mut marker = vec![0x80, 0x01, 0, 6, 8, 0, 0, 0, 0, 0, 0, 15, 0, 0, 0, 0];
        marker.extend_from_slice(&[0; 16]);
        marker.extend_from_slice(b"zz_endx");
        for request in [set, frame(0x00), frame(0x04), frame(0x00), marker] {
            send(&mut c, &request);
            let mut header = [0u8; 24];
            c.read_exact(&mut header).expect("reply header");
            let body = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
            let mut rest = vec![0; body as usize];
            c.read_exact(&mut rest).expect("reply body");
        }
        w.lines_until("type=item_store key=zz_end")
    };
    let memcached = lines(Implementation::Memcached);
    assert!(memcached.len() >= 6, "{memcached:#?}");
    assert_eq!(lines(Implementation::Corvid), memcached);
}

#[test]
fn connevents_lines_are_memcached_s() {
    let lines = |implementation| {
        let server = Server::start(implementation, &[], Transport::Tcp);
        let mut w = watcher(&server, "connevents");
        let mut quits = server.connect();
        let quits_port = port_of(&quits);
        send(&mut quits, b"quit\r\n");
        let mut rest = Vec::new();
        quits.read_to_end(&mut rest).expect("closed after quit");
        let mut got = w.until("type=conn_close", |l| about(l, &[quits_port]));
        // Each close waited for before the next connection: the order is fixed.
        let mut leaves = server.connect();
        let leaves_port = port_of(&leaves);
        ask(&mut leaves, b"version\r\n", &["\r\n"]);
        drop(leaves);
        got.extend(w.until("type=conn_close", |l| about(l, &[leaves_port])));
        got
    };
    let memcached = lines(Implementation::Memcached);
    assert_eq!(memcached.len(), 4, "{memcached:#?}");
    assert_eq!(lines(Implementation::Corvid), memcached);
}

#[test]
fn an_idle_kick_is_logged_and_a_watcher_is_never_idle() {
    let lines = |implementation| {
        let server = Server::start(implementation, &["-o", "idle_timeout=1"], Transport::Tcp);
        let mut w = watcher(&server, "connevents");
        let idle = server.connect();
        let idle_port = port_of(&idle);
        // The idle client goes after a second or two; the watcher, as idle, stays.
        let mut got = w.until("type=conn_close", |l| about(l, &[idle_port]));
        std::thread::sleep(Duration::from_secs(3));
        let mut c = server.connect();
        let port = port_of(&c);
        ask(&mut c, b"version\r\n", &["\r\n"]);
        drop(c);
        got.extend(w.until("type=conn_close", |l| about(l, &[port])));
        got
    };
    let memcached = lines(Implementation::Memcached);
    assert_eq!(memcached.len(), 4, "{memcached:#?}");
    assert!(
        memcached[1].contains("reason=idle_timeout"),
        "{memcached:#?}"
    );
    assert!(memcached[3].contains("reason=normal"), "{memcached:#?}");
    assert_eq!(lines(Implementation::Corvid), memcached);
}

#[test]
fn refusals_are_memcached_s() {
    let replies = |implementation| {
        let server = Server::start(implementation, &[], Transport::Tcp);
        let mut c = server.connect();
        let mut out = vec![
            ask(&mut c, b"watch bogus\r\n", &["\r\n"]),
            ask(&mut c, b"watch fetchers nonsense\r\n", &["\r\n"]),
            // memcached 1.6.18 lets a batch end in `watch` (later versions refuse it).
            ask(&mut c, b"get x\r\nwatch\r\n", &["OK\r\n"]),
        ];
        // memcached allows 20 watchers: that one and 19 more.
        let mut watchers: Vec<Watcher> = (0..19).map(|_| watcher(&server, "mutations")).collect();
        let mut one_more = server.connect();
        out.push(ask(&mut one_more, b"watch\r\n", &["\r\n"]));
        watchers.clear();
        let disabled = Server::start(implementation, &["-W"], Transport::Tcp);
        let mut c = disabled.connect();
        out.push(ask(&mut c, b"watch\r\n", &["\r\n"]));
        out
    };
    let memcached = replies(Implementation::Memcached);
    assert_eq!(
        memcached,
        [
            "ERROR\r\n",
            "ERROR\r\n",
            "END\r\nOK\r\n",
            "WATCHER_TOO_MANY log watcher limit reached\r\n",
            "CLIENT_ERROR watch commands not allowed\r\n",
        ]
    );
    assert_eq!(replies(Implementation::Corvid), memcached);
}

#[test]
fn evictions_are_logged_in_memcached_s_format() {
    for implementation in [Implementation::Memcached, Implementation::Corvid] {
        let server = Server::start(implementation, &["-m", "8"], Transport::Tcp);
        let mut w = watcher(&server, "evictions");
        let mut c = server.connect();
        let value = vec![b'v'; 100_000];
        let mut i = 0;
        let text = loop {
            let mut request = format!("set key{i} 0 0 {}\r\n", value.len()).into_bytes();
            request.extend_from_slice(&value);
            request.extend_from_slice(b"\r\n");
            ask(&mut c, &request, &["\r\n"]);
            i += 1;
            assert!(
                i < 2000,
                "{}: no eviction after {i} sets",
                implementation.name()
            );
            if i > 200 && i % 50 == 0 {
                break w.lines_until("type=eviction").pop().expect("a line");
            }
        };
        let line = text;
        let fields: Vec<&str> = line
            .split(' ')
            .map(|f| f.split_once('=').map_or(f, |(n, _)| n))
            .collect();
        assert_eq!(
            fields,
            ["ts", "gid", "type", "key", "fetch", "ttl", "la", "clsid", "size"],
            "{}: {line}",
            implementation.name()
        );
        assert!(
            line.contains(" fetch=no ttl=-1 "),
            "{}: {line}",
            implementation.name()
        );
        assert!(
            line.ends_with(" size=100000"),
            "{}: {line}",
            implementation.name()
        );
    }
}

fn stats(c: &mut TextClient) -> HashMap<String, String> {
    c.stats()
}

fn stat(c: &mut TextClient, name: &str) -> u64 {
    stats(c)[name].parse().expect("a number")
}

/// Polls `stats` until `f` holds.
fn until(c: &mut TextClient, what: &str, f: impl Fn(&HashMap<String, String>) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let s = stats(c);
        if f(&s) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stalled_watcher_loses_lines_counted_and_never_slows_a_client() {
    let server = Server::corvid(&["-t", "1"]);
    let mut stalled = watcher(&server, "fetchers");
    let mut c = TextClient::connect(&server);
    c.set("k", b"value");
    let mut client = server.connect();
    // 200,000 gets in batches of 1,000: ~20 MB of log lines, far more than the watcher's
    // socket, send queue and outbox hold, while it reads nothing.
    let batch = "get k\r\n".repeat(1000);
    let started = Instant::now();
    for _ in 0..200 {
        send(&mut client, batch.as_bytes());
        read_while(&mut client, |t| t.matches("END\r\n").count() == 1000);
    }
    let took = started.elapsed();
    let mut s = TextClient::connect(&server);
    let skipped = stat(&mut s, "log_watcher_skipped");
    assert!(skipped > 0, "nothing skipped: {:?}", stats(&mut s));
    assert!(
        took < Duration::from_secs(120),
        "the client waited: {took:?}"
    );
    assert_eq!(stat(&mut s, "log_watchers"), 1);
    let written = stat(&mut s, "log_worker_written");
    let dropped = stat(&mut s, "log_worker_dropped");
    assert!(written + dropped >= 200_000, "{written} + {dropped}");
    // Reading again, the watcher gets what was kept, then, once it has room again, the
    // notice of what it missed before its next line.
    stalled
        .stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let deadline = Instant::now() + PATIENCE;
    let mut text = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let notice = loop {
        assert!(Instant::now() < deadline, "no skipped= notice");
        c.get("k");
        while let Ok(n) = stalled.stream.read(&mut buf) {
            assert!(n > 0, "the watcher was closed");
            text.extend_from_slice(&buf[..n]);
        }
        let got = String::from_utf8_lossy(&text);
        if let Some(at) = got.find("skipped=") {
            if let Some(line) = got[at..].split_inclusive('\n').next() {
                if line.ends_with('\n') {
                    break line.trim_end().to_string();
                }
            }
        }
        // Keep only a tail: the notice may straddle two reads.
        if text.len() > 4096 {
            text.drain(..text.len() - 4096);
        }
    };
    let n: u64 = notice["skipped=".len()..].parse().expect("a count");
    assert!(n > 0, "{notice}");
}

#[test]
fn several_watchers_each_get_their_streams_and_one_can_leave() {
    let server = Server::corvid(&[]);
    let mut fetchers = watcher(&server, "fetchers");
    let mut mutations = watcher(&server, "mutations");
    let both = watcher(&server, "fetchers mutations");
    let mut c = TextClient::connect(&server);
    until(&mut c, "three watchers", |s| s["log_watchers"] == "3");
    drop(both);
    until(&mut c, "the leaver is gone", |s| s["log_watchers"] == "2");
    c.set("a", b"1");
    c.get("a");
    c.set("zz_end", b"x");
    let f = fetchers.lines_until("key=zz_end");
    let m = mutations.lines_until("key=zz_end");
    assert!(f.iter().all(|l| l.contains("type=item_get")), "{f:#?}");
    assert_eq!(f.len(), 3, "{f:#?}");
    assert!(m.iter().all(|l| l.contains("type=item_store")), "{m:#?}");
    assert_eq!(m.len(), 2, "{m:#?}");
    let s = stats(&mut c);
    assert!(
        s["log_watcher_sent"].parse::<u64>().expect("n") >= 5,
        "{s:?}"
    );
    // `stats reset` clears the counters but not the watchers.
    c.send(b"stats reset\r\n");
    assert_eq!(c.line(), "RESET");
    let s = stats(&mut c);
    assert_eq!(
        (s["log_watcher_sent"].as_str(), s["log_watchers"].as_str()),
        ("0", "2")
    );
}
