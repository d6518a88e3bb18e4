//! What no memcached reply looks like is refused by the client parsers, never misread.

use protocol::binary::client as bin;
use protocol::client::{Frame, ReplyError};
use protocol::meta::client as meta;
use protocol::text::client as text;

/// Every byte of garbage after a good reply is refused or waited for, never misread as
/// a reply memcached could have sent.
#[test]
fn garbage_is_refused() {
    assert_eq!(bin::parse(b"STORED\r\n"), Err(ReplyError::BadMagic(b'S')));
    assert_eq!(meta::parse(b"STORED\r\n"), Err(ReplyError::UnknownStatus));
    assert!(matches!(
        text::parse(b"VALUE k x 1\r\n"),
        Err(ReplyError::BadNumber)
    ));
    let frame = Frame {
        head: 0,
        data: 1,
        trailer: 2,
    };
    assert_eq!(frame.data(b"x\n\n"), Err(ReplyError::BadDataEnd));
}
