use super::*;
use crate::client::{ErrorReply, Frame, Parsed, ReplyError};
use crate::meta::{Command, Mode};
use crate::text::MAX_KEY_LENGTH;

fn one(buf: &[u8]) -> (Reply<'_>, Frame) {
    match parse(buf) {
        Ok(Parsed::Reply { reply, frame }) => (reply, frame),
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn status(buf: &[u8]) -> Status<'_> {
    one(buf).0.status
}

#[test]
fn composes_every_command_and_flag() {
    let mut out = Vec::new();
    write_get(
        &mut out,
        b"k",
        &[
            Flag::ReturnValue,
            Flag::ReturnKey,
            Flag::ReturnCas,
            Flag::ReturnClientFlags,
            Flag::ReturnHit,
            Flag::ReturnLastAccess,
            Flag::ReturnSize,
            Flag::ReturnTtl,
            Flag::NoBump,
            Flag::Quiet,
            Flag::Opaque(b"abc"),
            Flag::Ttl(-1),
            Flag::Vivify(30),
            Flag::Recache(10),
            Flag::NewCas(5),
        ],
    );
    write_set(
        &mut out,
        b"k",
        2,
        &[
            Flag::ClientFlags(u32::MAX),
            Flag::CompareCas(9),
            Flag::Invalidate,
            Flag::Mode(Mode::Append),
        ],
    );
    write_set(&mut out, b"k", 0, &[]);
    write_delete(&mut out, b"k", &[Flag::RemoveValue, Flag::Quiet]);
    write_arithmetic(
        &mut out,
        b"n",
        &[
            Flag::Mode(Mode::Decr),
            Flag::Initial(10),
            Flag::Delta(u64::MAX),
        ],
    );
    write_noop(&mut out);
    write_debug(&mut out, b"k", false);
    out.extend_from_slice(b"ms ");
    encode_key(b"mk", &mut out);
    out.extend_from_slice(b" 0");
    write_debug(&mut out, b"bWs=", true);
    let modes = [
        Mode::Add,
        Mode::Append,
        Mode::Prepend,
        Mode::Replace,
        Mode::Set,
        Mode::Incr,
        Mode::Decr,
    ];
    let mode_flags: Vec<Flag<'_>> = modes.into_iter().map(Flag::Mode).collect();
    write_noop(&mut out);
    write_get(&mut out, b"m", &mode_flags);
    let expected = "mg k v k c f h l s t u q Oabc T-1 N30 R10 E5\r\n\
        ms k 2 F4294967295 C9 I MA\r\nms k 0\r\nmd k x q\r\n\
        ma n MD J10 D18446744073709551615\r\nmn\r\nme k\r\nms bWs= 0me bWs= b\r\n\
        mn\r\nmg m ME MA MP MR MS MI MD\r\n";
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn composed_requests_are_what_the_server_parser_reads() {
    let mut out = Vec::new();
    write_get(
        &mut out,
        b"Zm9v",
        &[
            Flag::Base64Key,
            Flag::ReturnValue,
            Flag::Opaque(b"xy"),
            Flag::Ttl(30),
        ],
    );
    let line = out.strip_suffix(b"\r\n").unwrap();
    let request = crate::meta::parse(line).unwrap();
    assert_eq!(request.command, Command::Get);
    assert_eq!(request.key(), b"foo");
    assert!(request.flags.value && request.flags.base64);
    assert_eq!(request.flags.opaque, Some(&b"Oxy"[..]));
    assert_eq!(request.flags.set_ttl, Some(30));
}

/// Replies captured from memcached 1.6.18 (`memcached -U 0`).
#[test]
fn reads_the_replies_memcached_sends() {
    let buf = b"VA 2 kmk f7 c11 t-1 s2 O99 h0 l0\r\nhi\r\n";
    let (reply, frame) = one(buf);
    assert_eq!(reply.status, Status::Value(2));
    let f = reply.flags;
    assert_eq!(f.key, Some(&b"mk"[..]));
    assert_eq!(
        (f.client_flags, f.cas, f.ttl, f.size),
        (Some(7), Some(11), Some(-1), Some(2))
    );
    assert_eq!(
        (f.opaque, f.hit_before, f.last_access),
        (Some(&b"99"[..]), Some(false), Some(0))
    );
    assert!(!f.base64_key && !f.won && !f.stale && !f.already_won);
    assert_eq!(f.tokens, b"kmk f7 c11 t-1 s2 O99 h0 l0");
    assert_eq!(frame.data(buf), Ok(Some(&b"hi"[..])));

    let (reply, _) = one(b"HD c11 kmk O123\r\n");
    assert_eq!(reply.status, Status::Stored);
    assert_eq!(
        (reply.flags.cas, reply.flags.key, reply.flags.opaque),
        (Some(11), Some(&b"mk"[..]), Some(&b"123"[..]))
    );
    let (reply, _) = one(b"EN knokey O5\r\n");
    assert_eq!(reply.status, Status::Miss);
    assert_eq!(reply.flags.key, Some(&b"nokey"[..]));
    assert_eq!(status(b"EN\r\n"), Status::Miss);
    assert_eq!(status(b"HD\r\n"), Status::Stored);
    assert_eq!(status(b"EX\r\n"), Status::Exists);
    assert_eq!(status(b"NS knokey O1\r\n"), Status::NotStored);
    assert_eq!(status(b"NF O1 knokey\r\n"), Status::NotFound);
    assert_eq!(status(b"NF\r\n"), Status::NotFound);
    assert_eq!(status(b"MN\r\n"), Status::NoOp);
    assert_eq!(
        status(b"ME bWs= exp=-1 la=1 cas=12 fetch=yes cls=1 size=63\r\n"),
        Status::Debug {
            key: b"bWs=",
            fields: b"exp=-1 la=1 cas=12 fetch=yes cls=1 size=63"
        }
    );
    assert_eq!(
        status(b"CLIENT_ERROR invalid flag\r\n"),
        Status::Failed(ErrorReply::Client(b"invalid flag"))
    );
    assert_eq!(status(b"ERROR\r\n"), Status::Failed(ErrorReply::Error(b"")));
    assert_eq!(
        status(b"SERVER_ERROR out of memory storing object\r\n"),
        Status::Failed(ErrorReply::Server(b"out of memory storing object"))
    );
    // ma with v: the number is the value.
    let buf = b"VA 2 c14\r\n15\r\n";
    let (reply, frame) = one(buf);
    assert_eq!(
        (reply.status, reply.flags.cas),
        (Status::Value(2), Some(14))
    );
    assert_eq!(frame.data(buf), Ok(Some(&b"15"[..])));
}

#[test]
fn stampede_flags_and_empty_values() {
    // memcached 1.6.18: vivify on miss (W), then a second client (Z), then a stale
    // item after md I (X W), then a recache request losing the race (Z X).
    for (line, won, stale, already) in [
        (&b"VA 0 c15 t30 W\r\n\r\n"[..], true, false, false),
        (b"VA 0 c15 t30 Z\r\n\r\n", false, false, true),
        (b"VA 0 c16 t30 X W\r\n\r\n", true, true, false),
        (b"VA 0 c16 t30 Z X\r\n\r\n", false, true, true),
    ] {
        let (reply, frame) = one(line);
        let f = reply.flags;
        assert_eq!((f.won, f.stale, f.already_won), (won, stale, already));
        assert_eq!(frame.data(line), Ok(Some(&b""[..])));
        assert_eq!(frame.end(), line.len());
    }
}

#[test]
fn base64_keys_decode() {
    // memcached 1.6.18 echoes a base64 key with a separate `b` flag.
    let (reply, _) = one(b"VA 2 kbWs= b f0 t-1 c12 s2 l2 h1 O1\r\n");
    assert!(reply.flags.base64_key);
    assert_eq!(reply.flags.key, Some(&b"bWs="[..]));
    let mut buf = [0u8; MAX_KEY_LENGTH];
    assert_eq!(reply.flags.decoded_key(&mut buf), Some(&b"mk"[..]));
    let (plain, _) = one(b"HD kmk\r\n");
    assert_eq!(plain.flags.decoded_key(&mut buf), Some(&b"mk"[..]));
    let (bad, _) = one(b"HD k!!! b\r\n");
    assert_eq!(bad.flags.decoded_key(&mut buf), None);
    let (none, _) = one(b"HD\r\n");
    assert_eq!(none.flags.decoded_key(&mut buf), None);
}

#[test]
fn a_value_head_comes_before_its_data() {
    let reply = b"VA 10 kk\r\n0123456789\r\n";
    for cut in 0..reply.len() {
        match parse(&reply[..cut]) {
            Ok(Parsed::NeedMore) => assert!(cut < 10, "cut {cut}"),
            Ok(Parsed::Reply { frame, .. }) => {
                assert_eq!(
                    frame,
                    Frame {
                        head: 10,
                        data: 10,
                        trailer: 2
                    }
                );
                assert_eq!(frame.data(&reply[..cut]), Ok(None));
            }
            Err(e) => panic!("cut {cut}: {e}"),
        }
    }
    let (_, frame) = one(reply);
    assert_eq!(
        frame.data(b"VA 10 kk\r\n0123456789xx"),
        Err(ReplyError::BadDataEnd)
    );
}

#[test]
fn refuses_what_memcached_never_sends() {
    assert_eq!(parse(b"VA\r\n"), Err(ReplyError::BadNumber));
    assert_eq!(parse(b"VA x\r\n"), Err(ReplyError::BadNumber));
    assert_eq!(parse(b"VA -1\r\n"), Err(ReplyError::BadNumber));
    assert_eq!(parse(b"ME\r\n"), Err(ReplyError::BadLine));
    for bad in [
        &b"HD cx\r\n"[..],
        b"HD f4294967296\r\n",
        b"HD h2\r\n",
        b"HD t\r\n",
    ] {
        assert_eq!(parse(bad), Err(ReplyError::BadFlag), "{bad:?}");
    }
    for bad in [&b"VALUE k 0 1\r\n"[..], b"STORED\r\n", b"XX\r\n", b"\r\n"] {
        assert_eq!(parse(bad), Err(ReplyError::UnknownStatus), "{bad:?}");
    }
    // Flags a later memcached may add are kept, not refused.
    let (reply, _) = one(b"HD Q7 c1\r\n");
    assert_eq!(reply.flags.cas, Some(1));
    assert_eq!(reply.flags.tokens, b"Q7 c1");
}
