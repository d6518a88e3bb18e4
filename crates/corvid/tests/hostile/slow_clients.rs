//! Slow clients and `idle_timeout`, against memcached: a slowloris (text and binary) is
//! closed, a slow value is not, and neither is a client sending a command now and then.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::attacker::{closes_within, send_all};
use crate::support::Server;

/// What `idle_timeout` closes must match memcached: a connection between commands or in
/// the middle of a command line (a slowloris feeding one byte at a time), but not one in
/// the middle of a value.
fn slowloris_is_closed_but_a_slow_value_is_not(server: Server) {
    let name = server.implementation().name();
    let mut loris = server.connect();
    let mut uploader = server.connect();
    send_all(&mut uploader, b"set slow 0 0 10\r\n12345");
    let start = Instant::now();
    let line = b"get slowly-arriving-key";
    let mut closed = false;
    for &byte in line.iter().cycle().take(40) {
        if loris.write_all(&[byte]).is_err()
            || closes_within(&mut loris, Duration::from_millis(300))
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "{name}: a slowloris survived {:?} under idle_timeout=1",
        start.elapsed()
    );
    assert!(
        !closes_within(&mut uploader, Duration::from_millis(100)),
        "{name}: a connection in the middle of a value was closed"
    );
    send_all(&mut uploader, b"67890\r\nget slow\r\n");
    let mut reply = Vec::new();
    uploader
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    let mut buf = [0u8; 256];
    while !reply.ends_with(b"END\r\n") {
        match uploader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "STORED\r\nVALUE slow 0 10\r\n1234567890\r\nEND\r\n",
        "{name}: the slow value"
    );
}

#[test]
fn memcached_closes_a_slowloris() {
    slowloris_is_closed_but_a_slow_value_is_not(Server::memcached(&["-o", "idle_timeout=1"]));
}

#[test]
fn corvid_closes_a_slowloris() {
    slowloris_is_closed_but_a_slow_value_is_not(Server::corvid(&["-o", "idle_timeout=1"]));
}

/// The binary protocol's version of the slowloris: `idle_timeout` closes a connection
/// stuck in a header or in the extras and key after it (memcached's `conn_read`), not
/// one in the middle of a value (`conn_nread`).
fn binary_slowloris_is_closed_but_a_slow_value_is_not(server: Server) {
    let name = server.implementation().name();
    // SET, key "k", 8 bytes of extras, a 10-byte value.
    let mut frame = vec![0x80, 0x01, 0, 1, 8, 0, 0, 0, 0, 0, 0, 19];
    frame.extend_from_slice(&[0; 12]);
    frame.extend_from_slice(&[0; 8]);
    frame.push(b'k');
    let mut header = server.connect();
    send_all(&mut header, &frame[..10]);
    let mut key = server.connect();
    send_all(&mut key, &frame[..32]);
    let mut value = server.connect();
    send_all(&mut value, &frame);
    send_all(&mut value, b"12345");
    for (what, s) in [
        ("a half header", &mut header),
        ("extras without the key", &mut key),
    ] {
        assert!(
            closes_within(s, Duration::from_secs(6)),
            "{name}: a connection stuck in {what} survived idle_timeout=1"
        );
    }
    assert!(
        !closes_within(&mut value, Duration::from_millis(100)),
        "{name}: a connection in the middle of a binary value was closed"
    );
    send_all(&mut value, b"67890");
    value
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    let mut reply = [0u8; 24];
    value.read_exact(&mut reply).expect("the SET response");
    assert_eq!(&reply[..2], &[0x81, 0x01], "{name}: a SET response");
    assert_eq!(&reply[6..8], &[0, 0], "{name}: status");
}

#[test]
fn memcached_closes_a_binary_slowloris() {
    binary_slowloris_is_closed_but_a_slow_value_is_not(Server::memcached(&[
        "-o",
        "idle_timeout=1",
    ]));
}

#[test]
fn corvid_closes_a_binary_slowloris() {
    binary_slowloris_is_closed_but_a_slow_value_is_not(Server::corvid(&["-o", "idle_timeout=1"]));
}

/// A client that sends a command every 400 ms is never idle for `idle_timeout=1`:
/// memcached closes only when more than the timeout (in whole seconds) has passed.
fn a_steady_client_is_never_closed(server: Server) {
    let name = server.implementation().name();
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    let mut buf = [0u8; 64];
    for i in 0..10 {
        s.write_all(b"version\r\n").expect("write");
        match s.read(&mut buf) {
            Ok(n) if buf[..n].starts_with(b"VERSION ") => {}
            other => panic!("{name}: command {i} every 400 ms: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(400));
    }
}

#[test]
fn memcached_keeps_a_steady_client() {
    a_steady_client_is_never_closed(Server::memcached(&["-o", "idle_timeout=1"]));
}

#[test]
fn corvid_keeps_a_steady_client() {
    a_steady_client_is_never_closed(Server::corvid(&["-o", "idle_timeout=1"]));
}
