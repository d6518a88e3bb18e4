//! Binary protocol: GETK (GETKQ + NOOP for a multi-get), SET, DELETE. Keys are echoed
//! by the K opcodes, so every hit can be checked against the key it claims to be.

use super::{Element, Garbage};
use crate::content::Content;

const HEADER: usize = 24;
const REQUEST: u8 = 0x80;
const RESPONSE: u8 = 0x81;

const GET: u8 = 0x00;
const SET: u8 = 0x01;
const DELETE: u8 = 0x04;
const GETQ: u8 = 0x09;
const NOOP: u8 = 0x0a;
const GETK: u8 = 0x0c;
const GETKQ: u8 = 0x0d;

const STATUS_OK: u16 = 0;
const STATUS_NOT_FOUND: u16 = 1;

/// Values far beyond any item size are a broken stream, not a big item.
const MAX_BODY: usize = 1 << 30;

fn header(op: u8, key_len: usize, extras: usize, body: usize, out: &mut Vec<u8>) {
    out.push(REQUEST);
    out.push(op);
    out.extend_from_slice(&(key_len as u16).to_be_bytes());
    out.push(extras as u8);
    out.push(0); // data type
    out.extend_from_slice(&[0, 0]); // vbucket
    out.extend_from_slice(&(body as u32).to_be_bytes());
    out.extend_from_slice(&[0; 4]); // opaque
    out.extend_from_slice(&[0; 8]); // cas
}

/// Appends a header whose key length is patched in once the key has been written.
fn keyed(
    content: &Content,
    op: u8,
    id: u64,
    extras: &[u8],
    value: usize,
    out: &mut Vec<u8>,
) -> usize {
    let start = out.len();
    header(op, 0, extras.len(), 0, out);
    out.extend_from_slice(extras);
    content.push_key(id, out);
    let key_len = out.len() - start - HEADER - extras.len();
    out[start + 2..start + 4].copy_from_slice(&(key_len as u16).to_be_bytes());
    let body = (extras.len() + key_len + value) as u32;
    out[start + 8..start + 12].copy_from_slice(&body.to_be_bytes());
    start
}

pub fn get(content: &Content, ids: &[u64], out: &mut Vec<u8>) {
    if let [id] = ids {
        keyed(content, GETK, *id, &[], 0, out);
        return;
    }
    for &id in ids {
        keyed(content, GETKQ, id, &[], 0, out);
    }
    header(NOOP, 0, 0, 0, out);
}

pub fn set(content: &Content, id: u64, len: usize, out: &mut Vec<u8>) {
    // flags 0, exptime 0
    keyed(content, SET, id, &[0; 8], len, out);
    content.push_value(id, len, out);
}

pub fn delete(content: &Content, id: u64, out: &mut Vec<u8>) {
    keyed(content, DELETE, id, &[], 0, out);
}

pub fn parse(buf: &[u8]) -> Result<Option<(Element<'_>, usize)>, Garbage> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != RESPONSE {
        return Err(Garbage);
    }
    if buf.len() < HEADER {
        return Ok(None);
    }
    let op = buf[1];
    let key_len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    let extras = buf[4] as usize;
    let status = u16::from_be_bytes([buf[6], buf[7]]);
    let body = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
    if body > MAX_BODY || extras + key_len > body {
        return Err(Garbage);
    }
    let total = HEADER + body;
    if buf.len() < total {
        return Ok(None);
    }
    let is_get = matches!(op, GET | GETQ | GETK | GETKQ);
    let element = match status {
        STATUS_OK if is_get => {
            let key_at = HEADER + extras;
            let key = (key_len > 0).then(|| &buf[key_at..key_at + key_len]);
            Element::Value {
                key,
                data: &buf[key_at + key_len..total],
            }
        }
        STATUS_OK if op == NOOP => Element::End,
        STATUS_OK => Element::Done,
        STATUS_NOT_FOUND if is_get => Element::Miss,
        STATUS_NOT_FOUND => Element::NotFound,
        _ => Element::Failure,
    };
    Ok(Some((element, total)))
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn encodes_requests() {
        let c = content();
        let mut out = Vec::new();
        get(&c, &[7], &mut out);
        assert_eq!(&out[..12], &[0x80, GETK, 0, 4, 0, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(&out[24..], b"k007");
        out.clear();
        get(&c, &[7, 8], &mut out);
        assert_eq!(out.len(), 28 * 2 + 24);
        assert_eq!(out[1], GETKQ);
        assert_eq!(out[28 + 1], GETKQ);
        assert_eq!(out[56 + 1], NOOP);
        out.clear();
        set(&c, 7, 10, &mut out);
        assert_eq!(&out[..12], &[0x80, SET, 0, 4, 8, 0, 0, 0, 0, 0, 0, 22]);
        assert_eq!(&out[32..36], b"k007");
        assert_eq!(out.len(), 24 + 22);
        out.clear();
        delete(&c, 7, &mut out);
        assert_eq!(out[1], DELETE);
        assert_eq!(out.len(), 28);
    }

    #[test]
    fn parses_replies_as_memcached_1_6_18_sends_them() {
        // Captured from memcached 1.6.18: SET ok, GETK hit, GETK miss (key echoed),
        // NOOP, DELETE miss with its message body.
        let stream = unhex(concat!(
            "810100000000000000000000000000070000000000000003",
            "810c0002040000000000000b00000007000000000000000300000000626b68656c6c6f",
            "810c000500000001000000050000000700000000000000006e6f6b6579",
            "810a00000000000000000000000000070000000000000000",
            "8104000000000001000000090000000700000000000000004e6f7420666f756e64",
        ));
        let mut at = 0;
        let mut elements = Vec::new();
        while at < stream.len() {
            let (e, n) = parse(&stream[at..]).unwrap().unwrap();
            elements.push(format!("{e:?}"));
            at += n;
        }
        assert_eq!(
            elements,
            [
                "Done",
                "Value { key: Some([98, 107]), data: [104, 101, 108, 108, 111] }",
                "Miss",
                "End",
                "NotFound"
            ]
        );
    }

    #[test]
    fn waits_and_rejects() {
        let hit = unhex("810c0002040000000000000b00000007000000000000000300000000626b68656c6c6f");
        for cut in 0..hit.len() {
            assert_eq!(parse(&hit[..cut]).unwrap(), None);
        }
        assert_eq!(parse(b"VALUE"), Err(Garbage));
        let mut lying = hit.clone();
        lying[4] = 200; // extras longer than the body
        assert_eq!(parse(&lying), Err(Garbage));
        let mut failed = hit;
        failed[7] = 0x82; // out of memory
        assert_eq!(parse(&failed).unwrap().unwrap().0, Element::Failure);
    }
}
