//! What corvid promises over UDP beyond memcached: a request cut short is dropped without
//! poisoning the next datagram, several workers share the socket and each sender gets
//! exactly its replies, and hostile datagrams leave the server serving.

use std::net::{Ipv4Addr, UdpSocket};

use crate::datagram::{exchange, header, request, request_id, show};
use crate::server::{client, start, REPLY_TIMEOUT};
use crate::support::Implementation;
use crate::text_steps::value_set;
/// What memcached does here depends on which thread gets the next datagram; corvid drops
/// the request and stays well-behaved.
#[test]
fn a_request_cut_short_is_dropped_and_the_next_datagram_served() {
    // One worker, so the marker's reply cannot overtake the request's.
    let corvid = start(Implementation::Corvid, &["-t", "1"]);
    let socket = client(&corvid);
    let cases: [&[u8]; 6] = [
        b"set v 0 0 3\r\n",
        b"set v 0 0 10\r\nabc\r\n",
        b"set v 0 0 2000000\r\nabc\r\n",
        b"version\r\nset v 0 0 5\r\nab",
        // A binary SET of `v` whose 10-byte value has 3 bytes in the datagram.
        b"\x80\x01\0\x01\x08\0\0\0\0\0\0\x13\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0vabc",
        // A binary GET whose 5-byte key has 2 bytes in the datagram.
        b"\x80\0\0\x05\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0\0\0\0\0\0ab",
    ];
    for (i, payload) in cases.iter().enumerate() {
        let replies = exchange(&socket, &request(i as u16, payload), 0x7000, "corvid");
        let who = String::from_utf8_lossy(payload);
        match i {
            // Too large: refused at once, the rest of the datagram is the swallowed data.
            2 => assert_eq!(
                replies,
                [request(2, b"SERVER_ERROR object too large for cache\r\n")],
                "{who}"
            ),
            // The version before the cut-short set is answered.
            3 => assert_eq!(replies.len(), 1, "{who}: {}", show(&replies)),
            _ => assert!(replies.is_empty(), "{who}: {}", show(&replies)),
        }
        let after = exchange(&socket, &request(100, b"get v\r\n"), 0x7001, "corvid");
        assert_eq!(after, [request(100, b"END\r\n")], "after {who}");
    }
}

/// Four workers share the socket: many clients at once each get exactly their replies.
#[test]
fn workers_share_the_socket_and_reply_to_each_sender() {
    let corvid = start(Implementation::Corvid, &["-t", "4"]);
    let seed = client(&corvid);
    // No marker here: with four workers its reply could overtake this one.
    seed.send(&request(1, &value_set("shared", 5000, b's')))
        .expect("send");
    let mut buf = [0u8; 100];
    let n = seed.recv(&mut buf).expect("a reply to the set");
    assert_eq!(buf[..n], request(1, b"STORED\r\n"));
    let addr = corvid.addr;
    let threads: Vec<_> = (0..4u16)
        .map(|t| {
            std::thread::spawn(move || {
                let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
                socket.connect(addr).expect("connect");
                socket
                    .set_read_timeout(Some(REPLY_TIMEOUT))
                    .expect("timeout");
                let mut buf = vec![0u8; 2000];
                for i in 0..50u16 {
                    let id = t * 1000 + i;
                    let key = format!("k{t}-{i}");
                    let set = format!("set {key} 0 0 4\r\n{i:04}\r\nget {key} shared\r\n");
                    socket.send(&request(id, set.as_bytes())).expect("send");
                    // STORED, the value of k, then `shared` in 4 datagrams with END.
                    let mut got = Vec::new();
                    for _ in 0..6 {
                        let n = socket.recv(&mut buf).expect("a reply datagram");
                        assert_eq!(request_id(&buf[..n]), Some(id), "a reply to another");
                        got.extend_from_slice(&buf[8..n]);
                    }
                    let mut want = format!("STORED\r\nVALUE {key} 0 4\r\n{i:04}\r\n").into_bytes();
                    want.extend_from_slice(b"VALUE shared 0 5000\r\n");
                    want.extend(std::iter::repeat_n(b's', 5000));
                    want.extend_from_slice(b"\r\nEND\r\n");
                    assert_eq!(got, want, "client {t} request {i}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client thread failed");
    }
}

/// Garbage of every shape (no header, bad headers, binary noise, command fragments, huge
/// and empty datagrams) neither stops corvid nor leaves anything behind for the next
/// client.
#[test]
fn hostile_datagrams_leave_the_server_serving() {
    let corvid = start(Implementation::Corvid, &["-t", "2"]);
    let noise = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    noise.connect(corvid.addr).expect("connect");
    let words: [&[u8]; 12] = [
        b"get ",
        b"set k 0 0 ",
        b"\r\n",
        b"\n",
        b"gat ",
        b"incr ",
        b"noreply",
        b" 99999999999",
        b"\x80",
        b"\x00",
        b"quit",
        b"stats ",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // xorshift: deterministic, so a failure reproduces.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..3000u32 {
        let mut d = match next() % 4 {
            0 => Vec::new(),
            1 => header(i as u16, (next() % 3) as u16, (next() % 3) as u16, 0),
            _ => header(i as u16, 0, 1, 0),
        };
        let len = match next() % 10 {
            0 => 60_000,
            _ => (next() % 300) as usize,
        };
        while d.len() < len {
            if next() % 2 == 0 {
                d.extend_from_slice(words[(next() % words.len() as u64) as usize]);
            } else {
                d.push(next() as u8);
            }
        }
        // The kernel may refuse a burst (ENOBUFS); what matters is what arrives.
        let _ = noise.send(&d);
    }
    // Two workers: no marker (its reply could overtake), read until END instead.
    let socket = client(&corvid);
    socket
        .send(&request(1, b"set after 0 0 2\r\nok\r\nget after\r\n"))
        .expect("send");
    let mut joined = Vec::new();
    let mut buf = vec![0u8; 70_000];
    while !joined.ends_with(b"END\r\n") {
        let n = socket.recv(&mut buf).unwrap_or_else(|e| {
            panic!("no reply ({e}); got {:?}", String::from_utf8_lossy(&joined))
        });
        assert_eq!(request_id(&buf[..n]), Some(1));
        joined.extend_from_slice(&buf[8..n]);
    }
    assert_eq!(joined, b"STORED\r\nVALUE after 0 2\r\nok\r\nEND\r\n");
}
