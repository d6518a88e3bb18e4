//! One client connection: its output buffer, its input buffer, and the queue of
//! requests still waiting for replies, against which every reply is checked.

use crate::codec::{Element, Garbage, GetEnd, Protocol};
use crate::config::{IoSizes, Target};
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
    Tls(Box<crate::tls::TlsStream>),
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
            Target::Tls { addr, client, name } => {
                let s = std::net::TcpStream::connect(addr).map_err(fail)?;
                s.set_nodelay(true).map_err(fail)?;
                let tls = crate::tls::handshake(s, client.clone(), name).map_err(fail)?;
                Ok(Stream::Tls(Box::new(tls)))
            }
        }
    }

    pub fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
            Stream::Tls(s) => &mut s.tcp,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
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

/// What a connection needs after a read or a flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Nothing until the socket says so (new input, or room to write).
    Wait,
    /// It stopped at its size limit with more to move: come back next turn.
    Again,
}

pub struct Connection {
    pub stream: Stream,
    out: Vec<u8>,
    out_at: usize,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    pending: VecDeque<Pending>,
    keys: VecDeque<u64>,
    io: IoSizes,
    /// Whether the connection is on its worker's list of output to write this turn.
    pub dirty: bool,
    /// Whether it is on the list of input to read next turn.
    pub reread: bool,
    pub broken: bool,
}

impl Connection {
    pub fn new(stream: Stream, pipeline: usize, multiget: usize, io: IoSizes) -> Self {
        Connection {
            stream,
            out: Vec::with_capacity(4096),
            out_at: 0,
            input: vec![0; READ_CHUNK],
            in_start: 0,
            in_end: 0,
            pending: VecDeque::with_capacity(pipeline),
            keys: VecDeque::with_capacity(pipeline * multiget),
            io,
            dirty: false,
            reread: false,
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

    /// Writes queued output: as much as the socket takes, or one write of at most
    /// `io.write` bytes.
    pub fn flush(&mut self) -> Result<Turn, Broken> {
        while self.out_at < self.out.len() {
            let end = match self.io.write {
                0 => self.out.len(),
                limit => self.out.len().min(self.out_at + limit),
            };
            match self.stream.write(&self.out[self.out_at..end]) {
                Ok(0) => return Err(Broken),
                Ok(n) => {
                    self.out_at += n;
                    if self.io.write != 0 && self.out_at < self.out.len() {
                        return Ok(Turn::Again);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Turn::Wait),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken),
            }
        }
        self.out.clear();
        self.out_at = 0;
        Ok(Turn::Wait)
    }

    /// Reads what is available (everything, or one read of at most `io.read` bytes) and
    /// settles every reply that is complete, recording latencies as of `now`. Returns
    /// how many requests completed.
    pub fn receive(
        &mut self,
        protocol: Protocol,
        content: &Content,
        now: Instant,
        tally: &mut Tally,
    ) -> Result<(usize, Turn), Broken> {
        let mut completed = 0;
        loop {
            if self.in_end == self.input.len() {
                self.make_room();
            }
            let want = match self.io.read {
                0 => self.input.len() - self.in_end,
                limit => (self.input.len() - self.in_end).min(limit),
            };
            match self
                .stream
                .read(&mut self.input[self.in_end..self.in_end + want])
            {
                Ok(0) => return Err(Broken),
                Ok(n) => {
                    self.in_end += n;
                    completed += self.settle(protocol, content, now, tally)?;
                    if n < want {
                        // A short read emptied the socket; on Linux new data raises a
                        // new edge, so the read that would only say EAGAIN is skipped
                        // (one syscall per reply saved, which is the client's budget).
                        return Ok((completed, Turn::Wait));
                    }
                    if self.io.read != 0 {
                        // The socket may hold more; an edge-triggered poll will not
                        // say so again, so the worker comes back next turn.
                        return Ok((completed, Turn::Again));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok((completed, Turn::Wait))
                }
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
mod tests;
