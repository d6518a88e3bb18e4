//! Meta replies composed by memcached, parsed by `meta::client`: statuses and every
//! return flag.

use protocol::client::Parsed;
use protocol::meta::client::{self as meta, Flag, Status};
use std::fmt::Write as _;

use crate::exchange::{bytes, describe_error, exchange, meta_end};
use crate::memcached::Memcached;

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
