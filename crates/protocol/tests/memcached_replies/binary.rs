//! Binary responses composed by memcached, parsed by `binary::client`: headers, extras,
//! keys, values, statuses.

use protocol::binary::{client as bin, opcode as op, Extras};
use protocol::client::Parsed;
use std::fmt::Write as _;
use std::io::{Read, Write};

use crate::exchange::{binary_end, bytes, exchange};
use crate::memcached::Memcached;

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
