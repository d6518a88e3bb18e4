//! The bytes of replies: static replies and error replies are memcached's exactly, and
//! what a rejected line still does (a multiget's earlier keys, a flush_all's count).

use super::*;

#[test]
fn static_replies_are_memcached_bytes() {
    assert_eq!(
        CLIENT_ERROR_BAD_DATA_CHUNK,
        b"CLIENT_ERROR bad data chunk\r\n"
    );
    assert_eq!(
        CLIENT_ERROR_NON_NUMERIC,
        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    );
    assert_eq!(
        SERVER_ERROR_TOO_LARGE,
        b"SERVER_ERROR object too large for cache\r\n"
    );
    assert_eq!(
        SERVER_ERROR_OUT_OF_MEMORY_STORING,
        b"SERVER_ERROR out of memory storing object\r\n"
    );
    assert_eq!(
        ERROR_TOO_MANY_CONNECTIONS,
        b"ERROR Too many open connections\r\n"
    );
    assert_eq!(SHUTDOWN_NOT_ENABLED, b"ERROR: shutdown not enabled\r\n");
}

#[test]
fn every_error_reply_ends_in_crlf_except_silenced() {
    for error in [
        ProtocolError::UnknownCommand,
        ProtocolError::BadFormat,
        ProtocolError::BadDeleteFormat,
        ProtocolError::InvalidExptime,
        ProtocolError::InvalidDelta,
        ProtocolError::InvalidShutdownMode,
    ] {
        assert!(error.reply().ends_with(b"\r\n"), "{error:?}");
    }
    assert!(ProtocolError::Silenced.reply().is_empty());
}

#[test]
fn multiget_with_a_too_long_key_still_looks_up_the_keys_before_it() {
    // memcached 1.6.18: `get a b <251 bytes> c` counts get_hits/get_misses for a and b,
    // then answers only CLIENT_ERROR bad command line format.
    let line = format!("get a b {} c\r\n", "k".repeat(251));
    match parse(line.as_bytes()) {
        Parse::Error {
            error: ProtocolError::BadFormat,
            attempted: Attempt::Lookups { touch: None, keys },
            ..
        } => assert_eq!(keys.collect::<Vec<_>>(), vec![&b"a"[..], b"b"]),
        other => panic!("unexpected {other:?}"),
    }
    let line = format!("gat 10 {} c\r\n", "k".repeat(251));
    match parse(line.as_bytes()) {
        Parse::Error {
            attempted:
                Attempt::Lookups {
                    touch: Some(10),
                    keys,
                },
            ..
        } => assert!(keys.is_empty()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_rejected_flush_all_still_counts_as_a_flush() {
    match parse(b"flush_all abc\r\n") {
        Parse::Error {
            attempted: Attempt::Flush,
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    match parse(b"flush_all 1 2 3 4\r\n") {
        Parse::Error {
            attempted: Attempt::Nothing,
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
}
