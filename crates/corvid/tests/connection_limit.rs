//! `-c`: past the connection limit a new client is told `ERROR Too many open connections`
//! and closed, while the connections already open keep working and room frees up again.
//! Where exactly the limit falls depends on how a server counts its own descriptors
//! (memcached reserves some), so only "at most -c clients, then this reply" is compared.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use support::{Server, Stream};

const LIMIT: usize = 40;
const REJECTED: &[u8] = b"ERROR Too many open connections\r\n";

enum Answer {
    Served(Stream),
    Rejected,
}

/// Connects and asks for the version: served, or rejected with memcached's exact reply and
/// a close.
fn attempt(server: &Server) -> Answer {
    let name = server.implementation().name();
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    // A rejected connection may already be closed; the reply is what matters.
    let _ = s.write_all(b"version\r\n");
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "{name}: no complete reply, got {:?}",
                    String::from_utf8_lossy(&reply)
                )
            }
            Err(_) => break,
        }
        if reply.starts_with(b"VERSION ") && reply.ends_with(b"\r\n") {
            return Answer::Served(s);
        }
        if reply.len() >= REJECTED.len() {
            break;
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&reply),
        String::from_utf8_lossy(REJECTED),
        "{name}: a connection over the limit"
    );
    // After the rejection, the server closes the connection.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => panic!(
                "{name}: bytes after the rejection: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{name}: a rejected connection stayed open")
            }
            Err(_) => break,
        }
    }
    Answer::Rejected
}

fn limit_is_enforced(server: Server) {
    let name = server.implementation().name();
    let mut served = Vec::new();
    let mut rejected = 0;
    for _ in 0..LIMIT + 20 {
        match attempt(&server) {
            Answer::Served(s) => served.push(s),
            Answer::Rejected => rejected += 1,
        }
    }
    assert!(
        rejected > 0,
        "{name}: -c {LIMIT} never refused a connection"
    );
    assert!(
        served.len() <= LIMIT,
        "{name}: served {} connections under -c {LIMIT}",
        served.len()
    );

    // The connections that got in still work.
    for s in served.iter_mut().take(3) {
        s.write_all(b"version\r\n").expect("write");
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).expect("read");
        assert!(buf[..n].starts_with(b"VERSION "), "{name}");
    }

    // Closing them makes room again; the server notices closes asynchronously, so poll.
    drop(served);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Answer::Served(_) = attempt(&server) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: still refusing connections after all clients left"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn memcached_enforces_the_connection_limit() {
    limit_is_enforced(Server::memcached(&["-c", "40"]));
}

#[test]
fn corvid_enforces_the_connection_limit() {
    limit_is_enforced(Server::corvid(&["-c", "40"]));
}
