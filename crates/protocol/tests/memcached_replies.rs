//! The client halves against the real thing: requests composed by `text::client`,
//! `meta::client` and `binary::client` go to a fresh memcached 1.6.18, and every reply
//! it sends is read back incrementally (a byte count at a time, as a socket delivers
//! it) and checked field by field. A fresh server makes CAS values predictable.

use protocol::binary::{client as bin, opcode as op, Extras};
use protocol::client::{ErrorReply, Frame, Parsed, ReplyError};
use protocol::meta::client::{self as meta, Flag, Status};
use protocol::text::client::{self as text, Reply, Store};
use protocol::text::{GetKind, StoreCommand};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Memcached {
    child: Child,
    port: u16,
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

impl Memcached {
    /// Starts `memcached -U 0` on a port it picks itself (`-p -1`: no other process can
    /// take it between a probe and the bind) and polls until it accepts.
    fn start() -> Memcached {
        let binary = std::env::var("MEMCACHED_BIN").unwrap_or_else(|_| "/usr/bin/memcached".into());
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port_file =
            std::env::temp_dir().join(format!("protocol-mc-{}-{n}.port", std::process::id()));
        let _ = std::fs::remove_file(&port_file);
        let mut cmd = Command::new(&binary);
        cmd.args(["-p", "-1", "-l", "127.0.0.1", "-U", "0", "-t", "1"])
            .env("MEMCACHED_PORT_FILENAME", &port_file);
        if running_as_root() {
            cmd.args(["-u", "root"]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{binary}: {e} (./scripts/test installs Debian's memcached)")
            });
        let mut server = Memcached { child, port: 0 };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            // memcached writes "TCP INET: <port>" once it is bound.
            let port = std::fs::read_to_string(&port_file).ok().and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("TCP INET: "))
                    .and_then(|p| p.trim().parse::<u16>().ok())
            });
            if let Some(port) = port {
                server.port = port;
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    let _ = std::fs::remove_file(&port_file);
                    return server;
                }
            }
            assert!(
                server.child.try_wait().ok().flatten().is_none(),
                "memcached exited before accepting"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("memcached did not start");
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

/// Where the whole reply at the front of `buf` ends, once it is all there.
type WholeReply = fn(&[u8]) -> Option<usize>;

fn text_end(buf: &[u8]) -> Option<usize> {
    whole(text::parse(buf).expect("a text reply"), buf)
}

fn meta_end(buf: &[u8]) -> Option<usize> {
    whole(meta::parse(buf).expect("a meta reply"), buf)
}

fn binary_end(buf: &[u8]) -> Option<usize> {
    whole(bin::parse(buf).expect("a binary response"), buf)
}

fn whole<R>(parsed: Parsed<R>, buf: &[u8]) -> Option<usize> {
    match parsed {
        Parsed::NeedMore => None,
        Parsed::Reply { frame, .. } => frame.data(buf).expect("value end").map(|_| frame.end()),
    }
}

/// Sends `request` and reads until `count` whole replies are in, parsing what has
/// arrived after every read (so each reply is seen cut wherever the socket cut it).
fn exchange(conn: &mut TcpStream, request: &[u8], count: usize, end: WholeReply) -> Vec<u8> {
    conn.write_all(request).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (mut at, mut seen) = (0, 0);
    while seen < count {
        let n = conn.read(&mut chunk).expect("a reply before the timeout");
        assert!(n > 0, "memcached closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        while seen < count {
            match end(&buf[at..]) {
                Some(len) => {
                    at += len;
                    seen += 1;
                }
                None => break,
            }
        }
    }
    assert_eq!(at, buf.len(), "more bytes than {count} replies");
    buf
}

fn bytes(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One line per text reply, built from the parsed fields.
fn describe_text(buf: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let Ok(Parsed::Reply { reply, frame }) = text::parse(&buf[at..]) else {
            panic!("unparsable: {}", bytes(&buf[at..]));
        };
        out.push(match reply {
            Reply::Value {
                key,
                flags,
                bytes: len,
                cas,
            } => {
                let data = frame.data(&buf[at..]).unwrap().unwrap();
                assert_eq!(data.len(), len);
                format!(
                    "value {} flags={flags} cas={cas:?} {}",
                    bytes(key),
                    bytes(data)
                )
            }
            Reply::Number(n) => format!("number {n}"),
            Reply::Version(v) => format!("version {}", bytes(&v[..4])),
            Reply::Stat { name, .. } => format!("stat {}", bytes(name)),
            Reply::Failed(error) => describe_error(error),
            Reply::Other(line) => format!("other {}", bytes(line)),
            simple => format!("{simple:?}"),
        });
        at += frame.end();
    }
    out
}

#[test]
fn text_replies() {
    let server = Memcached::start();
    let mut conn = server.connect();
    let mut run = |build: &dyn Fn(&mut Vec<u8>), count: usize| -> Vec<String> {
        let mut out = Vec::new();
        build(&mut out);
        describe_text(&exchange(&mut conn, &out, count, text_end))
    };
    let store = |out: &mut Vec<u8>, command, key: &[u8], data: &[u8], cas| {
        text::write_store(
            out,
            &Store {
                flags: 5,
                cas,
                ..Store::new(command, key, data.len())
            },
        );
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    };
    assert_eq!(
        run(&|o| store(o, StoreCommand::Set, b"foo", b"bar", 0), 1),
        ["Stored"]
    );
    assert_eq!(
        run(
            &|o| text::write_get(o, GetKind::Get, [&b"foo"[..], b"nokey"]),
            2
        ),
        ["value foo flags=5 cas=None bar", "End"]
    );
    assert_eq!(
        run(&|o| text::write_get(o, GetKind::Gets, [b"foo"]), 2),
        ["value foo flags=5 cas=Some(1) bar", "End"]
    );
    assert_eq!(
        run(&|o| text::write_gat(o, GetKind::Gets, 100, [b"foo"]), 2),
        ["value foo flags=5 cas=Some(1) bar", "End"]
    );
    let stores = |o: &mut Vec<u8>| {
        store(o, StoreCommand::Add, b"foo", b"x", 0);
        store(o, StoreCommand::Replace, b"nokey", b"x", 0);
        store(o, StoreCommand::Cas, b"foo", b"baz", 1);
        store(o, StoreCommand::Cas, b"foo", b"baz", 1);
        store(o, StoreCommand::Cas, b"nokey", b"x", 1);
        store(o, StoreCommand::Append, b"foo", b"!", 0);
        store(o, StoreCommand::Prepend, b"foo", b"<", 0);
    };
    assert_eq!(
        run(&stores, 7),
        [
            "NotStored",
            "NotStored",
            "Stored",
            "Exists",
            "NotFound",
            "Stored",
            "Stored"
        ]
    );
    let arithmetic = |o: &mut Vec<u8>| {
        store(o, StoreCommand::Set, b"n", b"10", 0);
        text::write_delta(o, true, b"n", 5, false);
        text::write_delta(o, false, b"n", 100, false);
        text::write_delta(o, true, b"nokey", 1, false);
        text::write_delta(o, true, b"foo", 1, false);
        text::write_delta(o, true, b"n", 1, true);
        text::write_touch(o, b"foo", 10, false);
        text::write_touch(o, b"nokey", 10, false);
        text::write_delete(o, b"n", false);
        text::write_delete(o, b"n", false);
    };
    assert_eq!(
        run(&arithmetic, 9),
        [
            "Stored",
            "number 15",
            "number 0",
            "NotFound",
            "client error cannot increment or decrement non-numeric value",
            "Touched",
            "NotFound",
            "Deleted",
            "NotFound"
        ]
    );
    let admin = |o: &mut Vec<u8>| {
        text::write_version(o);
        text::write_verbosity(o, 1, false);
        text::write_flush_all(o, Some(0), false);
        text::write_flush_all(o, None, true);
        o.extend_from_slice(b"bogus\r\n");
        store(
            o,
            StoreCommand::Set,
            b"big",
            &vec![b'x'; 1024 * 1024 + 1],
            0,
        );
        text::write_shutdown(o, false);
        text::write_stats(o, b"reset");
        text::write_stats(o, b"detail on");
        store(o, StoreCommand::Set, b"a:b", b"x", 0);
        text::write_stats(o, b"detail dump");
        text::write_stats(o, b"sizes");
    };
    assert_eq!(
        run(&admin, 13),
        [
            "version 1.6.",
            "Ok",
            "Ok",
            "error ",
            "server error object too large for cache",
            "error : shutdown not enabled",
            "Reset",
            "Ok",
            "Stored",
            "other PREFIX a get 0 hit 0 set 1 del 0",
            "End",
            "stat sizes_status",
            "End"
        ]
    );
    let mut out = Vec::new();
    text::write_stats(&mut out, b"");
    conn.write_all(&out).unwrap();
    // A `stats` listing is STAT lines up to END; read until END arrives.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(b"END\r\n") {
        let n = conn.read(&mut chunk).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let lines = describe_text(&buf);
    assert!(lines.len() > 50, "{lines:?}");
    assert_eq!(lines[0], "stat pid");
    assert!(lines[..lines.len() - 1]
        .iter()
        .all(|l| l.starts_with("stat ")));
    assert_eq!(lines[lines.len() - 1], "End");
}

/// One line per meta reply: the status and every return flag, from the parsed fields.
fn describe_meta(buf: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let Ok(Parsed::Reply { reply, frame }) = meta::parse(&buf[at..]) else {
            panic!("unparsable: {}", bytes(&buf[at..]));
        };
        let mut line = match reply.status {
            Status::Value(len) => {
                let data = frame.data(&buf[at..]).unwrap().unwrap();
                assert_eq!(data.len(), len);
                format!("VA {}", bytes(data))
            }
            Status::Debug { key, fields } => format!("ME {} [{}]", bytes(key), bytes(fields)),
            Status::Failed(error) => describe_error(error),
            status => format!("{status:?}"),
        };
        let f = reply.flags;
        let mut key_buf = [0u8; 250];
        if let Some(key) = f.decoded_key(&mut key_buf) {
            write!(line, " key={}", bytes(key)).unwrap();
        }
        if f.base64_key {
            line.push_str(" b64");
        }
        for (name, value) in [
            ("cas", f.cas.map(|v| v.to_string())),
            ("flags", f.client_flags.map(|v| v.to_string())),
            ("ttl", f.ttl.map(|v| v.to_string())),
            ("size", f.size.map(|v| v.to_string())),
            ("la", f.last_access.map(|v| v.to_string())),
            ("hit", f.hit_before.map(|v| v.to_string())),
            ("opaque", f.opaque.map(bytes)),
        ] {
            if let Some(value) = value {
                write!(line, " {name}={value}").unwrap();
            }
        }
        for (set, name) in [(f.already_won, "Z"), (f.stale, "X"), (f.won, "W")] {
            if set {
                write!(line, " {name}").unwrap();
            }
        }
        out.push(line);
        at += frame.end();
    }
    out
}

