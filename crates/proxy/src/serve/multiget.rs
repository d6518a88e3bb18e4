//! A text multi-get (`get`, `gets`, `gat`, `gats` with keys on several servers): one
//! part per server with that server's keys in request order, sent in parallel, and the
//! replies reassembled in the client's key order, as one memcached would have answered.
//!
//! ```text
//!   get a b c d        ->  server 1: get a c      server 2: get b d
//!   VALUE a .. VALUE c .. END                     VALUE d .. END      (b missed)
//!   to the client:  VALUE a, VALUE c, VALUE d, END   (key order: a b c d)
//! ```
//!
//! Each server answers its part's hits in its part's order, so a part's reply is read
//! with a cursor over its keys: a `VALUE` for a later key means the keys before it
//! missed, `END` means the rest missed. A key's value is passed on as soon as every key
//! before it is settled, in pieces if it is large. A part that fails (connection lost,
//! timeout, `SERVER_ERROR`) makes only its own keys misses, or, when the pool says
//! `read_errors = "error"`, turns the whole reply into the failure's `SERVER_ERROR`.

use std::collections::VecDeque;

use protocol::client::Parsed;
use protocol::text;

use super::chunk::{Chunk, ChunkPool};
use super::message::{Failure, Piece, Unit};

/// What is known of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyState {
    Waiting,
    Miss,
    Hit { complete: bool },
}

/// One key of the request.
struct Key {
    /// Where it lies in `MultiGet::line`.
    start: usize,
    len: usize,
    /// The part it was sent in.
    part: u16,
    state: KeyState,
    /// Its value block, or the pieces of it received so far.
    chunks: VecDeque<Chunk>,
}

/// One part: the keys sent to one server.
#[derive(Default)]
struct Part {
    /// The next key (index into `keys`) that may belong to this part.
    cursor: usize,
    /// The key whose value is arriving in pieces.
    current: Option<usize>,
    done: bool,
}

/// A multi-get in flight.
pub struct MultiGet {
    /// The command (`get`, `gets`, `gat 60`, `gats 60`), then the keys, space-separated.
    line: Vec<u8>,
    command_len: usize,
    keys: Vec<Key>,
    parts: Vec<Part>,
    /// Next key to pass on.
    next: usize,
    /// `read_errors = "error"`: a failed part fails the whole reply.
    errors_fail_all: bool,
    failure: Option<Vec<u8>>,
    /// Keys turned into misses because their part failed.
    pub failed_keys: u64,
    /// A value broke off after part of it went to the client: the client's stream
    /// cannot be mended.
    pub broken: bool,
}

impl MultiGet {
    /// A multi-get of `command` (`get`, `gets`, or `gat <exptime>`...).
    pub fn new(command: &[u8], mut line: Vec<u8>, errors_fail_all: bool) -> MultiGet {
        line.clear();
        line.extend_from_slice(command);
        MultiGet {
            command_len: command.len(),
            line,
            keys: Vec::new(),
            parts: Vec::new(),
            next: 0,
            errors_fail_all,
            failure: None,
            failed_keys: 0,
            broken: false,
        }
    }

    /// Adds the next key of the request, sent in part `part`.
    pub fn add_key(&mut self, key: &[u8], part: u16) {
        self.line.push(b' ');
        let start = self.line.len();
        self.line.extend_from_slice(key);
        self.keys.push(Key {
            start,
            len: key.len(),
            part,
            state: KeyState::Waiting,
            chunks: VecDeque::new(),
        });
        while self.parts.len() <= usize::from(part) {
            self.parts.push(Part::default());
        }
    }

    /// A key that no server was asked for (its pool has no server up): a miss, or the
    /// failure.
    pub fn add_refused(&mut self, key: &[u8], why: Failure) {
        self.line.push(b' ');
        let start = self.line.len();
        self.line.extend_from_slice(key);
        self.keys.push(Key {
            start,
            len: key.len(),
            part: u16::MAX,
            state: KeyState::Miss,
            chunks: VecDeque::new(),
        });
        self.failed_keys += 1;
        if self.errors_fail_all && self.failure.is_none() {
            self.failure = Some(why.line().to_vec());
        }
    }

    /// How many parts there are.
    #[cfg(test)]
    pub fn parts(&self) -> usize {
        self.parts.len()
    }

