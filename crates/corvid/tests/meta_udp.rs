//! Meta commands over UDP (`-U`): corvid against memcached 1.6.18, datagram for datagram
//! (each meta reply is its own response object, as memcached sends it).

mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use support::{Implementation, Server, Transport};

fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 (udp)");
    socket.local_addr().expect("local address").port()
}

/// The server and a client socket connected to its UDP port.
fn start(implementation: Implementation) -> (Server, UdpSocket) {
    for _ in 0..5 {
        let port = free_udp_port();
        let port_text = port.to_string();
        // One worker: with several, the marker could be answered by another worker
        // before the last reply of the request before it is sent.
        let args = ["-U", port_text.as_str(), "-t", "1"];
        match Server::try_start(implementation, &args, Transport::Tcp) {
            Ok(server) => {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                support::wait_until_udp_bound(addr, implementation.name());
                let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("client socket");
                socket.connect(addr).expect("connect");
                socket
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                return (server, socket);
            }
            Err(refusal) if refusal.output.contains("in use") => continue,
            Err(refusal) => panic!(
                "{} did not start: {}",
                implementation.name(),
                refusal.report
            ),
        }
    }
    panic!("{} found no free UDP port", implementation.name());
}

fn datagram(request_id: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    for v in [request_id, 0, 1, 0] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    d.extend_from_slice(payload);
    d
}

/// Sends `payload`, then a `version` marker; every datagram answered before the marker.
fn exchange(socket: &UdpSocket, id: u16, payload: &[u8]) -> Vec<Vec<u8>> {
    socket.send(&datagram(id, payload)).expect("send");
    socket
        .send(&datagram(9999, b"version\r\n"))
        .expect("send marker");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 70_000];
    loop {
        let n = socket.recv(&mut buf).expect("a reply before the marker's");
        if buf[..2] == 9999u16.to_be_bytes() {
            return got;
        }
        got.push(buf[..n].to_vec());
    }
}

const REQUESTS: &[&[u8]] = &[
    b"ms k 2 T0\r\nhi\r\n",
    b"mg k v k s\r\nmn\r\n",
    b"mg k s\r\nmg k v\r\nmd k q\r\nmd k q\r\nma n N0 J7 v\r\n",
    b"ms x 5 q\r\nabcde\r\nmg x v q\r\nmg y v q\r\nmn\r\n",
    b"mg k !\r\nms k 1 MZ\r\nx\r\nmn\r\n",
    b"mg viv N30 s\r\nmg viv N30 s\r\n",
    b"mn\r\n",
];

fn replies(implementation: Implementation) -> Vec<Vec<Vec<u8>>> {
    let (_server, socket) = start(implementation);
    (0u16..)
        .zip(REQUESTS)
        .map(|(id, payload)| exchange(&socket, id + 1, payload))
        .collect()
}

#[test]
fn corvid_answers_meta_over_udp_as_memcached() {
    support::memcached_binary();
    let memcached = replies(Implementation::Memcached);
    let corvid = replies(Implementation::Corvid);
    for (i, (m, c)) in memcached.iter().zip(&corvid).enumerate() {
        assert_eq!(
            c,
            m,
            "request {:?}: corvid {:?}, memcached {:?}",
            String::from_utf8_lossy(REQUESTS[i]),
            c.iter()
                .map(|d| String::from_utf8_lossy(d))
                .collect::<Vec<_>>(),
            m.iter()
                .map(|d| String::from_utf8_lossy(d))
                .collect::<Vec<_>>(),
        );
    }
}
