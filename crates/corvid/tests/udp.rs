//! UDP (`-U`): corvid against memcached 1.6.18, datagram for datagram (frame headers
//! included), then what only corvid promises (a request cut short does not poison the
//! next, workers sharing the socket), then a real client crate over UDP.
//!
//! memcached keeps per-thread state across datagrams, so the differential runs it with one
//! thread (`-t 1`) and never sends it what leaves state behind: a request cut short, a
//! refused large value (its data is swallowed from later datagrams), and `quit` before the
//! end (it sticks: every later `get` then ends its datagram). docs/udp.md has the details.
//! The end of each reply is found without sleeping: after each step a `version` request
//! follows, and its reply marks the end (one server thread answers in order).

mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use support::{Implementation, Server, Transport};

/// How long one reply datagram may take before the step fails.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A server with UDP on, and its UDP address.
struct UdpServer {
    /// Kept for its lifetime: dropping it stops the process.
    _process: Server,
    addr: SocketAddr,
}

fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 (udp)");
    socket.local_addr().expect("local address").port()
}

/// Starts `implementation` with `-U <a free port>` and `args`, trying other ports if the
/// one picked was taken meanwhile.
fn start(implementation: Implementation, args: &[&str]) -> UdpServer {
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_udp_port();
        let port_text = port.to_string();
        let mut all = vec!["-U", port_text.as_str()];
        all.extend_from_slice(args);
        match Server::try_start(implementation, &all, Transport::Tcp) {
            Ok(server) => {
                return UdpServer {
                    _process: server,
                    addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                }
            }
            Err(refusal) if refusal.output.contains("in use") => last = refusal.report,
            Err(refusal) => panic!(
                "{} did not start: {}",
                implementation.name(),
                refusal.report
            ),
        }
    }
    panic!("{} did not start: {last}", implementation.name());
}

fn client(server: &UdpServer) -> UdpSocket {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a client socket");
    socket
        .connect(server.addr)
        .expect("connect the client socket");
    socket
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .expect("set a read timeout");
    socket
}

