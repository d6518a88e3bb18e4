//! One client connection: its output buffer, its input buffer, and the queue of
//! requests still waiting for replies, against which every reply is checked.

use crate::codec::{Element, Garbage, GetEnd, Protocol};
use crate::config::Target;
use crate::content::Content;
use crate::error::BenchError;
use crate::report::{Op, Tally};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Instant;

const READ_CHUNK: usize = 64 * 1024;

pub enum Stream {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

impl Stream {
    /// Connects blocking (simple, and a benchmark's setup is not timed), then hands
    /// the socket to mio non-blocking.
    pub fn connect(target: &Target) -> Result<Stream, BenchError> {
        let fail = |source| BenchError::Connect {
            target: target.to_string(),
            source,
        };
        match target {
            Target::Tcp(addr) => {
                let s = std::net::TcpStream::connect(addr).map_err(fail)?;
                s.set_nodelay(true).map_err(fail)?;
                s.set_nonblocking(true).map_err(fail)?;
                Ok(Stream::Tcp(mio::net::TcpStream::from_std(s)))
            }
            Target::Unix(path) => {
                let s = std::os::unix::net::UnixStream::connect(path).map_err(fail)?;
                s.set_nonblocking(true).map_err(fail)?;
                Ok(Stream::Unix(mio::net::UnixStream::from_std(s)))
            }
        }
    }

    pub fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A request sent and not yet fully answered.
#[derive(Debug, Clone, Copy)]
struct Pending {
    op: Op,
    /// For gets: how many key ids this request owns at the front of `Connection::keys`.
    keys: usize,
    /// For gets: index of the next key a hit may match (hits come in request order).
    cursor: usize,
    hits: usize,
    /// When the request was sent, or, in open loop, when it was meant to be sent.
    start: Instant,
}

/// The connection can no longer be used; what it had outstanding is lost.
#[derive(Debug)]
pub struct Broken;

pub struct Connection {
    pub stream: Stream,
    out: Vec<u8>,
    out_at: usize,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    pending: VecDeque<Pending>,
    keys: VecDeque<u64>,
    /// Whether anything was sent since the last flush.
    pub dirty: bool,
    pub broken: bool,
}

impl Connection {
    pub fn new(stream: Stream, pipeline: usize, multiget: usize) -> Self {
        Connection {
            stream,
            out: Vec::with_capacity(4096),
            out_at: 0,
            input: vec![0; READ_CHUNK],
            in_start: 0,
            in_end: 0,
            pending: VecDeque::with_capacity(pipeline),
            keys: VecDeque::with_capacity(pipeline * multiget),
            dirty: false,
            broken: false,
        }
    }

    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    pub fn send(
        &mut self,
        request: Request<'_>,
        protocol: Protocol,
        content: &Content,
        start: Instant,
    ) {
        let (op, keys) = match request {
            Request::Get(ids) => {
                protocol.get(content, ids, &mut self.out);
                self.keys.extend(ids.iter().copied());
                (Op::Get, ids.len())
            }
            Request::Set { id, len } => {
                protocol.set(content, id, len, &mut self.out);
                (Op::Set, 0)
            }
            Request::Delete(id) => {
                protocol.delete(content, id, &mut self.out);
                (Op::Delete, 0)
            }
        };
        self.pending.push_back(Pending {
            op,
            keys,
            cursor: 0,
            hits: 0,
            start,
        });
        self.dirty = true;
    }

    /// Writes as much queued output as the socket takes.
    pub fn flush(&mut self) -> Result<(), Broken> {
        self.dirty = false;
        while self.out_at < self.out.len() {
            match self.stream.write(&self.out[self.out_at..]) {
                Ok(0) => return Err(Broken),
                Ok(n) => self.out_at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken),
            }
        }
        self.out.clear();
        self.out_at = 0;
        Ok(())
    }

