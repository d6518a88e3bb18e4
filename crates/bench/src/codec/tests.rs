use super::*;
use crate::distribution::SizeDist;

fn content() -> Content {
    Content::new(100, SizeDist::Fixed(4), SizeDist::Fixed(10)).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn elements(protocol: Protocol, stream: &[u8]) -> Vec<String> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < stream.len() {
        let (e, n) = protocol.parse_element(&stream[at..]).unwrap().unwrap();
        out.push(format!("{e:?}"));
        at += n;
    }
    out
}

#[test]
fn text_requests() {
    let c = content();
    let mut out = Vec::new();
    Protocol::Text.get(&c, &[1, 22], &mut out);
    assert_eq!(out, b"get k001 k022\r\n");
    out.clear();
    Protocol::Text.delete(&c, 3, &mut out);
    assert_eq!(out, b"delete k003\r\n");
    out.clear();
    Protocol::Text.set(&c, 3, 10, &mut out);
    let mut value = Vec::new();
    c.push_value(3, 10, &mut value);
    assert_eq!(out, [&b"set k003 0 0 10\r\n"[..], &value, b"\r\n"].concat());
}

#[test]
fn meta_requests() {
    let c = content();
    let mut out = Vec::new();
    Protocol::Meta.get(&c, &[1], &mut out);
    assert_eq!(out, b"mg k001 k v\r\n");
    out.clear();
    Protocol::Meta.get(&c, &[1, 2], &mut out);
    assert_eq!(out, b"mg k001 k v q\r\nmg k002 k v q\r\nmn\r\n");
    out.clear();
    Protocol::Meta.set(&c, 3, 10, &mut out);
    let mut value = Vec::new();
    c.push_value(3, 10, &mut value);
    assert_eq!(out, [&b"ms k003 10\r\n"[..], &value, b"\r\n"].concat());
    out.clear();
    Protocol::Meta.delete(&c, 3, &mut out);
    assert_eq!(out, b"md k003\r\n");
}

#[test]
fn binary_requests() {
    let c = content();
    let mut out = Vec::new();
    Protocol::Binary.get(&c, &[7], &mut out);
    assert_eq!(
        out,
        unhex("800c000400000000000000040000000000000000000000006b303037")
    );
    out.clear();
    Protocol::Binary.get(&c, &[7, 8], &mut out);
    assert_eq!(
        out,
        unhex(concat!(
            "800d000400000000000000040000000000000000000000006b303037",
            "800d000400000000000000040000000000000000000000006b303038",
            "800a00000000000000000000000000000000000000000000"
        ))
    );
    out.clear();
    Protocol::Binary.set(&c, 7, 10, &mut out);
    let mut value = Vec::new();
    c.push_value(7, 10, &mut value);
    let head = unhex("80010004080000000000001600000000000000000000000000000000000000006b303037");
    assert_eq!(out, [&head[..], &value].concat());
    out.clear();
    Protocol::Binary.delete(&c, 7, &mut out);
    assert_eq!(
        out,
        unhex("8004000400000000000000040000000000000000000000006b303037")
    );
}

#[test]
fn text_replies_as_memcached_sends_them() {
    let reply = b"VALUE k001 0 3\r\nabc\r\nVALUE k002 5 2 99\r\nxy\r\nEND\r\nSTORED\r\nDELETED\r\n\
        NOT_FOUND\r\nERROR\r\nSERVER_ERROR out of memory\r\nNOT_STORED\r\n";
    assert_eq!(
        elements(Protocol::Text, reply),
        [
            "Value { key: Some([107, 48, 48, 49]), data: [97, 98, 99] }",
            "Value { key: Some([107, 48, 48, 50]), data: [120, 121] }",
            "End",
            "Done",
            "Done",
            "NotFound",
            "Failure",
            "Failure",
            "Failure"
        ]
    );
    let hit = b"VALUE k001 0 3\r\nabc\r\n";
    for cut in 0..hit.len() {
        assert_eq!(
            Protocol::Text.parse_element(&hit[..cut]),
            Ok(None),
            "cut {cut}"
        );
    }
    assert_eq!(
        Protocol::Text.parse_element(b"VALUE k001 0 3\r\nabcd\r\n"),
        Err(Garbage)
    );
    assert_eq!(
        Protocol::Text.parse_element(b"VALUE k001 0 x\r\n"),
        Err(Garbage)
    );
    assert_eq!(Protocol::Text.parse_element(b"VALUE\r\n"), Err(Garbage));
}