fn header(request_id: u16, sequence: u16, total: u16, reserved: u16) -> Vec<u8> {
    [request_id, sequence, total, reserved]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

/// A request datagram: a well-formed header, then `payload`.
fn request(request_id: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = header(request_id, 0, 1, 0);
    d.extend_from_slice(payload);
    d
}

fn request_id(datagram: &[u8]) -> Option<u16> {
    (datagram.len() >= 2).then(|| u16::from_be_bytes([datagram[0], datagram[1]]))
}

/// Sends `datagram`, then a `version` marker, and returns every datagram that came back
/// before the marker's reply.
fn exchange(socket: &UdpSocket, datagram: &[u8], marker: u16, who: &str) -> Vec<Vec<u8>> {
    socket.send(datagram).expect("send a request datagram");
    socket
        .send(&request(marker, b"version\r\n"))
        .expect("send the marker");
    let mut replies = Vec::new();
    let mut buf = vec![0u8; 70_000];
    loop {
        let n = socket.recv(&mut buf).unwrap_or_else(|e| {
            panic!(
                "{who}: no reply to the marker ({e}); got so far:\n{}",
                show(&replies)
            )
        });
        let d = buf[..n].to_vec();
        if request_id(&d) == Some(marker) && n > 8 && d[8..].starts_with(b"VERSION ") {
            return replies;
        }
        replies.push(d);
    }
}

/// The version string is each server's own; everything else must match.
fn normalise(datagrams: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    datagrams
        .into_iter()
        .map(|mut d| {
            if d.len() > 8 && d[8..].starts_with(b"VERSION ") {
                d.truncate(8);
                d.extend_from_slice(b"VERSION <version>\r\n");
            }
            d
        })
        .collect()
}

fn show(datagrams: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for d in datagrams {
        if d.len() < 8 {
            out.push_str(&format!("  short datagram {:?}\n", d));
            continue;
        }
        let field = |i: usize| u16::from_be_bytes([d[2 * i], d[2 * i + 1]]);
        let payload = &d[8..];
        let text: String = payload
            .iter()
            .take(60)
            .flat_map(|&b| std::ascii::escape_default(b))
            .map(char::from)
            .collect();
        out.push_str(&format!(
            "  [id {} seq {} total {} res {}] {} bytes: {text}{}\n",
            field(0),
            field(1),
            field(2),
            field(3),
            payload.len(),
            if payload.len() > 60 { "..." } else { "" }
        ));
    }
    out
}

/// One step: a raw datagram (header included) and what it checks.
struct Step {
    what: &'static str,
    datagram: Vec<u8>,
}

fn step(what: &'static str, request_id: u16, payload: &[u8]) -> Step {
    Step {
        what,
        datagram: request(request_id, payload),
    }
}

fn raw(what: &'static str, datagram: Vec<u8>) -> Step {
    Step { what, datagram }
}

fn value_set(key: &str, len: usize, fill: u8) -> Vec<u8> {
    let mut p = format!("set {key} 0 0 {len}\r\n").into_bytes();
    p.extend(std::iter::repeat_n(fill, len));
    p.extend_from_slice(b"\r\n");
    p
}

/// Everything both servers must answer identically, in order.
fn steps() -> Vec<Step> {
    let long_key = format!("get {}\r\n", "a".repeat(251));
    let with_payload = |mut h: Vec<u8>, p: &[u8]| {
        h.extend_from_slice(p);
        h
    };
    vec![
        step("set a small value", 1, b"set small 5 0 3\r\nabc\r\n"),
        step("set a 10 KiB value", 2, &value_set("big", 10240, b'x')),
        step("set a 60000-byte value", 3, &value_set("huge", 60000, b'y')),
        step("get a small value", 4, b"get small\r\n"),
        step("get a 10 KiB value: 8 datagrams", 5, b"get big\r\n"),
        step("one response object per key", 6, b"get big small big\r\n"),
        step("get a 60000-byte value: 44 datagrams", 7, b"get huge\r\n"),
        step("a miss", 8, b"get missing\r\n"),
        step("misses: a bare header, then END", 9, b"get m1 m2 m3\r\n"),
        step("miss then hit", 10, b"get missing small\r\n"),
        step("hit then miss", 11, b"get small missing\r\n"),
        step("gat", 12, b"gat 0 small missing\r\n"),
        step(
            "several commands in one datagram",
            13,
            b"get small\r\nget small\r\nversion\r\n",
        ),
        step(
            "an empty response right behind a sent one is not sent",
            14,
            b"version\r\nget zz small\r\nversion\r\n",
        ),
        step(
            "replies are written out after each retrieval",
            15,
            b"get small\r\nget zz zz\r\nversion\r\n",
        ),
        step(
            "after 21 requests memcached yields and writes out: the miss is a bare header",
            41,
            &[&b"touch zz 0 noreply\r\n".repeat(20)[..], b"version\r\nget zz small\r\n"].concat(),
        ),
        step(
            "one request fewer: the miss is retired behind VERSION",
            42,
            &[&b"touch zz 0 noreply\r\n".repeat(19)[..], b"version\r\nget zz small\r\n"].concat(),
        ),
        step(
            "storage commands",
            16,
            b"set k 0 0 2\r\nab\r\nadd k 0 0 1\r\nx\r\nappend k 0 0 1\r\nc\r\nprepend k 0 0 1\r\nz\r\nreplace q 0 0 1\r\nx\r\nget k\r\n",
        ),
        step(
            "delete, incr, decr, touch",
            17,
            b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr zz 1\r\ntouch n 0\r\ntouch zz 0\r\ndelete n\r\ndelete n\r\n",
        ),
        step(
            "noreply at the start: nothing for it",
            18,
            b"set n 0 0 1 noreply\r\n5\r\nget n\r\n",
        ),
        step(
            "noreply everywhere",
            19,
            b"incr n 1 noreply\r\ndelete zz noreply\r\nset o 0 0 1 noreply\r\n1\r\n",
        ),
        step("noreply then a reply", 20, b"incr n 1 noreply\r\nget n\r\n"),
        step("an unknown command", 21, b"garbage\r\n"),
        step("an empty line", 22, b"\r\n"),
        step("a bare newline", 23, b"\n"),
        step("a key too long", 24, long_key.as_bytes()),
        step(
            "a bad data chunk inside the datagram",
            25,
            b"set k 0 0 1\r\nxy\r\nget k\r\n",
        ),
        step("a bad number", 26, b"set k 0 0 x\r\nget k\r\n"),
        step("verbosity, stats reset", 27, b"verbosity 1\r\nstats reset\r\n"),
        step("stats detail, bad stats", 28, b"stats detail on\r\nstats bogus\r\n"),
        step("shutdown is not enabled", 29, b"shutdown\r\n"),
        step("a line without its newline", 30, b"get small"),
        step("binary noise without a newline", 31, b"\x00\x01\x02\xff"),
        raw("an empty datagram", Vec::new()),
        raw("three bytes", b"abc".to_vec()),
        raw("seven bytes", header(32, 0, 1, 0)[..7].to_vec()),
        raw("a header alone", header(33, 0, 1, 0)),
        raw(
            "total 2: requests spanning datagrams are dropped",
            with_payload(header(34, 0, 2, 0), b"get small\r\n"),
        ),
        raw(
            "total 0",
            with_payload(header(35, 0, 0, 0), b"get small\r\n"),
        ),
        raw(
            "sequence and reserved fields are ignored",
            with_payload(header(36, 5, 1, 7), b"get small\r\n"),
        ),
        step("the request id is echoed whole", 0xfffe, b"get small\r\n"),
        step("flush_all", 37, b"flush_all\r\nget small\r\n"),
        step(
            "flush_all noreply at the start",
            38,
            b"flush_all noreply\r\nget small\r\n",
        ),
        // memcached's quit sticks to its UDP connection for good, so these come last.
        step("quit after a reply: nothing for it", 39, b"version\r\nquit\r\n"),
        step("quit alone: a bare header", 40, b"quit\r\nversion\r\n"),
    ]
}

fn run_steps(server: &UdpServer, name: &str) -> Vec<Vec<Vec<u8>>> {
    let socket = client(server);
    steps()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let who = format!("{name}, step {i} ({})", s.what);
            normalise(exchange(&socket, &s.datagram, 0x8000 + i as u16, &who))
        })
        .collect()
}

