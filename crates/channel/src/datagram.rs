//! Datagrams: memcached's UDP frame and the three outcomes for one datagram.
//!
//! Every memcached datagram, request or reply, starts with an 8-byte frame header: request
//! id, sequence number, total datagrams, reserved (four big-endian `u16`s). A request must
//! fit in one datagram; a reply is cut into datagrams of at most [`MAX_DATAGRAM`] bytes,
//! header included, numbered from 0, each echoing the request id.
//!
//! A datagram socket is never "finished" the way a stream is: an `Abort` here concerns one
//! datagram (it could not be received or sent), never the socket, which keeps serving.

use crate::outcome::{Abort, Outcome};
use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Length of memcached's frame header.
pub const HEADER_LEN: usize = 8;

/// The largest reply datagram memcached sends, header included.
pub const MAX_DATAGRAM: usize = 1400;

/// Reply bytes carried per datagram.
pub const PAYLOAD_PER_DATAGRAM: usize = MAX_DATAGRAM - HEADER_LEN;

/// The largest UDP payload over IPv4: a receive buffer this big never truncates.
pub const MAX_RECEIVE: usize = 65_507;

/// memcached's frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Chosen by the client, echoed in every datagram of the reply.
    pub request_id: u16,
    /// Position of this datagram in its message, from 0.
    pub sequence: u16,
    /// Datagrams in the message.
    pub total: u16,
    /// Always 0 when sent; ignored when received.
    pub reserved: u16,
}

/// Why a received datagram is not a request memcached would serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// No payload after the header (memcached ignores datagrams of 8 bytes or fewer).
    Short(usize),
    /// The header announces more (or fewer) than one datagram: requests spanning
    /// datagrams are not supported, by memcached either.
    Fragmented(u16),
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Short(len) => write!(f, "datagram of {len} bytes carries no request"),
            Malformed::Fragmented(total) => write!(f, "request announced as {total} datagrams"),
        }
    }
}

impl std::error::Error for Malformed {}

impl FrameHeader {
    /// Splits a received datagram into its header and payload, refusing what memcached
    /// drops without a reply. The sequence number and reserved field are not checked,
    /// as memcached does not check them.
    pub fn parse(datagram: &[u8]) -> Result<(FrameHeader, &[u8]), Malformed> {
        if datagram.len() <= HEADER_LEN {
            return Err(Malformed::Short(datagram.len()));
        }
        let field = |i: usize| u16::from_be_bytes([datagram[2 * i], datagram[2 * i + 1]]);
        let header = FrameHeader {
            request_id: field(0),
            sequence: field(1),
            total: field(2),
            reserved: field(3),
        };
        if header.total != 1 {
            return Err(Malformed::Fragmented(header.total));
        }
        Ok((header, &datagram[HEADER_LEN..]))
    }

    /// The header's wire form.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        for (i, v) in [self.request_id, self.sequence, self.total, self.reserved]
            .into_iter()
            .enumerate()
        {
            out[2 * i..2 * i + 2].copy_from_slice(&v.to_be_bytes());
        }
        out
    }
}

/// How many datagrams a reply of `len` bytes takes, as the header's `total` says it:
/// 0 for an empty reply (which is still sent, as a bare header), saturating at
/// `u16::MAX` as memcached does.
pub fn datagrams_for(len: usize) -> u16 {
    u16::try_from(len.div_ceil(PAYLOAD_PER_DATAGRAM)).unwrap_or(u16::MAX)
}