    /// Writes part `part`'s request line into `out`.
    pub fn write_part(&self, part: u16, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.line[..self.command_len]);
        for key in self.keys.iter().filter(|k| k.part == part) {
            out.push(b' ');
            out.extend_from_slice(&self.line[key.start..key.start + key.len]);
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The next key of `part` at or after the part's cursor.
    fn next_of(&self, part: u16) -> Option<usize> {
        let from = self.parts[usize::from(part)].cursor;
        (from..self.keys.len()).find(|&i| self.keys[i].part == part)
    }

    fn key(&self, i: usize) -> &[u8] {
        let k = &self.keys[i];
        &self.line[k.start..k.start + k.len]
    }

    /// Takes a piece of a part's reply.
    pub fn on_piece(&mut self, piece: Piece, pool: &ChunkPool) {
        let Some(part) = self.parts.get_mut(usize::from(piece.sub)) else {
            return;
        };
        if piece.head == 0 {
            if let Some(k) = part.current {
                if piece.unit_end {
                    part.current = None;
                }
                let key = &mut self.keys[k];
                key.chunks.push_back(pool.chunk(piece.bytes, 0));
                if piece.unit_end {
                    key.state = KeyState::Hit { complete: true };
                }
            }
            return;
        }
        match piece.unit {
            Unit::Value => {
                let named = value_key(&piece.bytes[..piece.head as usize]);
                // Keys of this part before the one the value names missed.
                loop {
                    let Some(k) = self.next_of(piece.sub) else {
                        // A value for a key this part never asked for: drop it.
                        return;
                    };
                    self.parts[usize::from(piece.sub)].cursor = k + 1;
                    if Some(self.key(k)) == named {
                        let key = &mut self.keys[k];
                        key.state = KeyState::Hit {
                            complete: piece.unit_end,
                        };
                        key.chunks.push_back(pool.chunk(piece.bytes, 0));
                        if !piece.unit_end {
                            self.parts[usize::from(piece.sub)].current = Some(k);
                        }
                        return;
                    }
                    self.keys[k].state = KeyState::Miss;
                }
            }
            Unit::End => self.settle(piece.sub, None),
            // A SERVER_ERROR (or anything but values and END) ends the part.
            Unit::Error | Unit::Line => {
                let line = piece.bytes;
                self.settle(piece.sub, Some(line));
            }
        }
    }

    /// Part `part` will get no (more) reply.
    pub fn on_failed(&mut self, part: u16, why: Failure) {
        if let Some(p) = self.parts.get(usize::from(part)) {
            if p.current.is_some() {
                self.broken = true;
            }
            if !p.done {
                self.settle(part, Some(why.line().to_vec()));
            }
        }
    }

    /// The rest of `part`'s keys missed (`failure`: because the part failed).
    fn settle(&mut self, part: u16, failure: Option<Vec<u8>>) {
        let p = usize::from(part);
        for i in self.parts[p].cursor..self.keys.len() {
            if self.keys[i].part == part && self.keys[i].state == KeyState::Waiting {
                self.keys[i].state = KeyState::Miss;
                if failure.is_some() {
                    self.failed_keys += 1;
                }
            }
        }
        self.parts[p].cursor = self.keys.len();
        self.parts[p].current = None;
        self.parts[p].done = true;
        if let Some(line) = failure {
            if self.errors_fail_all && self.failure.is_none() {
                self.failure = Some(line);
            }
        }
    }

    /// Passes on what is settled, in key order; true once the whole reply is out.
    pub fn emit(&mut self, out: &mut VecDeque<Chunk>, pool: &ChunkPool) -> bool {
        let all_done = self.parts.iter().all(|p| p.done);
        if self.errors_fail_all {
            // Nothing may go out before it is known that no part failed.
            if !all_done {
                return false;
            }
            if let Some(line) = self.failure.take() {
                for key in &mut self.keys {
                    key.chunks.clear();
                }
                out.push_back(pool.chunk(line, 0));
                return true;
            }
        }
        while let Some(key) = self.keys.get_mut(self.next) {
            match key.state {
                KeyState::Waiting => return false,
                KeyState::Miss => self.next += 1,
                KeyState::Hit { complete } => {
                    out.extend(key.chunks.drain(..));
                    if !complete {
                        return false;
                    }
                    self.next += 1;
                }
            }
        }
        if !all_done {
            return false;
        }
        let mut end = pool.take();
        end.extend_from_slice(text::END);
        out.push_back(pool.chunk(end, 0));
        true
    }
}

/// The key a `VALUE` line names.
fn value_key(head: &[u8]) -> Option<&[u8]> {
    match text::client::parse(head) {
        Ok(Parsed::Reply {
            reply: text::client::Reply::Value { key, .. },
            ..
        }) => Some(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use channel::Payload;
    use server::runtime::ConnId;

    fn piece(sub: u16, bytes: &[u8], head: usize, unit: Unit, unit_end: bool) -> Piece {
        Piece {
            seq: 0,
            sub,
            from: ConnId::new(0, 0),
            link: 0,
            bytes: bytes.to_vec(),
            head: head as u32,
            trailer: 0,
            unit,
            unit_end,
            last: unit == Unit::End,
        }
    }

    fn value(sub: u16, key: &str, data: &str) -> Piece {
        let line = format!("VALUE {key} 0 {}\r\n", data.len());
        let bytes = format!("{line}{data}\r\n");
        piece(sub, bytes.as_bytes(), line.len(), Unit::Value, true)
    }

    fn end(sub: u16) -> Piece {
        piece(sub, b"END\r\n", 5, Unit::End, true)
    }

    fn split(keys: &[(&str, u16)], errors: bool) -> MultiGet {
        let mut m = MultiGet::new(b"get", Vec::new(), errors);
        for (k, p) in keys {
            m.add_key(k.as_bytes(), *p);
        }
        m
    }

    fn text(out: &VecDeque<Chunk>) -> String {
        out.iter()
            .map(|c| String::from_utf8_lossy(c.bytes()).into_owned())
            .collect()
    }

    #[test]
    fn parts_are_written_with_their_keys_in_order() {
        let m = split(&[("a", 0), ("b", 1), ("c", 0), ("d", 1)], false);
        let mut out = Vec::new();
        m.write_part(0, &mut out);
        m.write_part(1, &mut out);
        assert_eq!(out, b"get a c\r\nget b d\r\n");
        assert_eq!(m.parts(), 2);
    }

    #[test]
    fn replies_are_reassembled_in_key_order_with_misses_skipped() {
        let pool = ChunkPool::new();
        let mut m = split(&[("a", 0), ("b", 1), ("c", 0), ("d", 1), ("a", 0)], false);
        let mut out = VecDeque::new();
        m.on_piece(value(1, "d", "4"), &pool);
        assert!(!m.emit(&mut out, &pool));
        assert!(out.is_empty(), "a is not settled yet");
        m.on_piece(value(0, "a", "1"), &pool);
        m.on_piece(value(0, "a", "1b"), &pool);
        m.on_piece(end(0), &pool);
        assert!(!m.emit(&mut out, &pool));
        m.on_piece(end(1), &pool);
        assert!(m.emit(&mut out, &pool));
        assert_eq!(
            text(&out),
            "VALUE a 0 1\r\n1\r\nVALUE d 0 1\r\n4\r\nVALUE a 0 2\r\n1b\r\nEND\r\n"
        );
    }

    #[test]
    fn a_failed_part_misses_only_its_keys_or_fails_all() {
        let pool = ChunkPool::new();
        let mut m = split(&[("a", 0), ("b", 1)], false);
        m.on_failed(1, Failure::Timeout);
        m.on_piece(value(0, "a", "x"), &pool);
        m.on_piece(end(0), &pool);
        let mut out = VecDeque::new();
        assert!(m.emit(&mut out, &pool));
        assert_eq!(text(&out), "VALUE a 0 1\r\nx\r\nEND\r\n");
        assert_eq!(m.failed_keys, 1);

        let mut m = split(&[("a", 0), ("b", 1)], true);
        m.on_piece(value(0, "a", "x"), &pool);
        m.on_piece(end(0), &pool);
        let mut out = VecDeque::new();
        assert!(!m.emit(&mut out, &pool));
        m.on_failed(1, Failure::Timeout);
        assert!(m.emit(&mut out, &pool));
        assert_eq!(text(&out), "SERVER_ERROR Connection timed out\r\n");
    }

    #[test]
    fn large_values_pass_in_pieces_once_earlier_keys_settle() {
        let pool = ChunkPool::new();
        let mut m = split(&[("a", 0), ("b", 1)], false);
        m.on_piece(
            piece(1, b"VALUE b 0 6\r\nabc", 13, Unit::Value, false),
            &pool,
        );
        m.on_piece(piece(1, b"def\r\n", 0, Unit::Value, true), &pool);
        let mut out = VecDeque::new();
        m.on_piece(end(0), &pool);
        assert!(!m.emit(&mut out, &pool));
        assert_eq!(text(&out), "VALUE b 0 6\r\nabcdef\r\n");
        m.on_piece(end(1), &pool);
        assert!(m.emit(&mut out, &pool));
    }

    #[test]
    fn a_value_broken_off_marks_the_reply_broken() {
        let pool = ChunkPool::new();
        let mut m = split(&[("a", 0)], false);
        m.on_piece(
            piece(0, b"VALUE a 0 6\r\nabc", 13, Unit::Value, false),
            &pool,
        );
        m.on_failed(0, Failure::Closed);
        assert!(m.broken);
    }
}
