//! Meta protocol: `mg`, `ms`, `md`. A multi-get is a run of quiet `mg` (only hits
//! answer) closed by `mn`, the way meta clients batch.

use super::{data_block, line, parse_decimal, push_decimal, Element, Garbage};
use crate::content::Content;

pub fn get(content: &Content, ids: &[u64], out: &mut Vec<u8>) {
    let quiet = ids.len() > 1;
    for &id in ids {
        out.extend_from_slice(b"mg ");
        content.push_key(id, out);
        out.extend_from_slice(if quiet { b" k v q\r\n" } else { b" k v\r\n" });
    }
    if quiet {
        out.extend_from_slice(b"mn\r\n");
    }
}

pub fn set(content: &Content, id: u64, len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(b"ms ");
    content.push_key(id, out);
    out.push(b' ');
    push_decimal(len, out);
    out.extend_from_slice(b"\r\n");
    content.push_value(id, len, out);
    out.extend_from_slice(b"\r\n");
}

pub fn delete(content: &Content, id: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(b"md ");
    content.push_key(id, out);
    out.extend_from_slice(b"\r\n");
}

pub fn parse(buf: &[u8]) -> Result<Option<(Element<'_>, usize)>, Garbage> {
    let Some((head, used)) = line(buf)? else {
        return Ok(None);
    };
    let mut tokens = head.split(|&b| b == b' ').filter(|t| !t.is_empty());
    let element = match tokens.next() {
        Some(b"VA") => {
            // VA <len> <flags>*; the key comes back in the `k` flag.
            let len = tokens.next().and_then(parse_decimal).ok_or(Garbage)?;
            let key = tokens.find(|t| t[0] == b'k').map(|t| &t[1..]);
            return Ok(
                data_block(buf, used, len)?.map(|(data, end)| (Element::Value { key, data }, end))
            );
        }
        Some(b"EN") => Element::Miss,
        Some(b"HD") => Element::Done,
        Some(b"NF") => Element::NotFound,
        Some(b"MN") => Element::End,
        _ => Element::Failure,
    };
    Ok(Some((element, used)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::SizeDist;

    fn content() -> Content {
        Content::new(100, SizeDist::Fixed(4), SizeDist::Fixed(10)).unwrap()
    }

    #[test]
    fn encodes_requests() {
        let c = content();
        let mut out = Vec::new();
        get(&c, &[1], &mut out);
        assert_eq!(out, b"mg k001 k v\r\n");
        out.clear();
        get(&c, &[1, 2], &mut out);
        assert_eq!(out, b"mg k001 k v q\r\nmg k002 k v q\r\nmn\r\n");
        out.clear();
        set(&c, 3, 10, &mut out);
        assert!(out.starts_with(b"ms k003 10\r\n"));
        assert_eq!(out.len(), 12 + 10 + 2);
        out.clear();
        delete(&c, 3, &mut out);
        assert_eq!(out, b"md k003\r\n");
    }

    #[test]
    fn parses_replies_as_memcached_1_6_18_sends_them() {
        // Bytes captured from memcached 1.6.18.
        let reply = b"VA 3 kkk1\r\nabc\r\nMN\r\n";
        let (e, n) = parse(reply).unwrap().unwrap();
        assert_eq!(
            e,
            Element::Value {
                key: Some(b"kk1"),
                data: b"abc"
            }
        );
        assert_eq!(parse(&reply[n..]).unwrap().unwrap(), (Element::End, 4));
        assert_eq!(parse(b"EN kkk2\r\n").unwrap().unwrap().0, Element::Miss);
        assert_eq!(parse(b"EN\r\n").unwrap().unwrap().0, Element::Miss);
        assert_eq!(parse(b"HD\r\n").unwrap().unwrap().0, Element::Done);
        assert_eq!(parse(b"NF\r\n").unwrap().unwrap().0, Element::NotFound);
        assert_eq!(parse(b"NS\r\n").unwrap().unwrap().0, Element::Failure);
        assert_eq!(
            parse(b"CLIENT_ERROR bad command line format\r\n")
                .unwrap()
                .unwrap()
                .0,
            Element::Failure
        );
    }

    #[test]
    fn value_without_key_flag_still_parses() {
        let (e, _) = parse(b"VA 2\r\nhi\r\n").unwrap().unwrap();
        assert_eq!(
            e,
            Element::Value {
                key: None,
                data: b"hi"
            }
        );
    }

    #[test]
    fn waits_and_rejects() {
        assert_eq!(parse(b"VA 3 kx\r\nab").unwrap(), None);
        assert_eq!(parse(b"VA 3 kx\r\nabcd\r\n"), Err(Garbage));
        assert_eq!(parse(b"VA x\r\n"), Err(Garbage));
    }
}
