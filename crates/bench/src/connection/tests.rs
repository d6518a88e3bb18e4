use super::*;
use crate::distribution::SizeDist;

fn content() -> Content {
    Content::new(100, SizeDist::Fixed(4), SizeDist::Fixed(10)).unwrap()
}

/// Feeds `reply` to the queue built by `requests` and returns the tally.
fn settle(
    protocol: Protocol,
    requests: &[Request<'_>],
    reply: &[u8],
) -> (Tally, Result<usize, Garbage>) {
    let c = content();
    let start = Instant::now();
    let mut pending = VecDeque::new();
    let mut keys = VecDeque::new();
    for r in requests {
        let (op, n) = match r {
            Request::Get(ids) => {
                keys.extend(ids.iter().copied());
                (Op::Get, ids.len())
            }
            Request::Set { .. } => (Op::Set, 0),
            Request::Delete(_) => (Op::Delete, 0),
        };
        pending.push_back(Pending {
            op,
            keys: n,
            cursor: 0,
            hits: 0,
            start,
        });
    }
    let mut tally = Tally::new();
    let mut at = 0;
    let mut done = 0;
    while at < reply.len() {
        let (element, used) = match protocol.parse_element(&reply[at..]) {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(g) => return (tally, Err(g)),
        };
        match apply(
            &mut pending,
            &mut keys,
            element,
            protocol,
            &c,
            start,
            &mut tally,
        ) {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(g) => return (tally, Err(g)),
        }
        at += used;
    }
    (tally, Ok(done))
}

fn value(id: u64) -> Vec<u8> {
    let mut v = Vec::new();
    content().push_value(id, 10, &mut v);
    v
}

fn text_hit(key: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("VALUE {key} 0 {}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn text_multiget_counts_hits_misses_and_wrong_values() {
    let mut reply = text_hit("k001", &value(1));
    reply.extend(text_hit("k003", &value(2))); // the value of key 2 under key 3
    reply.extend_from_slice(b"END\r\nSTORED\r\nNOT_FOUND\r\n");
    let (tally, done) = settle(
        Protocol::Text,
        &[
            Request::Get(&[1, 2, 3]),
            Request::Set { id: 1, len: 10 },
            Request::Delete(4),
        ],
        &reply,
    );
    assert_eq!(done, Ok(3));
    assert_eq!((tally.hits, tally.misses, tally.wrong_values), (2, 1, 1));
    assert_eq!(tally.not_found, 1);
    assert_eq!(tally.requests(), 3);
}

#[test]
fn a_hit_for_a_key_not_asked_is_an_error() {
    let mut reply = text_hit("k009", &value(9));
    reply.extend_from_slice(b"END\r\n");
    let (tally, done) = settle(Protocol::Text, &[Request::Get(&[1])], &reply);
    assert_eq!(done, Ok(1));
    assert_eq!(tally.wrong_values, 1);
}

#[test]
fn text_error_ends_a_get() {
    let (tally, done) = settle(
        Protocol::Text,
        &[Request::Get(&[1]), Request::Get(&[2])],
        b"SERVER_ERROR busy\r\nEND\r\n",
    );
    assert_eq!(done, Ok(2));
    assert_eq!(tally.server_errors, 1);
}

#[test]
fn meta_single_and_quiet_multiget() {
    let v1 = value(1);
    let mut reply = b"VA 10 kk001\r\n".to_vec();
    reply.extend_from_slice(&v1);
    reply.extend_from_slice(b"\r\nEN\r\n");
    // quiet multi-get: only the hit for key 2, then MN
    reply.extend_from_slice(b"VA 10 kk002\r\n");
    reply.extend_from_slice(&value(2));
    reply.extend_from_slice(b"\r\nMN\r\nHD\r\nHD\r\n");
    let (tally, done) = settle(
        Protocol::Meta,
        &[
            Request::Get(&[1]),
            Request::Get(&[5]),
            Request::Get(&[2, 3]),
            Request::Set { id: 1, len: 10 },
            Request::Delete(1),
        ],
        &reply,
    );
    assert_eq!(done, Ok(5));
    assert_eq!((tally.hits, tally.misses, tally.errors()), (2, 2, 0));
    assert_eq!(tally.deleted, 1);
}

#[test]
fn binary_value_checked() {
    fn response(op: u8, status: u16, key: &[u8], extras: &[u8], val: &[u8]) -> Vec<u8> {
        let mut out = vec![0x81, op];
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.push(extras.len() as u8);
        out.push(0);
        out.extend_from_slice(&status.to_be_bytes());
        out.extend_from_slice(&((extras.len() + key.len() + val.len()) as u32).to_be_bytes());
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(extras);
        out.extend_from_slice(key);
        out.extend_from_slice(val);
        out
    }
    let mut corrupt = value(1);
    corrupt[9] ^= 0x20;
    let mut reply = response(0x0c, 0, b"k001", &[0; 4], &corrupt);
    reply.extend(response(0x0c, 1, b"k002", &[], b"Not found"));
    reply.extend(response(0x0d, 0, b"k004", &[0; 4], &value(4)));
    reply.extend(response(0x0a, 0, b"", &[], b""));
    reply.extend(response(0x01, 0x82, b"", &[], b"Out of memory"));
    let (tally, done) = settle(
        Protocol::Binary,
        &[
            Request::Get(&[1]),
            Request::Get(&[2]),
            Request::Get(&[3, 4]),
            Request::Set { id: 1, len: 10 },
        ],
        &reply,
    );
    assert_eq!(done, Ok(4));
    assert_eq!((tally.hits, tally.misses), (2, 2));
    assert_eq!((tally.wrong_values, tally.server_errors), (1, 1));
}

#[test]
fn replies_nobody_asked_for_break_the_stream() {
    let (_, done) = settle(Protocol::Text, &[], b"STORED\r\n");
    assert_eq!(done, Err(Garbage));
    let (_, done) = settle(
        Protocol::Text,
        &[Request::Set { id: 1, len: 10 }],
        b"END\r\n",
    );
    assert_eq!(done, Err(Garbage));
}

/// A connection over one end of a Unix socket pair, and the other end (blocking).
fn pair(io: IoSizes) -> (Connection, std::os::unix::net::UnixStream) {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let stream = Stream::Unix(mio::net::UnixStream::from_std(ours));
    (Connection::new(stream, 4, 1, io), theirs)
}

#[test]
fn writes_stop_at_the_write_size_and_come_back() {
    let (mut conn, mut server) = pair(IoSizes { read: 0, write: 5 });
    let c = content();
    conn.send(Request::Delete(1), Protocol::Text, &c, Instant::now()); // "delete k001\r\n"
    let mut turns = Vec::new();
    loop {
        let turn = conn.flush().unwrap();
        turns.push(turn);
        if turn == Turn::Wait {
            break;
        }
    }
    assert_eq!(turns, [Turn::Again, Turn::Again, Turn::Wait]);
    let mut got = [0u8; 13];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"delete k001\r\n");
}

#[test]
fn reads_stop_at_the_read_size_and_come_back() {
    let (mut conn, mut server) = pair(IoSizes { read: 4, write: 0 });
    let c = content();
    let mut tally = Tally::new();
    conn.send(Request::Delete(1), Protocol::Text, &c, Instant::now());
    conn.flush().unwrap();
    server.write_all(b"DELETED\r\n").unwrap();
    let now = Instant::now();
    // 9 bytes in reads of 4: 4 (more may wait), 4 (likewise), 1 (short: the socket is
    // empty, and its next edge will say when more comes).
    let turns: Vec<_> = (0..3)
        .map(|_| conn.receive(Protocol::Text, &c, now, &mut tally).unwrap())
        .collect();
    assert_eq!(turns, [(0, Turn::Again), (0, Turn::Again), (1, Turn::Wait)]);
    assert_eq!(tally.deleted, 1);
}

#[test]
fn unlimited_sizes_move_everything_at_once() {
    let (mut conn, mut server) = pair(IoSizes { read: 0, write: 0 });
    let c = content();
    let mut tally = Tally::new();
    for id in 0..3 {
        conn.send(Request::Delete(id), Protocol::Text, &c, Instant::now());
    }
    assert_eq!(conn.flush().unwrap(), Turn::Wait);
    let mut got = [0u8; 39];
    server.read_exact(&mut got).unwrap();
    server
        .write_all(b"DELETED\r\nNOT_FOUND\r\nDELETED\r\n")
        .unwrap();
    let done = conn.receive(Protocol::Text, &c, Instant::now(), &mut tally);
    assert_eq!(done.unwrap(), (3, Turn::Wait));
}
