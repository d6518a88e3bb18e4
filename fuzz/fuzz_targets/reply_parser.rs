//! Arbitrary bytes as a stream of server replies, read by each protocol's client
//! parser the way the bench and the proxy read a backend: head after head, skipping
//! values by their frames. None may panic; every head must be self-contained (parsed
//! again from its own bytes it is the same reply), need all of its bytes (any shorter
//! prefix is `NeedMore`), and lie inside the buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::binary::client as binary;
use protocol::client::{Parsed, ReplyError, MAX_REPLY_LINE};
use protocol::meta::client as meta;
use protocol::text::client as text;
use protocol::text::MAX_KEY_LENGTH;
use std::fmt::Debug;

fn walk<'d, R: PartialEq + Debug>(
    data: &'d [u8],
    parse: impl Fn(&'d [u8]) -> Result<Parsed<R>, ReplyError>,
    line_based: bool,
    mut inspect: impl FnMut(&R),
) {
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        let (reply, frame) = match parse(rest) {
            Err(_) => return,
            Ok(Parsed::NeedMore) => {
                if line_based {
                    // Waiting is only for a line that has not ended yet.
                    let window = &rest[..rest.len().min(MAX_REPLY_LINE + 1)];
                    assert!(!window.contains(&b'\n'));
                }
                return;
            }
            Ok(Parsed::Reply { reply, frame }) => (reply, frame),
        };
        assert!(frame.head > 0 && frame.head <= rest.len(), "{frame:?}");
        assert!(frame.end() >= frame.head);
        assert!(frame.trailer == 0 || frame.trailer == 2);
        if line_based {
            assert_eq!(rest[frame.head - 1], b'\n');
        }
        inspect(&reply);
        match parse(&rest[..frame.head]) {
            Ok(Parsed::Reply {
                reply: again,
                frame: same,
            }) => {
                assert_eq!(again, reply);
                assert_eq!(same, frame);
            }
            other => panic!("head alone: {other:?}"),
        }
        assert!(matches!(parse(&rest[..frame.head - 1]), Ok(Parsed::NeedMore)));
        match frame.data(rest) {
            Ok(Some(value)) => assert_eq!(value.len(), frame.data),
            Ok(None) => {
                assert!(frame.end() > rest.len());
                return;
            }
            Err(_) => return,
        }
        at += frame.end();
    }
}

fuzz_target!(|data: &[u8]| {
    walk(data, text::parse, true, |reply| {
        if let text::Reply::Value { key, .. } = reply {
            assert!(!key.is_empty() && !key.contains(&b' '));
        }
    });
    let mut key = [0u8; MAX_KEY_LENGTH];
    walk(data, meta::parse, true, |reply| {
        let _ = reply.flags.decoded_key(&mut key);
    });
    walk(data, binary::parse, false, |reply| {
        let _ = (reply.status(), reply.flags());
    });
});
