//! Commands that change how long items live: `touch`, `delete` (with memcached's old hold
//! time forms) and `flush_all` (delays, `noreply`, errors).

use super::*;

// --- touch ------------------------------------------------------------------------

#[test]
fn touch() {
    assert_eq!(
        request(b"touch k 10\r\n").0,
        Request::Touch {
            key: b"k",
            exptime: 10,
            noreply: false
        }
    );
    assert_eq!(
        request(b"touch k 10 noreply\r\n").0,
        Request::Touch {
            key: b"k",
            exptime: 10,
            noreply: true
        }
    );
}

#[test]
fn touch_errors() {
    assert_eq!(
        reply(b"touch k abc\r\n"),
        b"CLIENT_ERROR invalid exptime argument\r\n"
    );
    assert_eq!(reply(b"touch k\r\n"), b"ERROR\r\n");
    assert_eq!(error(b"touch k abc noreply\r\n"), ProtocolError::Silenced);
    // Out of 64-bit range is refused; inside it, truncated to 32 bits.
    assert_eq!(
        error(b"touch t 9223372036854775808\r\n"),
        ProtocolError::InvalidExptime
    );
    assert!(matches!(
        request(b"touch t 4294967296\r\n").0,
        Request::Touch { exptime: 0, .. }
    ));
    let mut line = b"touch ".to_vec();
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b" 1\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
}

// --- delete -----------------------------------------------------------------------

#[test]
fn delete_forms_memcached_accepts() {
    let del = |buf| request(buf).0;
    assert_eq!(
        del(b"delete k\r\n"),
        Request::Delete {
            key: b"k",
            noreply: false
        }
    );
    // A hold time of 0 is accepted for old clients.
    assert_eq!(
        del(b"delete k 0\r\n"),
        Request::Delete {
            key: b"k",
            noreply: false
        }
    );
    assert_eq!(
        del(b"delete k noreply\r\n"),
        Request::Delete {
            key: b"k",
            noreply: true
        }
    );
    assert_eq!(
        del(b"delete k 0 noreply\r\n"),
        Request::Delete {
            key: b"k",
            noreply: true
        }
    );
}

#[test]
fn delete_with_a_nonzero_hold_time_gets_the_usage_error() {
    let usage = b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
    assert_eq!(reply(b"delete k 1\r\n"), usage);
    assert_eq!(reply(b"delete k 0 0\r\n"), usage);
    assert_eq!(reply(b"delete k noreply 0\r\n"), usage);
    assert_eq!(error(b"delete k 1 noreply\r\n"), ProtocolError::Silenced);
}

#[test]
fn delete_token_counts_and_long_key() {
    assert_eq!(reply(b"delete\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"delete k 0 noreply x\r\n"), b"ERROR\r\n");
    let mut line = b"delete ".to_vec();
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b"\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
}

// --- flush_all --------------------------------------------------------------------

#[test]
fn flush_all_forms() {
    let flush = |buf| request(buf).0;
    assert_eq!(
        flush(b"flush_all\r\n"),
        Request::FlushAll {
            exptime: 0,
            noreply: false
        }
    );
    assert_eq!(
        flush(b"flush_all -1\r\n"),
        Request::FlushAll {
            exptime: -1,
            noreply: false
        }
    );
    assert_eq!(
        flush(b"flush_all noreply\r\n"),
        Request::FlushAll {
            exptime: 0,
            noreply: true
        }
    );
    assert_eq!(
        flush(b"flush_all 10 noreply\r\n"),
        Request::FlushAll {
            exptime: 10,
            noreply: true
        }
    );
    // With a delay, a third token that is not noreply is ignored.
    assert_eq!(
        flush(b"flush_all 10 junk\r\n"),
        Request::FlushAll {
            exptime: 10,
            noreply: false
        }
    );
}

#[test]
fn flush_all_errors() {
    let invalid = b"CLIENT_ERROR invalid exptime argument\r\n";
    assert_eq!(reply(b"flush_all abc\r\n"), invalid);
    assert_eq!(reply(b"flush_all noreply 0\r\n"), invalid);
    assert_eq!(error(b"flush_all abc noreply\r\n"), ProtocolError::Silenced);
    assert_eq!(reply(b"flush_all 1 2 3\r\n"), b"ERROR\r\n");
}