    /// Reads everything available and settles every reply that is complete, recording
    /// latencies as of `now`. Returns how many requests completed.
    pub fn receive(
        &mut self,
        protocol: Protocol,
        content: &Content,
        now: Instant,
        tally: &mut Tally,
    ) -> Result<usize, Broken> {
        let mut completed = 0;
        loop {
            if self.in_end == self.input.len() {
                self.make_room();
            }
            let room = self.input.len() - self.in_end;
            match self.stream.read(&mut self.input[self.in_end..]) {
                Ok(0) => return Err(Broken),
                Ok(n) => {
                    self.in_end += n;
                    completed += self.settle(protocol, content, now, tally)?;
                    if n < room {
                        // A short read emptied the socket; on Linux new data raises a
                        // new edge, so the read that would only say EAGAIN is skipped
                        // (one syscall per reply saved, which is the client's budget).
                        return Ok(completed);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(completed),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken),
            }
        }
    }

    fn make_room(&mut self) {
        if self.in_start > 0 {
            self.input.copy_within(self.in_start..self.in_end, 0);
            self.in_end -= self.in_start;
            self.in_start = 0;
        } else {
            // A reply bigger than the buffer (a large value): grow once; the buffer keeps
            // its size afterwards, so the steady state does not allocate.
            let bigger = self.input.len() * 2;
            self.input.resize(bigger, 0);
        }
    }

    fn settle(
        &mut self,
        protocol: Protocol,
        content: &Content,
        now: Instant,
        tally: &mut Tally,
    ) -> Result<usize, Broken> {
        let mut completed = 0;
        loop {
            let buf = &self.input[self.in_start..self.in_end];
            let (element, used) = match protocol.parse_element(buf) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(Garbage) => return Err(Broken),
            };
            let done = apply(
                &mut self.pending,
                &mut self.keys,
                element,
                protocol,
                content,
                now,
                tally,
            )
            .map_err(|Garbage| Broken)?;
            self.in_start += used;
            if done {
                completed += 1;
            }
        }
        if self.in_start == self.in_end {
            self.in_start = 0;
            self.in_end = 0;
        }
        Ok(completed)
    }

    /// Counts whatever this connection still owed as lost.
    pub fn abandon(&mut self, tally: &mut Tally) {
        tally.lost += self.pending.len() as u64;
        self.pending.clear();
        self.keys.clear();
        self.broken = true;
    }
}

/// What to send; key ids, never key bytes, so the hot path does not allocate.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    Get(&'a [u64]),
    Set { id: u64, len: usize },
    Delete(u64),
}

/// Matches one reply element against the oldest outstanding request. Returns whether
/// that request is now complete; an element that fits no request means the stream is
/// out of step.
fn apply(
    pending: &mut VecDeque<Pending>,
    keys: &mut VecDeque<u64>,
    element: Element<'_>,
    protocol: Protocol,
    content: &Content,
    now: Instant,
    tally: &mut Tally,
) -> Result<bool, Garbage> {
    let front = pending.front_mut().ok_or(Garbage)?;
    let done = match front.op {
        Op::Set => match element {
            Element::Done => true,
            Element::Failure | Element::NotFound | Element::Miss => {
                tally.server_errors += 1;
                true
            }
            Element::Value { .. } | Element::End => return Err(Garbage),
        },
        Op::Delete => match element {
            Element::Done => {
                tally.deleted += 1;
                true
            }
            Element::NotFound => {
                tally.not_found += 1;
                true
            }
            Element::Failure => {
                tally.server_errors += 1;
                true
            }
            Element::Value { .. } | Element::End | Element::Miss => return Err(Garbage),
        },
        Op::Get => {
            let ends = protocol.get_ends(front.keys);
            match element {
                Element::Value { key, data } => {
                    let asked = keys.range(front.cursor..front.keys);
                    let found = match key {
                        Some(key) => asked.clone().position(|&id| content.key_matches(id, key)),
                        None => (front.cursor < front.keys).then_some(0),
                    };
                    match found {
                        Some(offset) => {
                            let index = front.cursor + offset;
                            front.cursor = index + 1;
                            front.hits += 1;
                            if !content.value_ok(keys[index], data) {
                                tally.wrong_values += 1;
                            }
                        }
                        // A hit for a key we did not ask for (or one too many).
                        None => tally.wrong_values += 1,
                    }
                    ends == GetEnd::FirstElement
                }
                Element::Miss => ends == GetEnd::FirstElement,
                Element::End => {
                    if ends == GetEnd::FirstElement {
                        return Err(Garbage);
                    }
                    true
                }
                Element::Failure => {
                    tally.server_errors += 1;
                    ends == GetEnd::FirstElement || protocol.failure_ends_get()
                }
                Element::Done | Element::NotFound => return Err(Garbage),
            }
        }
    };
    if done {
        let request = *front;
        pending.pop_front();
        if request.op == Op::Get {
            tally.hits += request.hits as u64;
            tally.misses += (request.keys - request.hits) as u64;
            keys.drain(..request.keys);
        }
        tally.record(request.op, now.saturating_duration_since(request.start));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
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
}