#[test]
fn meta_replies() {
    let server = Memcached::start();
    let mut conn = server.connect();
    let mut run = |build: &dyn Fn(&mut Vec<u8>), count: usize| -> Vec<String> {
        let mut out = Vec::new();
        build(&mut out);
        describe_meta(&exchange(&mut conn, &out, count, meta_end))
    };
    let set = |o: &mut Vec<u8>, key: &[u8], data: &[u8], flags: &[Flag<'_>]| {
        meta::write_set(o, key, data.len(), flags);
        o.extend_from_slice(data);
        o.extend_from_slice(b"\r\n");
    };
    let store_and_get = |o: &mut Vec<u8>| {
        let flags = [
            Flag::Ttl(0),
            Flag::ClientFlags(7),
            Flag::ReturnCas,
            Flag::ReturnKey,
            Flag::Opaque(b"123"),
        ];
        set(o, b"mk", b"hi", &flags);
        meta::write_get(
            o,
            b"mk",
            &[
                Flag::ReturnValue,
                Flag::ReturnKey,
                Flag::ReturnClientFlags,
                Flag::ReturnCas,
                Flag::ReturnTtl,
                Flag::ReturnSize,
                Flag::Opaque(b"99"),
                Flag::ReturnHit,
                Flag::ReturnLastAccess,
            ],
        );
        meta::write_get(o, b"mk", &[]);
        meta::write_get(
            o,
            b"nokey",
            &[Flag::ReturnValue, Flag::ReturnKey, Flag::Opaque(b"5")],
        );
        meta::write_get(o, b"nokey", &[Flag::ReturnValue, Flag::Quiet]);
        meta::write_noop(o);
    };
    assert_eq!(
        run(&store_and_get, 5),
        [
            "Stored key=mk cas=1 opaque=123",
            "VA hi key=mk cas=1 flags=7 ttl=-1 size=2 la=0 hit=false opaque=99",
            "Stored",
            "Miss key=nokey opaque=5",
            "NoOp"
        ]
    );
    let conditional = |o: &mut Vec<u8>| {
        set(o, b"mk", b"zz", &[Flag::CompareCas(99)]);
        set(o, b"mk", b"zz", &[Flag::Mode(protocol::meta::Mode::Add)]);
        set(
            o,
            b"nokey",
            b"zz",
            &[Flag::Mode(protocol::meta::Mode::Replace), Flag::ReturnKey],
        );
        meta::write_delete(o, b"nokey", &[Flag::Opaque(b"1"), Flag::ReturnKey]);
        meta::write_delete(o, b"mk", &[Flag::Quiet]);
        meta::write_noop(o);
    };
    assert_eq!(
        run(&conditional, 5),
        [
            "Exists",
            "NotStored",
            "NotStored key=nokey",
            "NotFound key=nokey opaque=1",
            "NoOp"
        ]
    );
    let base64 = |o: &mut Vec<u8>| {
        let mut key = Vec::new();
        meta::encode_key(b"m k", &mut key);
        set(
            o,
            &key,
            b"hi",
            &[Flag::Base64Key, Flag::ReturnKey, Flag::ReturnCas],
        );
        meta::write_get(
            o,
            &key,
            &[Flag::Base64Key, Flag::ReturnKey, Flag::ReturnValue],
        );
        meta::write_debug(o, &key, true);
        meta::write_debug(o, b"nokey", false);
    };
    let replies = run(&base64, 4);
    assert_eq!(
        replies[..2],
        ["Stored key=m k b64 cas=2", "VA hi key=m k b64"]
    );
    assert!(
        replies[2].starts_with("ME bSBr [exp=-1 la=0 cas=2 fetch=yes cls=1 size="),
        "{}",
        replies[2]
    );
    assert_eq!(replies[3], "Miss");
    let arithmetic = |o: &mut Vec<u8>| {
        let create = [
            Flag::Vivify(0),
            Flag::Initial(10),
            Flag::ReturnValue,
            Flag::ReturnTtl,
        ];
        meta::write_arithmetic(o, b"cnt", &create);
        meta::write_arithmetic(o, b"cnt", &[Flag::Delta(5), Flag::ReturnValue]);
        meta::write_arithmetic(o, b"cnt", &[Flag::Mode(protocol::meta::Mode::Decr)]);
        meta::write_arithmetic(o, b"nokey", &[]);
        set(o, b"word", b"hi", &[Flag::Quiet]);
        meta::write_arithmetic(o, b"word", &[Flag::Quiet]);
        o.extend_from_slice(b"mx k\r\n");
        meta::write_get(o, b"k", &[Flag::Opaque(&[b'o'; 33])]);
    };
    assert_eq!(
        run(&arithmetic, 7),
        [
            "VA 10 ttl=-1",
            "VA 15",
            "Stored",
            "NotFound",
            "client error cannot increment or decrement non-numeric value",
            "error ",
            "client error opaque token too long"
        ]
    );
    // Stampede protection: the first miss wins the right to recache (W), the next
    // client sees a win already out (Z); after `md I` the item is stale (X).
    let stampede = |o: &mut Vec<u8>| {
        let get = [Flag::Vivify(30), Flag::ReturnValue, Flag::ReturnTtl];
        meta::write_get(o, b"stamp", &get);
        meta::write_get(o, b"stamp", &get);
        meta::write_delete(o, b"stamp", &[Flag::Invalidate, Flag::Ttl(30)]);
        meta::write_get(o, b"stamp", &[Flag::ReturnValue, Flag::ReturnTtl]);
        meta::write_get(
            o,
            b"stamp",
            &[Flag::ReturnValue, Flag::ReturnTtl, Flag::Recache(30)],
        );
    };
    assert_eq!(
        run(&stampede, 5),
        [
            "VA  ttl=30 W",
            "VA  ttl=30 Z",
            "Stored",
            "VA  ttl=30 X W",
            "VA  ttl=30 Z X"
        ]
    );
}