/// The differences between two runs of the steps, step by step.
fn compare(
    (reference, expected): (&str, &[Vec<Vec<u8>>]),
    (other, got): (&str, &[Vec<Vec<u8>>]),
) -> String {
    let mut report = String::new();
    for ((s, want), have) in steps().iter().zip(expected).zip(got) {
        if want != have {
            report.push_str(&format!(
                "step `{}`:\n{reference} sent\n{}{other} sent\n{}\n",
                s.what,
                show(want),
                show(have)
            ));
        }
    }
    report
}

/// The steps are deterministic against memcached itself: a difference found below is
/// corvid's, not the test's.
#[test]
fn memcached_agrees_with_itself() {
    support::memcached_binary();
    let one = run_steps(&start(Implementation::Memcached, &["-t", "1"]), "memcached");
    let two = run_steps(&start(Implementation::Memcached, &["-t", "1"]), "memcached");
    let report = compare(("memcached", &one), ("memcached again", &two));
    assert!(report.is_empty(), "\n{report}");
}

#[test]
fn corvid_matches_memcached_datagram_for_datagram() {
    support::memcached_binary();
    let memcached = start(Implementation::Memcached, &["-t", "1"]);
    let corvid = start(Implementation::Corvid, &["-t", "1"]);
    let expected = run_steps(&memcached, "memcached");
    let got = run_steps(&corvid, "corvid");
    let report = compare(("memcached", &expected), ("corvid", &got));
    assert!(report.is_empty(), "\n{report}");
    // The checks are not vacuous: the big replies really are split.
    let big = &expected[4];
    assert_eq!(big.len(), 8, "memcached's 10 KiB reply:\n{}", show(big));
    assert_eq!(big[7].len(), 530);
    assert_eq!(expected[6].len(), 44);
}

