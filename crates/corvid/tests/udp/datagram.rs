//! UDP frames as the tests build and read them: the 8-byte frame header, request
//! datagrams, the `version` marker that ends each exchange without sleeping, and a
//! readable listing of datagrams for failure reports.

use std::net::UdpSocket;
pub(crate) fn header(request_id: u16, sequence: u16, total: u16, reserved: u16) -> Vec<u8> {
    [request_id, sequence, total, reserved]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

/// A request datagram: a well-formed header, then `payload`.
pub(crate) fn request(request_id: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = header(request_id, 0, 1, 0);
    d.extend_from_slice(payload);
    d
}

pub(crate) fn request_id(datagram: &[u8]) -> Option<u16> {
    (datagram.len() >= 2).then(|| u16::from_be_bytes([datagram[0], datagram[1]]))
}

/// Sends `datagram`, then a `version` marker, and returns every datagram that came back
/// before the marker's reply.
pub(crate) fn exchange(
    socket: &UdpSocket,
    datagram: &[u8],
    marker: u16,
    who: &str,
) -> Vec<Vec<u8>> {
    exchange_with_marker(socket, datagram, marker, who).0
}

/// [`exchange`], also returning the marker's reply.
pub(crate) fn exchange_with_marker(
    socket: &UdpSocket,
    datagram: &[u8],
    marker: u16,
    who: &str,
) -> (Vec<Vec<u8>>, Vec<u8>) {
    socket.send(datagram).expect("send a request datagram");
    socket
        .send(&request(marker, b"version\r\n"))
        .expect("send the marker");
    let mut replies = Vec::new();
    let mut buf = vec![0u8; 70_000];
    loop {
        let n = socket.recv(&mut buf).unwrap_or_else(|e| {
            panic!(
                "{who}: no reply to the marker ({e}); got so far:\n{}",
                show(&replies)
            )
        });
        let d = buf[..n].to_vec();
        if request_id(&d) == Some(marker) && n > 8 && d[8..].starts_with(b"VERSION ") {
            return (replies, d);
        }
        replies.push(d);
    }
}

pub(crate) fn show(datagrams: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for d in datagrams {
        if d.len() < 8 {
            out.push_str(&format!("  short datagram {:?}\n", d));
            continue;
        }
        let field = |i: usize| u16::from_be_bytes([d[2 * i], d[2 * i + 1]]);
        let payload = &d[8..];
        let text: String = payload
            .iter()
            .take(60)
            .flat_map(|&b| std::ascii::escape_default(b))
            .map(char::from)
            .collect();
        out.push_str(&format!(
            "  [id {} seq {} total {} res {}] {} bytes: {text}{}\n",
            field(0),
            field(1),
            field(2),
            field(3),
            payload.len(),
            if payload.len() > 60 { "..." } else { "" }
        ));
    }
    out
}