fn describe_error(error: ErrorReply<'_>) -> String {
    match error {
        ErrorReply::Error(m) => format!("error {}", bytes(m)),
        ErrorReply::Client(m) => format!("client error {}", bytes(m)),
        ErrorReply::Server(m) => format!("server error {}", bytes(m)),
    }
}

/// One line per binary response, from the parsed fields.
fn describe_binary(buf: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let Ok(Parsed::Reply { reply, frame }) = bin::parse(&buf[at..]) else {
            panic!("unparsable at {at}");
        };
        let value = frame.data(&buf[at..]).unwrap().unwrap();
        let mut line = format!(
            "{:02x} {:?} opaque={}",
            reply.opcode,
            reply.status().expect("a status memcached defines"),
            reply.opaque
        );
        if let Some(flags) = reply.flags() {
            write!(line, " flags={flags}").unwrap();
        }
        if reply.cas != 0 {
            write!(line, " cas={}", reply.cas).unwrap();
        }
        if !reply.key.is_empty() {
            write!(line, " key={}", bytes(reply.key)).unwrap();
        }
        if matches!(reply.opcode, op::INCREMENT | op::DECREMENT) && reply.code == 0 {
            write!(line, " counter={}", bin::counter(value).unwrap()).unwrap();
        } else if !value.is_empty() {
            write!(line, " {}", bytes(value)).unwrap();
        }
        out.push(line);
        at += frame.end();
    }
    out
}

