//! Socket addresses in memcached's spelling, which `stats conns`, `watch` and the metrics'
//! listener labels show: `tcp:127.0.0.1:11211`, `tcp6:[::1]:11211`, `udp:0.0.0.0:11211`,
//! `unix:/run/corvid.sock`.
//!
//! ```
//! use server::runtime::socket_name;
//! assert_eq!(socket_name("tcp", "127.0.0.1:80".parse().unwrap()), "tcp:127.0.0.1:80");
//! assert_eq!(socket_name("udp", "[::1]:80".parse().unwrap()), "udp6:[::1]:80");
//! ```

use channel::Stream;
use std::net::SocketAddr;

/// `<transport>:<addr>` for IPv4, `<transport>6:[<addr>]:<port>` for IPv6.
pub fn socket_name(transport: &str, addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{transport}:{a}"),
        SocketAddr::V6(a) => format!("{transport}6:[{}]:{}", a.ip(), a.port()),
    }
}

/// A client's address. memcached zeroes the address of a Unix-socket client and prints
/// what an unknown family gives, `?:<AF 0>`; tools that read `stats conns` see the same.
pub fn peer_name(stream: &Stream) -> String {
    match stream.peer_addr() {
        Some(addr) => socket_name("tcp", addr),
        None => "?:<AF 0>".to_string(),
    }
}
