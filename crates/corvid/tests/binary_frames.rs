//! Binary frames that the differential scripts cannot compare: hostile lengths that
//! memcached would wait on (it reads the claimed key before judging a frame, and answers
//! a too-large value only after swallowing it) and that corvid judges on the header
//! alone, without buffering or allocating what they claim; and STAT replies, whose names
//! must be memcached's while their values differ.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Endpoint, Server};

fn connect(server: &Server) -> TcpStream {
    let Endpoint::Tcp(addr) = server.endpoint() else {
        panic!("a TCP server");
    };
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    s
}

/// A request header with these lengths (the body is the caller's business).
fn header(opcode: u8, key_len: u16, extras_len: u8, body_len: u32, opaque: u32) -> Vec<u8> {
    let mut h = vec![0x80, opcode];
    h.extend_from_slice(&key_len.to_be_bytes());
    h.push(extras_len);
    h.push(0);
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&body_len.to_be_bytes());
    h.extend_from_slice(&opaque.to_be_bytes());
    h.extend_from_slice(&[0; 8]);
    h
}

/// One response: (opcode, status, opaque, key, value).
struct Response {
    opcode: u8,
    status: u16,
    opaque: u32,
    key: Vec<u8>,
    value: Vec<u8>,
}

fn read_response(s: &mut TcpStream) -> Response {
    let mut h = [0u8; 24];
    s.read_exact(&mut h).expect("a response header");
    assert_eq!(h[0], 0x81, "response magic");
    let key_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let extras_len = usize::from(h[4]);
    let body_len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
    let mut body = vec![0u8; body_len];
    s.read_exact(&mut body).expect("a response body");
    Response {
        opcode: h[1],
        status: u16::from_be_bytes([h[6], h[7]]),
        opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
        key: body[extras_len..extras_len + key_len].to_vec(),
        value: body[extras_len + key_len..].to_vec(),
    }
}

fn expect_closed(s: &mut TcpStream) {
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "bytes after the last reply: {rest:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

/// The server's resident memory, from /proc (found by its port on the command line).
fn rss_kib(server: &Server) -> u64 {
    let port = server.port().to_string();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let path = entry.expect("a /proc entry").path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_it = args.first().is_some_and(|a| a.ends_with(b"corvid"))
            && args
                .windows(2)
                .any(|w| w[0] == b"-p" && w[1] == port.as_bytes());
        if !is_it {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).expect("status");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS");
        return line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("a number");
    }
    panic!("no corvid process with -p {port}");
}

#[test]
fn a_two_gib_set_is_refused_at_once_without_allocating_it() {
    let server = Server::corvid(&[]);
    let before = rss_kib(&server);
    let mut s = connect(&server);
    let mut frame = header(0x01, 1, 8, 1 << 31, 77);
    frame.extend_from_slice(&[0; 8]);
    frame.push(b'k');
    let started = Instant::now();
    s.write_all(&frame).expect("send");
    let r = read_response(&mut s);
    assert_eq!((r.opcode, r.status, r.opaque), (0x01, 0x03, 77));
    assert_eq!(r.value, b"Too large.");
    assert!(started.elapsed() < Duration::from_secs(2), "answered late");
    // The claimed body is swallowed as it arrives, never buffered.
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..16 {
        s.write_all(&chunk).expect("send part of the body");
    }
    // Other clients are served meanwhile.
    let mut other = connect(&server);
    other.write_all(&header(0x0a, 0, 0, 0, 5)).expect("noop");
    assert_eq!(read_response(&mut other).opaque, 5);
    let after = rss_kib(&server);
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn lying_lengths_are_judged_on_the_header_alone() {
    let server = Server::corvid(&[]);
    // A 65535-byte key in a 10-byte body: unknown command and a close, without waiting
    // for the key (memcached waits for it).
    let mut s = connect(&server);
    s.write_all(&header(0x00, u16::MAX, 0, 10, 1))
        .expect("send");
    let r = read_response(&mut s);
    assert_eq!(
        (r.status, r.value.as_slice()),
        (0x81, &b"Unknown command"[..])
    );
    expect_closed(&mut s);
    // 255 bytes of extras on a GET.
    let mut s = connect(&server);
    s.write_all(&header(0x00, 1, 255, 256, 2)).expect("send");
    let r = read_response(&mut s);
    assert_eq!(
        (r.status, r.value.as_slice()),
        (0x04, &b"Invalid arguments"[..])
    );
    expect_closed(&mut s);
    // An unknown opcode claiming 2 GiB: answered now, its body swallowed as it comes.
    let mut s = connect(&server);
    s.write_all(&header(0x55, 0, 0, 1 << 31, 3)).expect("send");
    let r = read_response(&mut s);
    assert_eq!((r.opcode, r.status, r.opaque), (0x55, 0x81, 3));
}

#[test]
fn a_header_arriving_a_byte_at_a_time_is_answered_once_whole() {
    let server = Server::corvid(&[]);
    let mut s = connect(&server);
    s.set_nodelay(true).expect("nodelay");
    let mut frame = header(0x01, 1, 8, 12, 9);
    frame.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 0]);
    frame.extend_from_slice(b"kval");
    for b in &frame {
        s.write_all(std::slice::from_ref(b)).expect("send a byte");
    }
    let r = read_response(&mut s);
    assert_eq!((r.opcode, r.status, r.opaque), (0x01, 0, 9));
    let mut get = header(0x0c, 1, 0, 1, 10);
    get.push(b'k');
    s.write_all(&get).expect("send");
    let r = read_response(&mut s);
    assert_eq!(
        (r.status, r.key.as_slice(), r.value.as_slice()),
        (0, &b"k"[..], &b"val"[..])
    );
}