#[test]
fn binary_responses() {
    let server = Memcached::start();
    let mut conn = server.connect();
    let mut run = |requests: &[(bin::Request<'_>, &[u8])], count: usize| -> Vec<String> {
        let mut out = Vec::new();
        for (request, value) in requests {
            let request = bin::Request {
                value_len: value.len(),
                ..*request
            };
            bin::write_request(&mut out, &request).unwrap();
            out.extend_from_slice(value);
        }
        describe_binary(&exchange(&mut conn, &out, count, binary_end))
    };
    let req = |opcode, key: &'static [u8], extras, opaque| bin::Request {
        extras,
        opaque,
        ..bin::Request::new(opcode, key)
    };
    let store = Extras::Store {
        flags: 7,
        exptime: 0,
    };
    let delta = |exptime| Extras::Delta {
        delta: 1,
        initial: 5,
        exptime,
    };
    let none = Extras::None;
    let script: &[(bin::Request<'_>, &[u8])] = &[
        (req(op::SET, b"bk", store, 1), b"hello"),
        (req(op::GET, b"bk", none, 2), b""),
        (req(op::GETK, b"bk", none, 3), b""),
        (req(op::GET, b"nokey", none, 4), b""),
        (req(op::GETQ, b"nokey", none, 5), b""),
        (req(op::NOOP, b"", none, 6), b""),
        (req(op::GETKQ, b"bk", none, 7), b""),
        (req(op::NOOP, b"", none, 8), b""),
        (req(op::ADD, b"bk", store, 9), b"x"),
        (req(op::REPLACE, b"nokey", store, 10), b"x"),
        (req(op::INCREMENT, b"cnt", delta(0), 11), b""),
        (req(op::INCREMENT, b"cnt", delta(0), 12), b""),
        (req(op::DECREMENT, b"nokey", delta(u32::MAX), 13), b""),
        (req(op::INCREMENT, b"bk", delta(0), 14), b""),
        (req(op::TOUCH, b"bk", Extras::Expiry(100), 15), b""),
        (req(op::GAT, b"bk", Extras::Expiry(100), 16), b""),
        (req(op::GATK, b"bk", Extras::Expiry(100), 17), b""),
        (req(op::VERSION, b"", none, 18), b""),
        (req(op::APPEND, b"bk", none, 19), b"!!"),
        (req(op::DELETE, b"bk", none, 20), b""),
        (req(op::DELETE, b"bk", none, 21), b""),
        (req(op::SETQ, b"q1", store, 22), b"v"),
        (req(op::NOOP, b"", none, 23), b""),
        (req(op::DELETEQ, b"nokey", none, 24), b""),
        (req(op::NOOP, b"", none, 25), b""),
        (req(op::FLUSH, b"", Extras::Flush(None), 26), b""),
        (req(0x55, b"", none, 27), b""),
    ];
    assert_eq!(
        run(script, 25),
        [
            "01 Success opaque=1 cas=1",
            "00 Success opaque=2 flags=7 cas=1 hello",
            "0c Success opaque=3 flags=7 cas=1 key=bk hello",
            "00 KeyNotFound opaque=4 Not found",
            "0a Success opaque=6",
            "0d Success opaque=7 flags=7 cas=1 key=bk hello",
            "0a Success opaque=8",
            "02 KeyExists opaque=9 Data exists for key.",
            "03 KeyNotFound opaque=10 Not found",
            "05 Success opaque=11 cas=2 counter=5",
            "05 Success opaque=12 cas=3 counter=6",
            "06 KeyNotFound opaque=13 Not found",
            "05 NonNumeric opaque=14 Non-numeric server-side value for incr or decr",
            "1c Success opaque=15 flags=7 cas=1",
            "1d Success opaque=16 flags=7 cas=1 hello",
            "23 Success opaque=17 flags=7 cas=1 key=bk hello",
            "0b Success opaque=18 1.6.18",
            "0e Success opaque=19 cas=4",
            "04 Success opaque=20",
            "04 KeyNotFound opaque=21 Not found",
            "0a Success opaque=23",
            "14 KeyNotFound opaque=24 Not found",
            "0a Success opaque=25",
            "08 Success opaque=26",
            "55 UnknownCommand opaque=27 Unknown command",
        ]
    );
    // STAT: one response per statistic, keyed by its name, ended by an empty one.
    let mut out = Vec::new();
    bin::write_request(&mut out, &req(op::STAT, b"settings", none, 28)).unwrap();
    conn.write_all(&out).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (mut at, mut names) = (0, Vec::new());
    loop {
        match bin::parse(&buf[at..]) {
            Ok(Parsed::Reply { reply, frame }) if frame.end() <= buf.len() - at => {
                assert_eq!((reply.opcode, reply.opaque), (op::STAT, 28));
                at += frame.end();
                if reply.key.is_empty() {
                    break;
                }
                names.push(bytes(reply.key));
            }
            Ok(_) => {
                let n = conn.read(&mut chunk).unwrap();
                assert!(n > 0);
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(at, buf.len());
    assert_eq!(names[..2], ["maxbytes", "maxconns"]);
}

/// Every byte of garbage after a good reply is refused or waited for, never misread as
/// a reply memcached could have sent.
#[test]
fn garbage_is_refused() {
    assert_eq!(bin::parse(b"STORED\r\n"), Err(ReplyError::BadMagic(b'S')));
    assert_eq!(meta::parse(b"STORED\r\n"), Err(ReplyError::UnknownStatus));
    assert!(matches!(
        text::parse(b"VALUE k x 1\r\n"),
        Err(ReplyError::BadNumber)
    ));
    let frame = Frame {
        head: 0,
        data: 1,
        trailer: 2,
    };
    assert_eq!(frame.data(b"x\n\n"), Err(ReplyError::BadDataEnd));
}
