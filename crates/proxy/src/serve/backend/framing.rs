//! Reply framing on a backend link: the reply unit at the front of the input, read as
//! the front request's framing expects it (a line, a retrieval until `END`, meta, or
//! anything until the proxy's own `MN`), and whether an error line is the server's.

use protocol::client::{ErrorReply, Frame, Parsed};
use protocol::{meta, text};

use crate::serve::link::Expect;
use crate::serve::message::Unit;

/// One reply unit at the front of the input, as the front request's framing reads it.
pub(super) struct Head {
    pub(super) unit: Unit,
    pub(super) frame: Frame,
    /// It ends the request's reply.
    pub(super) last: bool,
    /// It is the proxy's own `MN`: ends the reply and is not handed on.
    pub(super) noop: bool,
}

/// The reply unit at the front of `buf` for a request framed as `expect`: `Ok(None)`
/// while its head is incomplete, `Err` for bytes no memcached sends.
pub(super) fn read_head(buf: &[u8], expect: Expect) -> Result<Option<Head>, ()> {
    let meta = match expect {
        Expect::Meta => true,
        Expect::UntilNoop { meta } => meta,
        Expect::Line | Expect::Retrieval => false,
    };
    if meta {
        let Parsed::Reply { reply, frame } = meta::client::parse(buf).map_err(|_| ())? else {
            return Ok(None);
        };
        let noop = reply.status == meta::client::Status::NoOp
            && matches!(expect, Expect::UntilNoop { .. });
        let unit = match reply.status {
            meta::client::Status::Value(_) => Unit::Value,
            meta::client::Status::Failed(_) => Unit::Error,
            _ => Unit::Line,
        };
        let last = match expect {
            Expect::UntilNoop { .. } => noop,
            _ => true,
        };
        return Ok(Some(Head {
            unit,
            frame,
            last,
            noop,
        }));
    }
    let Parsed::Reply { reply, frame } = text::client::parse(buf).map_err(|_| ())? else {
        return Ok(None);
    };
    let (unit, noop) = match reply {
        text::client::Reply::Value { .. } => (Unit::Value, false),
        text::client::Reply::End => (Unit::End, false),
        text::client::Reply::Failed(_) => (Unit::Error, false),
        text::client::Reply::Other(b"MN") if matches!(expect, Expect::UntilNoop { .. }) => {
            (Unit::Line, true)
        }
        _ => (Unit::Line, false),
    };
    let last = match expect {
        Expect::Line => true,
        Expect::Retrieval => match unit {
            Unit::End | Unit::Error => true,
            Unit::Value => false,
            // Nothing else answers a retrieval.
            Unit::Line => return Err(()),
        },
        Expect::UntilNoop { .. } => noop,
        Expect::Meta => true,
    };
    if expect == Expect::Line && unit == Unit::Value {
        return Err(());
    }
    Ok(Some(Head {
        unit,
        frame,
        last,
        noop,
    }))
}

/// Whether an error line is the server's (worth trying another server) rather than the
/// request's.
pub fn server_error(line: &[u8]) -> bool {
    matches!(
        protocol::text::client::parse(line),
        Ok(Parsed::Reply {
            reply: text::client::Reply::Failed(ErrorReply::Server(_)),
            ..
        })
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_framed_by_what_was_asked() {
        let h = read_head(b"VALUE k 0 2\r\nhi\r\nEND\r\n", Expect::Retrieval)
            .unwrap()
            .unwrap();
        assert_eq!((h.unit, h.last, h.frame.end()), (Unit::Value, false, 17));
        let h = read_head(b"END\r\n", Expect::Retrieval).unwrap().unwrap();
        assert_eq!((h.unit, h.last), (Unit::End, true));
        assert!(read_head(b"STORED\r\n", Expect::Retrieval).is_err());
        let h = read_head(b"STORED\r\n", Expect::Line).unwrap().unwrap();
        assert!(h.last && h.unit == Unit::Line);
        let h = read_head(b"MN\r\n", Expect::UntilNoop { meta: false })
            .unwrap()
            .unwrap();
        assert!(h.noop && h.last);
        let h = read_head(b"CLIENT_ERROR bad\r\n", Expect::UntilNoop { meta: false })
            .unwrap()
            .unwrap();
        assert!(!h.last && h.unit == Unit::Error);
        let h = read_head(b"VA 2 f0\r\nhi\r\n", Expect::Meta)
            .unwrap()
            .unwrap();
        assert_eq!((h.unit, h.frame.end()), (Unit::Value, 13));
        let h = read_head(b"MN\r\n", Expect::UntilNoop { meta: true })
            .unwrap()
            .unwrap();
        assert!(h.noop);
        assert!(read_head(b"VALU", Expect::Retrieval).unwrap().is_none());
        assert!(read_head(b"bogus\r\n", Expect::Meta).is_err());
    }

    proptest::proptest! {
        /// Whatever a backend sends, framing it answers (a unit, more bytes needed, or
        /// a protocol error) without panicking, and a unit is never empty.
        #[test]
        fn any_bytes_are_framed_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), which in 0usize..5) {
            let expect = [
                Expect::Line,
                Expect::Retrieval,
                Expect::Meta,
                Expect::UntilNoop { meta: false },
                Expect::UntilNoop { meta: true },
            ][which];
            if let Ok(Some(head)) = read_head(&bytes, expect) {
                proptest::prop_assert!(head.frame.end() > 0);
            }
            let mut framed = b"VALUE k 0 3\r\n".to_vec();
            framed.extend_from_slice(&bytes);
            let _ = read_head(&framed, expect);
        }
    }

    #[test]
    fn server_errors_are_told_from_client_errors() {
        assert!(server_error(b"SERVER_ERROR out of memory\r\n"));
        assert!(!server_error(b"CLIENT_ERROR bad data chunk\r\n"));
        assert!(!server_error(b"STORED\r\n"));
    }
}
