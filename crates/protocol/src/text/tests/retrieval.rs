//! Retrieval lines: `get`, `gets`, `bget` and `gat`/`gats`: their keys, key lengths, and
//! exptime.

use super::*;

#[test]
fn get_and_gets_need_a_key() {
    assert_eq!(reply(b"get\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"get \r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"gets\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"gat\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"gxyz a\r\n"), b"ERROR\r\n");
}

#[test]
fn gets_returns_cas_kind() {
    match request(b"gets a b\r\n").0 {
        Request::Get { kind, keys: k } => {
            assert_eq!(kind, GetKind::Gets);
            assert_eq!(keys(k), [&b"a"[..], b"b"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bget_is_an_old_alias_of_get() {
    assert!(matches!(
        request(b"bget a\r\n").0,
        Request::Get {
            kind: GetKind::Get,
            ..
        }
    ));
    assert_eq!(reply(b"bget\r\n"), b"ERROR\r\n");
}

#[test]
fn key_of_250_bytes_is_fine_251_is_bad_format() {
    let mut ok = b"get ".to_vec();
    ok.extend_from_slice(&[b'k'; 250]);
    ok.extend_from_slice(b"\r\n");
    assert!(matches!(request(&ok).0, Request::Get { .. }));
    let mut bad = b"get ".to_vec();
    bad.extend_from_slice(&[b'k'; 251]);
    bad.extend_from_slice(b"\r\n");
    assert_eq!(reply(&bad), b"CLIENT_ERROR bad command line format\r\n");
}

#[test]
fn multiget_with_one_long_key_is_only_the_error() {
    // memcached sends no VALUE for the hits before the bad key, even past 24 tokens.
    let mut line = b"get a".to_vec();
    for _ in 0..30 {
        line.extend_from_slice(b" k1");
    }
    line.push(b' ');
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b"\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
}

#[test]
fn gat_reads_exptime_then_keys() {
    match request(b"gat 10 a b\r\n").0 {
        Request::Gat {
            kind,
            exptime,
            keys: k,
        } => {
            assert_eq!(kind, GetKind::Get);
            assert_eq!(exptime, 10);
            assert_eq!(keys(k), [&b"a"[..], b"b"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        request(b"gats -1 a\r\n").0,
        Request::Gat {
            kind: GetKind::Gets,
            exptime: -1,
            ..
        }
    ));
}

#[test]
fn gat_without_keys_is_valid_and_answers_end() {
    match request(b"gat 10\r\n").0 {
        Request::Gat { keys: k, .. } => assert!(k.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn gat_bad_exptime() {
    assert_eq!(
        reply(b"gat abc a\r\n"),
        b"CLIENT_ERROR invalid exptime argument\r\n"
    );
}

#[test]
fn gat_long_key() {
    let mut line = b"gat 1 a ".to_vec();
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b"\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
}
