use super::*;
use crate::binary::{check, decode, opcode as op, Extras, Frame as RequestFrame, Header, Status};
use crate::client::{Frame, Parsed, ReplyError};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn one(buf: &[u8]) -> (Reply<'_>, Frame) {
    match parse(buf) {
        Ok(Parsed::Reply { reply, frame }) => (reply, frame),
        other => panic!("{other:?}"),
    }
}

/// One response: opcode, status, opaque, key, value.
type Seen = (u8, Option<Status>, u32, Vec<u8>, Vec<u8>);

/// Cuts a stream into its responses.
fn walk(stream: &[u8]) -> Vec<Seen> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < stream.len() {
        let (r, frame) = one(&stream[at..]);
        let value = frame.data(&stream[at..]).unwrap().unwrap();
        out.push((
            r.opcode,
            r.status(),
            r.opaque,
            r.key.to_vec(),
            value.to_vec(),
        ));
        at += frame.end();
    }
    out
}

#[test]
fn composes_frames_the_server_reads_back() {
    let requests = [
        Request::new(op::GETK, b"key"),
        Request {
            extras: Extras::Store {
                flags: 7,
                exptime: 100,
            },
            value_len: 5,
            opaque: 9,
            cas: 3,
            ..Request::new(op::SETQ, b"key")
        },
        Request {
            value_len: 2,
            ..Request::new(op::APPEND, b"key")
        },
        Request {
            extras: Extras::Delta {
                delta: 1,
                initial: 5,
                exptime: u32::MAX,
            },
            ..Request::new(op::INCREMENT, b"n")
        },
        Request {
            extras: Extras::Expiry(30),
            ..Request::new(op::GATK, b"key")
        },
        Request {
            extras: Extras::Flush(Some(10)),
            ..Request::new(op::FLUSH, b"")
        },
        Request {
            extras: Extras::Flush(None),
            ..Request::new(op::FLUSHQ, b"")
        },
        Request::new(op::NOOP, b""),
        Request::new(op::VERSION, b""),
        Request::new(op::STAT, b"settings"),
    ];
    for request in requests {
        let mut out = Vec::new();
        write_request(&mut out, &request).unwrap();
        out.resize(out.len() + request.value_len, b'v');
        let header = Header::parse(&out).unwrap();
        assert_eq!(header.body_len as usize + 24, out.len());
        let RequestFrame::Command(command) = check(&header) else {
            panic!("{request:?}: {:?}", check(&header));
        };
        let decoded = decode(&header, command, &out).unwrap();
        assert_eq!(decoded.opcode, request.opcode);
        assert_eq!(decoded.key, request.key);
        assert_eq!(decoded.extras, request.extras, "{request:?}");
        assert_eq!(decoded.value_len, request.value_len);
        assert_eq!((decoded.opaque, decoded.cas), (request.opaque, request.cas));
    }
}

#[test]
fn refuses_frames_the_header_cannot_describe() {
    let mut out = b"kept".to_vec();
    let long_key = vec![b'k'; 65_536];
    assert_eq!(
        write_request(&mut out, &Request::new(op::GET, &long_key)),
        Err(FrameTooLarge)
    );
    let huge = Request {
        value_len: u32::MAX as usize,
        ..Request::new(op::SET, b"k")
    };
    assert_eq!(write_request(&mut out, &huge), Err(FrameTooLarge));
    assert_eq!(out, b"kept");
}

