//! `incr` and `decr`: deltas memcached accepts and refuses, token counts, `noreply`.

use super::*;

#[test]
fn incr_and_decr() {
    assert_eq!(
        request(b"incr k 1\r\n").0,
        Request::Delta {
            incr: true,
            key: b"k",
            delta: 1,
            noreply: false
        }
    );
    assert_eq!(
        request(b"decr k 18446744073709551615 noreply\r\n").0,
        Request::Delta {
            incr: false,
            key: b"k",
            delta: u64::MAX,
            noreply: true
        }
    );
}

#[test]
fn incr_bad_delta() {
    let invalid = b"CLIENT_ERROR invalid numeric delta argument\r\n";
    assert_eq!(reply(b"incr k -1\r\n"), invalid);
    assert_eq!(reply(b"incr k abc\r\n"), invalid);
    assert_eq!(reply(b"incr k 18446744073709551616\r\n"), invalid);
    // noreply in the middle is just a bad delta.
    assert_eq!(reply(b"incr k noreply 1\r\n"), invalid);
}

#[test]
fn incr_odd_deltas_memcached_accepts() {
    let delta = |buf| match request(buf).0 {
        Request::Delta { delta, .. } => delta,
        other => panic!("{other:?}"),
    };
    assert_eq!(delta(b"incr n -0\r\n"), 0);
    assert_eq!(delta(b"incr n +3\r\n"), 3);
    // strtoull negates in 64 bits: memcached turns 5 into 6 with this one.
    assert_eq!(delta(b"incr n -18446744073709551615\r\n"), 1);
    // A 4th token that is not noreply is ignored.
    assert_eq!(delta(b"incr k 1 2\r\n"), 1);
}

#[test]
fn incr_token_counts_and_long_key() {
    assert_eq!(reply(b"incr k\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"incr k 1 noreply x\r\n"), b"ERROR\r\n");
    let mut line = b"incr ".to_vec();
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b" 1\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
}

#[test]
fn incr_noreply_silences_bad_delta() {
    assert_eq!(error(b"incr k abc noreply\r\n"), ProtocolError::Silenced);
}