/// What memcached does here depends on which thread gets the next datagram; corvid drops
/// the request and stays well-behaved.
#[test]
fn a_request_cut_short_is_dropped_and_the_next_datagram_served() {
    // One worker, so the marker's reply cannot overtake the request's.
    let corvid = start(Implementation::Corvid, &["-t", "1"]);
    let socket = client(&corvid);
    let cases: [&[u8]; 6] = [
        b"set v 0 0 3\r\n",
        b"set v 0 0 10\r\nabc\r\n",
        b"set v 0 0 2000000\r\nabc\r\n",
        b"version\r\nset v 0 0 5\r\nab",
        // A binary SET of `v` whose 10-byte value has 3 bytes in the datagram.
        b"\x80\x01\0\x01\x08\0\0\0\0\0\0\x13\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0vabc",
        // A binary GET whose 5-byte key has 2 bytes in the datagram.
        b"\x80\0\0\x05\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0\0\0\0\0\0ab",
    ];
    for (i, payload) in cases.iter().enumerate() {
        let replies = exchange(&socket, &request(i as u16, payload), 0x7000, "corvid");
        let who = String::from_utf8_lossy(payload);
        match i {
            // Too large: refused at once, the rest of the datagram is the swallowed data.
            2 => assert_eq!(
                replies,
                [request(2, b"SERVER_ERROR object too large for cache\r\n")],
                "{who}"
            ),
            // The version before the cut-short set is answered.
            3 => assert_eq!(replies.len(), 1, "{who}: {}", show(&replies)),
            _ => assert!(replies.is_empty(), "{who}: {}", show(&replies)),
        }
        let after = exchange(&socket, &request(100, b"get v\r\n"), 0x7001, "corvid");
        assert_eq!(after, [request(100, b"END\r\n")], "after {who}");
    }
}