/// Frames `reply` for `request_id`: calls `emit` with each datagram in order (header and
/// payload in one contiguous buffer, reused between calls), and stops early when `emit`
/// returns false.
pub fn frame(request_id: u16, reply: &[u8], mut emit: impl FnMut(&[u8]) -> bool) {
    let total = datagrams_for(reply.len());
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut chunks = reply.chunks(PAYLOAD_PER_DATAGRAM);
    let mut sequence: u16 = 0;
    loop {
        let chunk = chunks.next().unwrap_or_default();
        let header = FrameHeader {
            request_id,
            sequence,
            total,
            reserved: 0,
        };
        buf[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        buf[HEADER_LEN..HEADER_LEN + chunk.len()].copy_from_slice(chunk);
        if !emit(&buf[..HEADER_LEN + chunk.len()]) {
            return;
        }
        sequence = sequence.wrapping_add(1);
        if chunks.len() == 0 {
            return;
        }
    }
}

/// What one receive achieved: the three outcomes, with the sender on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A datagram of `len` bytes (possibly 0) from `from`.
    Datagram {
        /// Its length.
        len: usize,
        /// Where replies go.
        from: SocketAddr,
    },
    /// Nothing queued; wait for readiness.
    Retry,
    /// The receive failed; carry on with the next one.
    Abort(Abort),
}

/// Socket buffer size asked for UDP sockets: a multi-get reply leaves in a burst.
const SOCKET_BUFFER_SIZE: usize = 4 << 20;

/// Binds a UDP socket as memcached sets one up: address reuse, v6 only for v6, and send
/// and receive buffers as large as the system allows. Non-blocking.
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // The kernel caps these at its maximum; a refusal only leaves the default.
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_SIZE);
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_SIZE);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Receives one datagram into `buf`, retrying only on EINTR. A datagram longer than `buf`
/// is truncated by the kernel, so `buf` should hold [`MAX_RECEIVE`] bytes.
pub fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> Received {
    loop {
        match socket.recv_from(buf) {
            Ok((len, from)) => return Received::Datagram { len, from },
            Err(e) => match classify(&e) {
                None => {}
                Some(Outcome::Retry) => return Received::Retry,
                Some(Outcome::Abort(reason)) => return Received::Abort(reason),
                Some(Outcome::Done(_)) => return Received::Retry,
            },
        }
    }
}

/// Sends one datagram to `to`, retrying only on EINTR. `Done(n)` means it left whole;
/// `Retry` that the socket buffer is full; `Abort` that this datagram cannot be sent
/// (the socket itself stays usable).
pub fn send_to(socket: &UdpSocket, datagram: &[u8], to: SocketAddr) -> Outcome {
    loop {
        match socket.send_to(datagram, to) {
            Ok(n) => return Outcome::Done(n),
            Err(e) => {
                if let Some(outcome) = classify(&e) {
                    return outcome;
                }
            }
        }
    }
}

