//! Text replies composed by memcached, parsed by `text::client`: values, numbers,
//! versions, stats, errors.

use protocol::client::Parsed;
use protocol::text::client::{self as text, Reply, Store};
use protocol::text::{GetKind, StoreCommand};
use std::io::{Read, Write};

use crate::exchange::{bytes, describe_error, exchange, text_end};
use crate::memcached::Memcached;

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