/// Four workers share the socket: many clients at once each get exactly their replies.
#[test]
fn workers_share_the_socket_and_reply_to_each_sender() {
    let corvid = start(Implementation::Corvid, &["-t", "4"]);
    let seed = client(&corvid);
    // No marker here: with four workers its reply could overtake this one.
    seed.send(&request(1, &value_set("shared", 5000, b's')))
        .expect("send");
    let mut buf = [0u8; 100];
    let n = seed.recv(&mut buf).expect("a reply to the set");
    assert_eq!(buf[..n], request(1, b"STORED\r\n"));
    let addr = corvid.addr;
    let threads: Vec<_> = (0..4u16)
        .map(|t| {
            std::thread::spawn(move || {
                let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
                socket.connect(addr).expect("connect");
                socket
                    .set_read_timeout(Some(REPLY_TIMEOUT))
                    .expect("timeout");
                let mut buf = vec![0u8; 2000];
                for i in 0..50u16 {
                    let id = t * 1000 + i;
                    let key = format!("k{t}-{i}");
                    let set = format!("set {key} 0 0 4\r\n{i:04}\r\nget {key} shared\r\n");
                    socket.send(&request(id, set.as_bytes())).expect("send");
                    // STORED, the value of k, then `shared` in 4 datagrams with END.
                    let mut got = Vec::new();
                    for _ in 0..6 {
                        let n = socket.recv(&mut buf).expect("a reply datagram");
                        assert_eq!(request_id(&buf[..n]), Some(id), "a reply to another");
                        got.extend_from_slice(&buf[8..n]);
                    }
                    let mut want = format!("STORED\r\nVALUE {key} 0 4\r\n{i:04}\r\n").into_bytes();
                    want.extend_from_slice(b"VALUE shared 0 5000\r\n");
                    want.extend(std::iter::repeat_n(b's', 5000));
                    want.extend_from_slice(b"\r\nEND\r\n");
                    assert_eq!(got, want, "client {t} request {i}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client thread failed");
    }
}

/// The `memcache` crate over UDP (ASCII), against both servers. Its ASCII `get`, `incr`,
/// `decr` and `flush` never send their datagram (they do not flush its UDP stream, against
/// memcached too), so values are read back here with plain requests.
#[test]
fn a_real_client_works_over_udp() {
    support::memcached_binary();
    for implementation in [Implementation::Memcached, Implementation::Corvid] {
        // One thread, so the marker's reply cannot overtake the request's.
        let server = start(implementation, &["-t", "1"]);
        let name = implementation.name();
        let url = format!("memcache://{}?udp=true&protocol=ascii", server.addr);
        let c = memcache::Client::connect(url.as_str())
            .unwrap_or_else(|e| panic!("{name}: connect {url}: {e}"));
        c.set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("set a read timeout");
        let raw = client(&server);
        let get = |key: &str| -> Vec<u8> {
            let payload = format!("get {key}\r\n");
            let datagrams = exchange(&raw, &request(1, payload.as_bytes()), 2, name);
            datagrams.iter().flat_map(|d| d[8..].to_vec()).collect()
        };

        assert_eq!(c.version().expect("version").len(), 1, "{name}");
        c.set("k", "v1", 0).expect("set");
        assert_eq!(get("k"), b"VALUE k 0 2\r\nv1\r\nEND\r\n", "{name}");
        c.add("k", "other", 0).expect("add over an existing key");
        c.append("k", "+").expect("append");
        assert_eq!(get("k"), b"VALUE k 0 3\r\nv1+\r\nEND\r\n", "{name}");
        // A value sent in one large datagram, answered in many.
        let large: Vec<u8> = (0..=255u8).cycle().take(50_000).collect();
        c.set("large", large.as_slice(), 0)
            .expect("set a large value");
        let mut want = b"VALUE large 0 50000\r\n".to_vec();
        want.extend_from_slice(&large);
        want.extend_from_slice(b"\r\nEND\r\n");
        assert!(
            get("large") == want,
            "{name}: the large value came back different"
        );
        assert!(c.touch("k", 100).expect("touch"), "{name}");
        assert!(!c.touch("nope", 100).expect("touch a miss"), "{name}");
        assert!(c.delete("k").expect("delete"), "{name}");
        assert!(!c.delete("k").expect("delete a miss"), "{name}");
        c.flush_with_delay(0).expect("flush_all 0");
        assert_eq!(get("large"), b"END\r\n", "{name}");
    }
}

/// Garbage of every shape (no header, bad headers, binary noise, command fragments, huge
/// and empty datagrams) neither stops corvid nor leaves anything behind for the next
/// client.
#[test]
fn hostile_datagrams_leave_the_server_serving() {
    let corvid = start(Implementation::Corvid, &["-t", "2"]);
    let noise = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    noise.connect(corvid.addr).expect("connect");
    let words: [&[u8]; 12] = [
        b"get ",
        b"set k 0 0 ",
        b"\r\n",
        b"\n",
        b"gat ",
        b"incr ",
        b"noreply",
        b" 99999999999",
        b"\x80",
        b"\x00",
        b"quit",
        b"stats ",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // xorshift: deterministic, so a failure reproduces.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..3000u32 {
        let mut d = match next() % 4 {
            0 => Vec::new(),
            1 => header(i as u16, (next() % 3) as u16, (next() % 3) as u16, 0),
            _ => header(i as u16, 0, 1, 0),
        };
        let len = match next() % 10 {
            0 => 60_000,
            _ => (next() % 300) as usize,
        };
        while d.len() < len {
            if next() % 2 == 0 {
                d.extend_from_slice(words[(next() % words.len() as u64) as usize]);
            } else {
                d.push(next() as u8);
            }
        }
        // The kernel may refuse a burst (ENOBUFS); what matters is what arrives.
        let _ = noise.send(&d);
    }
    // Two workers: no marker (its reply could overtake), read until END instead.
    let socket = client(&corvid);
    socket
        .send(&request(1, b"set after 0 0 2\r\nok\r\nget after\r\n"))
        .expect("send");
    let mut joined = Vec::new();
    let mut buf = vec![0u8; 70_000];
    while !joined.ends_with(b"END\r\n") {
        let n = socket.recv(&mut buf).unwrap_or_else(|e| {
            panic!("no reply ({e}); got {:?}", String::from_utf8_lossy(&joined))
        });
        assert_eq!(request_id(&buf[..n]), Some(1));
        joined.extend_from_slice(&buf[8..n]);
    }
    assert_eq!(joined, b"STORED\r\nVALUE after 0 2\r\nok\r\nEND\r\n");
}