fn classify(err: &io::Error) -> Option<Outcome> {
    match err.kind() {
        io::ErrorKind::Interrupted => None,
        io::ErrorKind::WouldBlock => Some(Outcome::Retry),
        // The kernel is short of buffers for a moment: like a full socket buffer.
        _ if err.raw_os_error() == Some(libc::ENOBUFS) => Some(Outcome::Retry),
        // An ICMP error from an earlier datagram surfacing on this call: that peer is
        // gone, the socket is fine.
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => {
            Some(Outcome::Abort(Abort::Reset))
        }
        kind => Some(Outcome::Abort(Abort::Failed(kind))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(id: u16, seq: u16, total: u16, reserved: u16) -> Vec<u8> {
        FrameHeader {
            request_id: id,
            sequence: seq,
            total,
            reserved,
        }
        .to_bytes()
        .to_vec()
    }

    #[test]
    fn header_round_trips_big_endian() {
        let bytes = header(0x0102, 0x0304, 1, 0x0708);
        assert_eq!(bytes, [1, 2, 3, 4, 0, 1, 7, 8]);
        let mut datagram = bytes.clone();
        datagram.extend_from_slice(b"get k\r\n");
        let (h, payload) = FrameHeader::parse(&datagram).expect("valid");
        assert_eq!(
            (h.request_id, h.sequence, h.total, h.reserved),
            (0x0102, 0x0304, 1, 0x0708)
        );
        assert_eq!(payload, b"get k\r\n");
    }

    #[test]
    fn malformed_datagrams_are_refused_as_memcached_does() {
        assert_eq!(FrameHeader::parse(b""), Err(Malformed::Short(0)));
        assert_eq!(FrameHeader::parse(b"abc"), Err(Malformed::Short(3)));
        // A bare header: memcached wants at least one payload byte.
        assert_eq!(
            FrameHeader::parse(&header(1, 0, 1, 0)),
            Err(Malformed::Short(8))
        );
        for total in [0, 2, 0xffff] {
            let mut d = header(1, 0, total, 0);
            d.push(b'x');
            assert_eq!(FrameHeader::parse(&d), Err(Malformed::Fragmented(total)));
        }
        // Sequence and reserved are not looked at.
        let mut d = header(9, 5, 1, 7);
        d.push(b'x');
        assert!(FrameHeader::parse(&d).is_ok());
    }

    fn framed(id: u16, reply: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        frame(id, reply, |d| {
            out.push(d.to_vec());
            true
        });
        out
    }

    #[test]
    fn an_empty_reply_is_one_bare_header_with_total_zero() {
        assert_eq!(framed(7, b""), [header(7, 0, 0, 0)]);
    }

    #[test]
    fn replies_split_into_1392_byte_payloads_in_order() {
        // memcached's 10 KiB get reply: 10266 bytes, 8 datagrams, the last 530 bytes long.
        let mut reply = b"VALUE big 0 10240\r\n".to_vec();
        reply.extend(std::iter::repeat_n(b'x', 10240));
        reply.extend_from_slice(b"\r\nEND\r\n");
        let datagrams = framed(2, &reply);
        assert_eq!(datagrams.len(), 8);
        let lens: Vec<usize> = datagrams.iter().map(Vec::len).collect();
        assert_eq!(lens, [1400, 1400, 1400, 1400, 1400, 1400, 1400, 530]);
        for (i, d) in datagrams.iter().enumerate() {
            assert_eq!(d[..8], header(2, i as u16, 8, 0)[..]);
        }
        let joined: Vec<u8> = datagrams.iter().flat_map(|d| d[8..].to_vec()).collect();
        assert_eq!(joined, reply);
        // Exactly one payload's worth fits one datagram.
        assert_eq!(framed(1, &[b'y'; PAYLOAD_PER_DATAGRAM]).len(), 1);
        assert_eq!(framed(1, &[b'y'; PAYLOAD_PER_DATAGRAM + 1]).len(), 2);
    }

    #[test]
    fn framing_stops_when_told() {
        let mut n = 0;
        frame(1, &[0u8; 5000], |_| {
            n += 1;
            false
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn datagram_counts_saturate() {
        assert_eq!(datagrams_for(0), 0);
        assert_eq!(datagrams_for(1), 1);
        assert_eq!(datagrams_for(usize::MAX / 2), u16::MAX);
    }

    #[test]
    fn sockets_exchange_datagrams_with_three_outcomes() {
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
        a.set_nonblocking(true).expect("nonblocking");
        let mut buf = vec![0u8; MAX_RECEIVE];
        assert_eq!(recv_from(&a, &mut buf), Received::Retry);
        let to = a.local_addr().expect("addr");
        assert_eq!(send_to(&b, b"hello", to), Outcome::Done(5));
        assert_eq!(send_to(&b, b"", to), Outcome::Done(0));
        // Loopback delivery is immediate, but poll rather than assume it.
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 2 && std::time::Instant::now() < deadline {
            match recv_from(&a, &mut buf) {
                Received::Datagram { len, from } => {
                    assert_eq!(from, b.local_addr().expect("addr"));
                    got.push(buf[..len].to_vec());
                }
                Received::Retry => std::thread::yield_now(),
                Received::Abort(e) => panic!("receive failed: {e:?}"),
            }
        }
        assert_eq!(got, [b"hello".to_vec(), Vec::new()]);
    }
}
