use super::*;
use crate::client::{ErrorReply, Frame, Parsed, ReplyError, MAX_REPLY_LINE};
use crate::text::{GetKind, StoreCommand};

fn one(buf: &[u8]) -> (Reply<'_>, Frame) {
    match parse(buf) {
        Ok(Parsed::Reply { reply, frame }) => (reply, frame),
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

/// Cuts a whole stream into replies, each with its value.
fn walk(stream: &[u8]) -> Vec<(Reply<'_>, Option<&[u8]>)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < stream.len() {
        let (reply, frame) = one(&stream[at..]);
        let value = match reply {
            Reply::Value { .. } => Some(frame.data(&stream[at..]).unwrap().unwrap()),
            _ => None,
        };
        out.push((reply, value));
        at += frame.end();
    }
    out
}

#[test]
fn composes_every_command() {
    let mut out = Vec::new();
    write_get(&mut out, GetKind::Get, [b"a".as_slice(), b"bb"]);
    write_get(&mut out, GetKind::Gets, [b"a"]);
    write_gat(&mut out, GetKind::Get, 100, [b"a"]);
    write_gat(&mut out, GetKind::Gets, -1, [b"a", b"b"]);
    write_store(&mut out, &Store::new(StoreCommand::Set, b"k", 3));
    write_store(
        &mut out,
        &Store {
            flags: 5,
            exptime: 2_592_001,
            noreply: true,
            ..Store::new(StoreCommand::Add, b"k", 0)
        },
    );
    for command in [
        StoreCommand::Replace,
        StoreCommand::Append,
        StoreCommand::Prepend,
    ] {
        write_store(&mut out, &Store::new(command, b"k", 1));
    }
    write_store(
        &mut out,
        &Store {
            cas: u64::MAX,
            ..Store::new(StoreCommand::Cas, b"k", 1)
        },
    );
    write_delete(&mut out, b"k", false);
    write_delete(&mut out, b"k", true);
    write_delta(&mut out, true, b"n", 5, false);
    write_delta(&mut out, false, b"n", u64::MAX, true);
    write_touch(&mut out, b"k", 10, false);
    write_flush_all(&mut out, None, false);
    write_flush_all(&mut out, Some(30), true);
    write_version(&mut out);
    write_verbosity(&mut out, 1, false);
    write_stats(&mut out, b"");
    write_stats(&mut out, b"detail on");
    write_quit(&mut out);
    write_shutdown(&mut out, false);
    write_shutdown(&mut out, true);
    let expected = "get a bb\r\ngets a\r\ngat 100 a\r\ngats -1 a b\r\n\
        set k 0 0 3\r\nadd k 5 2592001 0 noreply\r\nreplace k 0 0 1\r\nappend k 0 0 1\r\n\
        prepend k 0 0 1\r\ncas k 0 0 1 18446744073709551615\r\n\
        delete k\r\ndelete k noreply\r\nincr n 5\r\ndecr n 18446744073709551615 noreply\r\n\
        touch k 10\r\nflush_all\r\nflush_all 30 noreply\r\nversion\r\nverbosity 1\r\n\
        stats\r\nstats detail on\r\nquit\r\nshutdown\r\nshutdown graceful\r\n";
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn composed_requests_are_what_the_server_parser_reads() {
    let mut out = Vec::new();
    write_store(
        &mut out,
        &Store {
            flags: 7,
            exptime: -1,
            cas: 42,
            noreply: true,
            ..Store::new(StoreCommand::Cas, b"key", 10)
        },
    );
    match crate::text::parse(&out) {
        crate::text::Parse::Request { request, consumed } => {
            assert_eq!(consumed, out.len());
            assert_eq!(
                request,
                crate::text::Request::Store {
                    command: StoreCommand::Cas,
                    key: b"key",
                    flags: 7,
                    exptime: -1,
                    bytes: 10,
                    cas: 42,
                    noreply: true,
                }
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Replies captured from memcached 1.6.18 (`memcached -U 0`), one per command.
#[test]
fn reads_every_reply_memcached_sends() {
    let cases: &[(&[u8], Reply<'_>)] = &[
        (b"STORED\r\n", Reply::Stored),
        (b"NOT_STORED\r\n", Reply::NotStored),
        (b"EXISTS\r\n", Reply::Exists),
        (b"NOT_FOUND\r\n", Reply::NotFound),
        (b"DELETED\r\n", Reply::Deleted),
        (b"TOUCHED\r\n", Reply::Touched),
        (b"OK\r\n", Reply::Ok),
        (b"RESET\r\n", Reply::Reset),
        (b"END\r\n", Reply::End),
        (b"15\r\n", Reply::Number(15)),
        (b"0\r\n", Reply::Number(0)),
        (
            b"18446744073709551615\r\n",
            Reply::Number(18_446_744_073_709_551_615),
        ),
        (b"VERSION 1.6.18\r\n", Reply::Version(b"1.6.18")),
        (
            b"STAT libevent 2.1.12-stable\r\n",
            Reply::Stat {
                name: b"libevent",
                value: b"2.1.12-stable",
            },
        ),
        (
            b"STAT 1:chunk_size 96\r\n",
            Reply::Stat {
                name: b"1:chunk_size",
                value: b"96",
            },
        ),
        (b"ERROR\r\n", Reply::Failed(ErrorReply::Error(b""))),
        (
            b"ERROR: shutdown not enabled\r\n",
            Reply::Failed(ErrorReply::Error(b": shutdown not enabled")),
        ),
        (
            b"ERROR Too many open connections\r\n",
            Reply::Failed(ErrorReply::Error(b"Too many open connections")),
        ),
        (
            b"CLIENT_ERROR bad command line format\r\n",
            Reply::Failed(ErrorReply::Client(b"bad command line format")),
        ),
        (
            b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
            Reply::Failed(ErrorReply::Client(
                b"cannot increment or decrement non-numeric value",
            )),
        ),
        (
            b"SERVER_ERROR object too large for cache\r\n",
            Reply::Failed(ErrorReply::Server(b"object too large for cache")),
        ),
        (
            b"PREFIX a get 1 hit 1 set 1 del 0\r\n",
            Reply::Other(b"PREFIX a get 1 hit 1 set 1 del 0"),
        ),
    ];
    for &(bytes, expected) in cases {
        let (reply, frame) = one(bytes);
        assert_eq!(reply, expected, "{:?}", String::from_utf8_lossy(bytes));
        assert_eq!(frame, Frame::line(bytes.len()));
    }
}

#[test]
fn values_with_and_without_cas() {
    let stream =
        b"VALUE foo 5 3\r\nbar\r\nVALUE foo 5 3 1\r\nbar\r\nVALUE e 4294967295 0\r\n\r\nEND\r\n";
    let replies = walk(stream);
    assert_eq!(
        replies,
        [
            (
                Reply::Value {
                    key: b"foo",
                    flags: 5,
                    bytes: 3,
                    cas: None
                },
                Some(&b"bar"[..])
            ),
            (
                Reply::Value {
                    key: b"foo",
                    flags: 5,
                    bytes: 3,
                    cas: Some(1)
                },
                Some(&b"bar"[..])
            ),
            (
                Reply::Value {
                    key: b"e",
                    flags: u32::MAX,
                    bytes: 0,
                    cas: None
                },
                Some(&b""[..])
            ),
            (Reply::End, None),
        ]
    );
}

#[test]
fn a_value_line_is_a_reply_before_its_data_arrives() {
    let reply = b"VALUE k 0 10\r\n0123456789\r\n";
    for cut in 0..reply.len() {
        match parse(&reply[..cut]) {
            Ok(Parsed::NeedMore) => assert!(cut < 14, "cut {cut}"),
            Ok(Parsed::Reply { frame, .. }) => {
                assert!(cut >= 14);
                assert_eq!(
                    frame,
                    Frame {
                        head: 14,
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
    assert_eq!(frame.data(reply), Ok(Some(&b"0123456789"[..])));
}

#[test]
fn refuses_what_memcached_never_sends() {
    for bad in [&b"VALUE\r\n"[..], b"VALUE k 0\r\n", b"VALUE k 0 3 1 9\r\n"] {
        assert_eq!(parse(bad), Err(ReplyError::BadLine), "{bad:?}");
    }
    for bad in [
        &b"VALUE k x 3\r\n"[..],
        b"VALUE k 4294967296 3\r\n",
        b"VALUE k 0 -3\r\n",
        b"VALUE k 0 3 x\r\n",
        b"18446744073709551616\r\n",
    ] {
        assert_eq!(parse(bad), Err(ReplyError::BadNumber), "{bad:?}");
    }
    let (_, frame) = one(b"VALUE k 0 3\r\nabcd\r\n");
    assert_eq!(
        frame.data(b"VALUE k 0 3\r\nabcd\r\n"),
        Err(ReplyError::BadDataEnd)
    );
    assert_eq!(
        parse(&[b'x'; MAX_REPLY_LINE + 1]),
        Err(ReplyError::LineTooLong)
    );
    assert_eq!(parse(b"VALUE k 0 3"), Ok(Parsed::NeedMore));
}

#[test]
fn a_bare_newline_ends_a_line_too() {
    assert_eq!(one(b"END\n"), (Reply::End, Frame::line(4)));
    assert_eq!(one(b"\r\n"), (Reply::Other(b""), Frame::line(2)));
}