/// Names of the stat frames for `group` (empty: all), in order.
fn stat_names(server: &Server, group: &[u8]) -> Vec<String> {
    let mut s = connect(server);
    let mut frame = header(0x10, group.len() as u16, 0, group.len() as u32, 4);
    frame.extend_from_slice(group);
    s.write_all(&frame).expect("send");
    let mut names = Vec::new();
    loop {
        let r = read_response(&mut s);
        assert_eq!((r.opcode, r.status, r.opaque), (0x10, 0, 4));
        if r.key.is_empty() {
            assert!(r.value.is_empty(), "the last stat frame is empty");
            return names;
        }
        names.push(String::from_utf8_lossy(&r.key).into_owned());
    }
}

#[test]
fn stat_frames_carry_memcacheds_names_in_its_order() {
    let memcached = Server::memcached(&[]);
    let corvid = Server::corvid(&[]);
    for group in [&b""[..], b"settings"] {
        assert_eq!(
            stat_names(&corvid, group),
            stat_names(&memcached, group),
            "STAT {:?}",
            String::from_utf8_lossy(group)
        );
    }
}

/// A stat's value from an all-stats reply.
fn stat(s: &mut TcpStream, name: &str) -> u64 {
    s.write_all(&header(0x10, 0, 0, 0, 0)).expect("send");
    let mut found = None;
    loop {
        let r = read_response(s);
        if r.key.is_empty() {
            break;
        }
        if r.key == name.as_bytes() {
            found = String::from_utf8_lossy(&r.value).parse().ok();
        }
    }
    found.unwrap_or_else(|| panic!("no stat {name}"))
}

#[test]
fn binary_commands_move_memcacheds_counters() {
    for server in [Server::memcached(&[]), Server::corvid(&[])] {
        let name = server.implementation().name();
        let mut s = connect(&server);
        let mut set = header(0x01, 1, 8, 10, 0);
        set.extend_from_slice(&[0; 8]);
        set.extend_from_slice(b"kv");
        let get = |key: &[u8], opcode: u8| {
            let mut f = header(opcode, key.len() as u16, 0, key.len() as u32, 0);
            f.extend_from_slice(key);
            f
        };
        let mut batch = set.clone();
        batch.extend(get(b"k", 0x00));
        batch.extend(get(b"z", 0x00));
        batch.extend(get(b"k", 0x09));
        batch.extend(get(b"z", 0x0d));
        let mut touch = header(0x1c, 1, 4, 5, 0);
        touch.extend_from_slice(&[0, 0, 0, 100]);
        touch.push(b'k');
        batch.extend(touch);
        batch.extend(header(0x0a, 0, 0, 0, 0));
        s.write_all(&batch).expect("send");
        // set, get hit, get miss, getq hit, touch, noop.
        for _ in 0..6 {
            read_response(&mut s);
        }
        let counts: Vec<u64> = [
            "cmd_get",
            "get_hits",
            "get_misses",
            "cmd_set",
            "cmd_touch",
            "touch_hits",
        ]
        .iter()
        .map(|n| stat(&mut s, n))
        .collect();
        assert_eq!(counts, [4, 2, 2, 1, 1, 1], "{name}");
    }
}

#[test]
fn incr_that_creates_counts_as_memcached_counts() {
    let mut seen = Vec::new();
    for server in [Server::memcached(&[]), Server::corvid(&[])] {
        let mut s = connect(&server);
        let incr = |key: &[u8], exptime: u32| {
            let mut f = header(0x05, key.len() as u16, 20, 20 + key.len() as u32, 0);
            f.extend_from_slice(&1u64.to_be_bytes());
            f.extend_from_slice(&5u64.to_be_bytes());
            f.extend_from_slice(&exptime.to_be_bytes());
            f.extend_from_slice(key);
            f
        };
        // Created, then incremented, then a miss that may not create.
        let mut batch = incr(b"c", 0);
        batch.extend(incr(b"c", 0));
        batch.extend(incr(b"d", u32::MAX));
        s.write_all(&batch).expect("send");
        let values: Vec<(u16, Vec<u8>)> = (0..3)
            .map(|_| {
                let r = read_response(&mut s);
                (r.status, r.value)
            })
            .collect();
        let counts: Vec<u64> = [
            "incr_misses",
            "incr_hits",
            "cmd_set",
            "total_items",
            "curr_items",
        ]
        .iter()
        .map(|n| stat(&mut s, n))
        .collect();
        seen.push((values, counts));
    }
    assert_eq!(seen[1], seen[0], "corvid (right) against memcached (left)");
}