#[test]
fn meta_replies_as_memcached_sends_them() {
    // Bytes captured from memcached 1.6.18.
    let reply = b"VA 3 kkk1\r\nabc\r\nMN\r\nEN kkk2\r\nEN\r\nHD\r\nNF\r\nNS\r\n\
        CLIENT_ERROR bad command line format\r\nVA 2\r\nhi\r\n";
    assert_eq!(
        elements(Protocol::Meta, reply),
        [
            "Value { key: Some([107, 107, 49]), data: [97, 98, 99] }",
            "End",
            "Miss",
            "Miss",
            "Done",
            "NotFound",
            "Failure",
            "Failure",
            "Value { key: None, data: [104, 105] }"
        ]
    );
    assert_eq!(Protocol::Meta.parse_element(b"VA 3 kx\r\nab"), Ok(None));
    assert_eq!(
        Protocol::Meta.parse_element(b"VA 3 kx\r\nabcd\r\n"),
        Err(Garbage)
    );
    assert_eq!(Protocol::Meta.parse_element(b"VA x\r\n"), Err(Garbage));
}

#[test]
fn binary_replies_as_memcached_sends_them() {
    // Captured from memcached 1.6.18: SET ok, GETK hit, GETK miss (key echoed), NOOP,
    // DELETE miss with its message body, SET out of memory.
    let stream = unhex(concat!(
        "810100000000000000000000000000070000000000000003",
        "810c0002040000000000000b00000007000000000000000300000000626b68656c6c6f",
        "810c000500000001000000050000000700000000000000006e6f6b6579",
        "810a00000000000000000000000000070000000000000000",
        "8104000000000001000000090000000700000000000000004e6f7420666f756e64",
        "810100000000008200000000000000070000000000000000",
    ));
    assert_eq!(
        elements(Protocol::Binary, &stream),
        [
            "Done",
            "Value { key: Some([98, 107]), data: [104, 101, 108, 108, 111] }",
            "Miss",
            "End",
            "NotFound",
            "Failure"
        ]
    );
    let hit = unhex("810c0002040000000000000b00000007000000000000000300000000626b68656c6c6f");
    for cut in 0..hit.len() {
        assert_eq!(Protocol::Binary.parse_element(&hit[..cut]), Ok(None));
    }
    assert_eq!(Protocol::Binary.parse_element(b"VALUE"), Err(Garbage));
    let mut lying = hit.clone();
    lying[4] = 200; // extras longer than the body
    assert_eq!(Protocol::Binary.parse_element(&lying), Err(Garbage));
}

#[test]
fn values_beyond_the_largest_item_are_garbage() {
    let head = format!("VALUE k 0 {}\r\n", MAX_VALUE + 1);
    assert_eq!(Protocol::Text.parse_element(head.as_bytes()), Err(Garbage));
    let head = format!("VA {}\r\n", MAX_VALUE + 1);
    assert_eq!(Protocol::Meta.parse_element(head.as_bytes()), Err(Garbage));
    let mut frame = unhex("810c0000000000000000000000000007000000000000000300000000");
    frame[8..12].copy_from_slice(&(MAX_VALUE as u32 + 1).to_be_bytes());
    assert_eq!(Protocol::Binary.parse_element(&frame), Err(Garbage));
}
