//! `-o idle_timeout=N`: a connection idle for N seconds is closed, silently; one that keeps
//! talking is not. memcached checks about once a second, so closes come late by a second
//! or two; the test allows ten.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use support::Server;

fn idle_connections_are_closed(server: Server) {
    let name = server.implementation().name();
    let mut idle = server.connect();
    let mut busy = server.connect();
    let mut buf = [0u8; 64];
    busy.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    for s in [&mut idle, &mut busy] {
        s.write_all(b"version\r\n").expect("write");
        let n = s.read(&mut buf).expect("read");
        assert!(buf[..n].starts_with(b"VERSION "), "{name}");
    }

    // The busy connection talks every 250 ms while the idle one waits to be closed.
    idle.set_read_timeout(Some(Duration::from_millis(250)))
        .expect("set a read timeout");
    let start = Instant::now();
    let closed_after = loop {
        match idle.read(&mut buf) {
            Ok(0) => break start.elapsed(),
            Ok(n) => panic!(
                "{name}: an idle connection was sent {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break start.elapsed(),
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name}: an idle connection survived 10 s under idle_timeout=1"
        );
        busy.write_all(b"version\r\n").expect("write");
        let n = busy.read(&mut buf).expect("read");
        assert!(
            buf[..n].starts_with(b"VERSION "),
            "{name}: the busy connection"
        );
    };
    assert!(
        closed_after >= Duration::from_millis(500),
        "{name}: closed after {closed_after:?}, before the timeout"
    );
    busy.write_all(b"version\r\n").expect("write");
    let n = busy.read(&mut buf).expect("read");
    assert!(
        buf[..n].starts_with(b"VERSION "),
        "{name}: the busy connection was closed too"
    );
    // The close is counted, and `stats` lists the counter (only under idle_timeout).
    busy.write_all(b"stats\r\n").expect("write");
    let mut stats = Vec::new();
    while !stats.ends_with(b"END\r\n") {
        let n = busy.read(&mut buf).expect("read stats");
        assert!(n > 0, "{name}: closed during stats");
        stats.extend_from_slice(&buf[..n]);
    }
    let stats = String::from_utf8_lossy(&stats);
    assert!(stats.contains("STAT idle_kicks 1\r\n"), "{name}: {stats}");
}

#[test]
fn memcached_closes_idle_connections() {
    idle_connections_are_closed(Server::memcached(&["-o", "idle_timeout=1"]));
}

#[test]
fn corvid_closes_idle_connections() {
    idle_connections_are_closed(Server::corvid(&["-o", "idle_timeout=1"]));
}
