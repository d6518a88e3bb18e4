//! Classic text protocol: `get`, `set`, `delete` and their replies.

use super::{data_block, line, parse_decimal, push_decimal, Element, Garbage};
use crate::content::Content;

pub fn get(content: &Content, ids: &[u64], out: &mut Vec<u8>) {
    out.extend_from_slice(b"get");
    for &id in ids {
        out.push(b' ');
        content.push_key(id, out);
    }
    out.extend_from_slice(b"\r\n");
}

pub fn set(content: &Content, id: u64, len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(b"set ");
    content.push_key(id, out);
    out.extend_from_slice(b" 0 0 ");
    push_decimal(len, out);
    out.extend_from_slice(b"\r\n");
    content.push_value(id, len, out);
    out.extend_from_slice(b"\r\n");
}

pub fn delete(content: &Content, id: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(b"delete ");
    content.push_key(id, out);
    out.extend_from_slice(b"\r\n");
}

pub fn parse(buf: &[u8]) -> Result<Option<(Element<'_>, usize)>, Garbage> {
    let Some((head, used)) = line(buf)? else {
        return Ok(None);
    };
    let element = match head {
        b"END" => Element::End,
        b"STORED" | b"DELETED" => Element::Done,
        b"NOT_FOUND" => Element::NotFound,
        _ if head.starts_with(b"VALUE") => {
            // VALUE <key> <flags> <bytes> [<cas>]
            let mut tokens = head[5..].split(|&b| b == b' ').filter(|t| !t.is_empty());
            let key = tokens.next().ok_or(Garbage)?;
            let _flags = tokens.next().ok_or(Garbage)?;
            let len = tokens.next().and_then(parse_decimal).ok_or(Garbage)?;
            return Ok(data_block(buf, used, len)?.map(|(data, end)| {
                (
                    Element::Value {
                        key: Some(key),
                        data,
                    },
                    end,
                )
            }));
        }
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
        get(&c, &[1, 22], &mut out);
        assert_eq!(out, b"get k001 k022\r\n");
        out.clear();
        delete(&c, 3, &mut out);
        assert_eq!(out, b"delete k003\r\n");
        out.clear();
        set(&c, 3, 10, &mut out);
        assert!(out.starts_with(b"set k003 0 0 10\r\n"));
        assert!(out.ends_with(b"\r\n"));
        assert_eq!(out.len(), 17 + 10 + 2);
    }

    #[test]
    fn parses_values_and_status_lines() {
        let reply = b"VALUE k001 0 3\r\nabc\r\nVALUE k002 5 2 99\r\nxy\r\nEND\r\n";
        let (e, n) = parse(reply).unwrap().unwrap();
        assert_eq!(
            e,
            Element::Value {
                key: Some(b"k001"),
                data: b"abc"
            }
        );
        let (e, m) = parse(&reply[n..]).unwrap().unwrap();
        assert_eq!(
            e,
            Element::Value {
                key: Some(b"k002"),
                data: b"xy"
            }
        );
        assert_eq!(parse(&reply[n + m..]).unwrap().unwrap(), (Element::End, 5));
        assert_eq!(parse(b"STORED\r\n").unwrap().unwrap().0, Element::Done);
        assert_eq!(parse(b"DELETED\r\n").unwrap().unwrap().0, Element::Done);
        assert_eq!(
            parse(b"NOT_FOUND\r\n").unwrap().unwrap().0,
            Element::NotFound
        );
        for bad in [
            &b"ERROR\r\n"[..],
            b"SERVER_ERROR out of memory\r\n",
            b"NOT_STORED\r\n",
        ] {
            assert_eq!(parse(bad).unwrap().unwrap().0, Element::Failure);
        }
    }

    #[test]
    fn waits_for_whole_values() {
        let reply = b"VALUE k001 0 3\r\nabc\r\n";
        for cut in 0..reply.len() {
            assert_eq!(parse(&reply[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn rejects_broken_framing() {
        assert_eq!(parse(b"VALUE k001 0 3\r\nabcd\r\n"), Err(Garbage));
        assert_eq!(parse(b"VALUE k001 0 x\r\n"), Err(Garbage));
        assert_eq!(parse(b"VALUE\r\n"), Err(Garbage));
    }
}