/// Responses captured from memcached 1.6.18 (`memcached -U 0`), in order: SET, GET hit,
/// GETK hit, GET miss with its message, GETQ miss (silent) + NOOP, GETKQ hit + NOOP,
/// ADD of a present key, INCREMENT creating 5 then 6, INCREMENT of a non-number,
/// TOUCH, GAT, VERSION, DELETE, DELETE miss, SETQ (silent) + NOOP, DELETEQ miss (not
/// silent) + NOOP, an unknown opcode, the end of a STAT listing.
#[test]
fn reads_the_responses_memcached_sends() {
    let stream = unhex(concat!(
        "810100000000000000000000000000010000000000000011",
        "8100000004000000000000090000000200000000000000110000000768656c6c6f",
        "810c0002040000000000000b00000003000000000000001100000007626b68656c6c6f",
        "8100000000000001000000090000000400000000000000004e6f7420666f756e64",
        "810a00000000000000000000000000060000000000000000",
        "810d0002040000000000000b00000007000000000000001100000007626b68656c6c6f",
        "810a00000000000000000000000000080000000000000000",
        "810200000000000200000014000000090000000000000000446174612065786973747320666f72206b65792e",
        "8105000000000000000000080000000b00000000000000120000000000000005",
        "8105000000000000000000080000000c00000000000000130000000000000006",
        "81050000000000060000002e0000000e00000000000000004e6f6e2d6e756d65726963207365727665722d736964652076616c756520666f7220696e6372206f722064656372",
        "811c000004000000000000040000000f000000000000001100000007",
        "811d000004000000000000090000001000000000000000110000000768656c6c6f",
        "810b00000000000000000006000000120000000000000000312e362e3138",
        "810400000000000000000000000000140000000000000000",
        "8104000000000001000000090000001500000000000000004e6f7420666f756e64",
        "810a00000000000000000000000000170000000000000000",
        "8114000000000001000000090000001c00000000000000004e6f7420666f756e64",
        "810a000000000000000000000000001d0000000000000000",
        "81550000000000810000000f0000001b0000000000000000556e6b6e6f776e20636f6d6d616e64",
        "8110000000000000000000000000001a0000000000000000",
    ));
    let ok = Some(Status::Success);
    let miss = Some(Status::KeyNotFound);
    let hello = b"hello".to_vec();
    let none = Vec::new();
    let expected = vec![
        (op::SET, ok, 1, none.clone(), none.clone()),
        (op::GET, ok, 2, none.clone(), hello.clone()),
        (op::GETK, ok, 3, b"bk".to_vec(), hello.clone()),
        (op::GET, miss, 4, none.clone(), b"Not found".to_vec()),
        (op::NOOP, ok, 6, none.clone(), none.clone()),
        (op::GETKQ, ok, 7, b"bk".to_vec(), hello.clone()),
        (op::NOOP, ok, 8, none.clone(), none.clone()),
        (
            op::ADD,
            Some(Status::KeyExists),
            9,
            none.clone(),
            b"Data exists for key.".to_vec(),
        ),
        (
            op::INCREMENT,
            ok,
            11,
            none.clone(),
            5u64.to_be_bytes().to_vec(),
        ),
        (
            op::INCREMENT,
            ok,
            12,
            none.clone(),
            6u64.to_be_bytes().to_vec(),
        ),
        (
            op::INCREMENT,
            Some(Status::NonNumeric),
            14,
            none.clone(),
            b"Non-numeric server-side value for incr or decr".to_vec(),
        ),
        (op::TOUCH, ok, 15, none.clone(), none.clone()),
        (op::GAT, ok, 16, none.clone(), hello.clone()),
        (op::VERSION, ok, 18, none.clone(), b"1.6.18".to_vec()),
        (op::DELETE, ok, 20, none.clone(), none.clone()),
        (op::DELETE, miss, 21, none.clone(), b"Not found".to_vec()),
        (op::NOOP, ok, 23, none.clone(), none.clone()),
        (op::DELETEQ, miss, 28, none.clone(), b"Not found".to_vec()),
        (op::NOOP, ok, 29, none.clone(), none.clone()),
        (
            0x55,
            Some(Status::UnknownCommand),
            27,
            none.clone(),
            b"Unknown command".to_vec(),
        ),
        (op::STAT, ok, 26, none.clone(), none),
    ];
    assert_eq!(walk(&stream), expected);
    // The hit's extras are its client flags, the CAS is the item's.
    let (hit, frame) = one(&stream[24..]);
    assert_eq!((hit.flags(), hit.cas), (Some(7), 0x11));
    assert_eq!(
        frame,
        Frame {
            head: 28,
            data: 5,
            trailer: 0
        }
    );
    assert_eq!(counter(&5u64.to_be_bytes()), Some(5));
    assert_eq!(counter(b"short"), None);
}

#[test]
fn a_head_is_a_reply_before_its_value_arrives() {
    let hit = unhex("810c0002040000000000000b00000003000000000000001100000007626b68656c6c6f");
    for cut in 0..hit.len() {
        match parse(&hit[..cut]) {
            Ok(Parsed::NeedMore) => assert!(cut < 30, "cut {cut}"),
            Ok(Parsed::Reply { reply, frame }) => {
                assert_eq!(reply.key, b"bk");
                assert_eq!(frame.head, 30);
                assert_eq!(frame.data(&hit[..cut]), Ok(None));
            }
            Err(e) => panic!("cut {cut}: {e}"),
        }
    }
}

#[test]
fn refuses_what_memcached_never_sends() {
    assert_eq!(parse(b"VALUE"), Err(ReplyError::BadMagic(b'V')));
    assert_eq!(parse(&[0x80]), Err(ReplyError::BadMagic(0x80)));
    let mut lying = unhex("810c0002040000000000000b00000003000000000000001100000007626b68656c6c6f");
    lying[4] = 200; // extras longer than the body
    assert_eq!(parse(&lying), Err(ReplyError::BadLength));
    // An unknown status is passed on, not refused.
    let mut odd = unhex("810100000000000000000000000000010000000000000011");
    odd[7] = 0x86;
    let (reply, _) = one(&odd);
    assert_eq!((reply.code, reply.status()), (0x86, None));
}

#[test]
fn quiet_forms_and_their_silences() {
    for (loud, quiet_op) in [
        (op::GET, op::GETQ),
        (op::GETK, op::GETKQ),
        (op::GAT, op::GATQ),
        (op::GATK, op::GATKQ),
        (op::SET, op::SETQ),
        (op::ADD, op::ADDQ),
        (op::REPLACE, op::REPLACEQ),
        (op::APPEND, op::APPENDQ),
        (op::PREPEND, op::PREPENDQ),
        (op::DELETE, op::DELETEQ),
        (op::INCREMENT, op::INCREMENTQ),
        (op::DECREMENT, op::DECREMENTQ),
        (op::FLUSH, op::FLUSHQ),
        (op::QUIT, op::QUITQ),
    ] {
        assert_eq!(quiet(loud), Some(quiet_op));
        assert_eq!(silent_status(loud), None);
        assert!(silent_status(quiet_op).is_some());
    }
    assert_eq!(silent_status(op::GETKQ), Some(Status::KeyNotFound));
    assert_eq!(silent_status(op::SETQ), Some(Status::Success));
    assert_eq!(quiet(op::NOOP), None);
    assert_eq!(quiet(op::TOUCH), None);
}
