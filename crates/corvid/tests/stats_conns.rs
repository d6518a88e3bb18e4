//! `stats conns` as memcached lists it: listening sockets, each worker's UDP socket,
//! Unix sockets, and each client with its `listen_addr` and its state (new, reading,
//! reading a value, the one asking). Both servers get the same connections; the lists
//! are compared with descriptors, ports, paths and seconds normalised.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use support::{Implementation, Server, Stream, Transport};

fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 (udp)");
    socket.local_addr().expect("local address").port()
}

fn send(s: &mut Stream, bytes: &[u8]) {
    s.write_all(bytes).expect("write");
}

fn read_until(s: &mut Stream, end: &[u8]) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while !out.ends_with(end) {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed");
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Each descriptor's entry (its `field value` lines), ports and socket paths replaced
/// by placeholders and seconds dropped, entries sorted: which client got which
/// descriptor depends on when each server reused a closed one.
fn normalised(text: &str, sock: Option<&str>) -> Vec<Vec<String>> {
    let mut entries: Vec<Vec<String>> = Vec::new();
    let mut last = None;
    for line in ranked(text, sock) {
        let (rank, rest) = line.split_once(':').expect("rank");
        if last != Some(rank.to_string()) {
            entries.push(Vec::new());
            last = Some(rank.to_string());
        }
        if let Some(entry) = entries.last_mut() {
            entry.push(rest.to_string());
        }
    }
    entries.sort();
    entries
}

/// `STAT <fd>:<field> <value>` lines with each descriptor replaced by its rank, ports
/// and socket paths by placeholders, and seconds dropped.
fn ranked(text: &str, sock: Option<&str>) -> Vec<String> {
    let mut fds: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("STAT ") else {
            continue;
        };
        let (name, value) = rest.split_once(' ').expect("STAT name value");
        let (fd, field) = name.split_once(':').expect("<fd>:<field>");
        if field == "secs_since_last_cmd" {
            continue;
        }
        if !fds.iter().any(|f| f == fd) {
            fds.push(fd.to_string());
        }
        let rank = fds.iter().position(|f| f == fd).unwrap_or(0);
        let mut value = value.to_string();
        if let Some(path) = sock {
            value = value.replace(path, "SOCK");
            // memcached names its listening Unix socket by a prefix of the path (the
            // first 26 bytes, a quirk of how it prints it); either way it is this socket.
            let prefix = value.strip_prefix("unix:").unwrap_or_default();
            if !prefix.is_empty() && path.starts_with(prefix) {
                value = "unix:SOCK".to_string();
            }
        }
        // tcp:127.0.0.1:40123 -> tcp:127.0.0.1:PORT
        if let Some((host, port)) = value.rsplit_once(':') {
            if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() {
                value = format!("{host}:PORT");
            }
        }
        out.push(format!("{rank}:{field} {value}"));
    }
    out
}

/// The list `server` gives with a fresh, an idle, a mid-value and a mid-line client
/// connected besides the one asking.
fn conns(server: &Server) -> String {
    let fresh = server.connect();
    let mut idle = server.connect();
    send(&mut idle, b"version\r\n");
    read_until(&mut idle, b"\r\n");
    let mut value = server.connect();
    send(&mut value, b"set k 0 0 10\r\nabc");
    let mut partial = server.connect();
    send(&mut partial, b"get k");
    let mut asking = server.connect();
    // Let the others' bytes arrive and be read before asking (states are published at
    // the end of each connection's turn): poll until the list shows them.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        send(&mut asking, b"stats conns\r\n");
        let text = String::from_utf8(read_until(&mut asking, b"END\r\n")).expect("utf8");
        // Five clients (the harness's start-up probe, closed, may linger a moment), and
        // every one's bytes read: two of the clients (the idle and the mid-line one) in
        // conn_read, not counting the UDP sockets, which always are (on io_uring the
        // mid-line client's bytes can come after the asking one's).
        let reading = normalised(&text, None)
            .iter()
            .filter(|e| e.iter().any(|f| f.starts_with("listen_addr ")))
            .filter(|e| e.iter().any(|f| f == "state conn_read"))
            .count();
        let settled = text.matches(":listen_addr ").count() == 5
            && text.contains("conn_nread")
            && reading >= 2;
        if settled || Instant::now() > deadline {
            // The others stay connected until the list is taken.
            drop((fresh, idle, value, partial));
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stats_conns_lists_listeners_udp_and_clients_as_memcached() {
    let list = |implementation| {
        let port = free_udp_port().to_string();
        let server = Server::start(implementation, &["-U", &port], Transport::Tcp);
        if let support::Endpoint::Tcp(addr) = server.endpoint() {
            let udp = std::net::SocketAddr::from((addr.ip(), port.parse::<u16>().expect("port")));
            support::wait_until_udp_bound(udp, implementation.name());
        }
        normalised(&conns(&server), None)
    };
    let memcached = list(Implementation::Memcached);
    let listening = ["addr tcp:127.0.0.1:PORT", "state conn_listening"];
    assert!(memcached.iter().any(|e| e == &listening), "{memcached:?}");
    assert_eq!(
        memcached.len(),
        8,
        "a listener, two UDP sockets, five clients"
    );
    assert_eq!(list(Implementation::Corvid), memcached);
}

#[test]
fn stats_conns_over_a_unix_socket_as_memcached() {
    let list = |implementation| {
        let server = Server::start(implementation, &[], Transport::Unix);
        let support::Endpoint::Unix(path) = server.endpoint() else {
            panic!("not a unix socket");
        };
        let path = path.display().to_string();
        normalised(&conns(&server), Some(&path))
    };
    let memcached = list(Implementation::Memcached);
    let listening = ["addr unix:SOCK", "state conn_listening"];
    assert!(memcached.iter().any(|e| e == &listening), "{memcached:?}");
    assert_eq!(memcached.len(), 6, "a listener, five clients");
    assert_eq!(list(Implementation::Corvid), memcached);
}
