//! Ports: a free TCP port on loopback, and waiting until a UDP port is bound.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A port nobody listens on right now: the kernel's pick for an ephemeral bind.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local address of a bound socket")
        .port()
}

/// Polls until a socket is bound to `addr`'s UDP port. A server accepting on TCP may not
/// have bound its UDP socket yet (both bind TCP first), and a datagram sent in that gap
/// comes back as an ICMP error that fails the test's next send. The kernel's socket table
/// is asked rather than the server, whose counters the tests compare.
pub fn wait_until_udp_bound(addr: SocketAddr, who: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let local = format!(":{:04X} ", addr.port());
    loop {
        let table = std::fs::read_to_string("/proc/net/udp").expect("read /proc/net/udp");
        // Columns: sl, local_address (hex ip:port), rem_address, ...
        if table
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(1))
            .any(|local_address| format!("{local_address} ").ends_with(&local))
        {
            return;
        }
        assert!(Instant::now() < deadline, "{who} never bound udp {addr}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
