//! A corvid or memcached with UDP on (`-U` on a free port), and client sockets for it.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::support::{self, Implementation, Server, Transport};
/// How long one reply datagram may take before the step fails.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A server with UDP on, and its UDP address.
pub(crate) struct UdpServer {
    /// Kept for its lifetime: dropping it stops the process.
    _process: Server,
    pub(crate) addr: SocketAddr,
}

fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 (udp)");
    socket.local_addr().expect("local address").port()
}

/// Starts `implementation` with `-U <a free port>` and `args`, trying other ports if the
/// one picked was taken meanwhile.
pub(crate) fn start(implementation: Implementation, args: &[&str]) -> UdpServer {
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_udp_port();
        let port_text = port.to_string();
        let mut all = vec!["-U", port_text.as_str()];
        all.extend_from_slice(args);
        match Server::try_start(implementation, &all, Transport::Tcp) {
            Ok(server) => {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                support::wait_until_udp_bound(addr, implementation.name());
                return UdpServer {
                    _process: server,
                    addr,
                };
            }
            Err(refusal) if refusal.output.contains("in use") => last = refusal.report,
            Err(refusal) => panic!(
                "{} did not start: {}",
                implementation.name(),
                refusal.report
            ),
        }
    }
    panic!("{} did not start: {last}", implementation.name());
}

pub(crate) fn client(server: &UdpServer) -> UdpSocket {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a client socket");
    socket
        .connect(server.addr)
        .expect("connect the client socket");
    socket
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .expect("set a read timeout");
    socket
}
