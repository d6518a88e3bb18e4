//! One request forwarded whole: to its key's server, or (failover) to the next server
//! when one fails or misses, or (replication) to every server at once. The reply goes to
//! the client as the backend wrote it (text, meta), or translated ([`BinaryReply`]).
//!
//! Failover keeps a copy of the request to send it again; it judges an attempt by its
//! first reply unit (a `SERVER_ERROR`, or a miss when `on_miss`, moves on), so once an
//! attempt's reply starts flowing to the client it is final. Replication holds the first
//! server's reply until every server has answered, then sends it, or the first failure
//! if any server failed, so that "stored" means stored everywhere.

use std::collections::VecDeque;

use super::backend::server_error;
use super::binary_reply::BinaryReply;
use super::chunk::{Chunk, ChunkPool};
use super::link::Expect;
use super::message::{Failure, Piece, Unit};
use crate::pool::ServerRef;
use crate::route::{Delivery, Targets};

/// How the backend's reply reaches the client.
pub enum Format {
    /// As it is (text and meta clients: the backend speaks their protocol).
    Verbatim {
        /// What a failed read answers when the pool turns failures into misses
        /// (`END` for a text retrieval); `None`: the failure's `SERVER_ERROR`.
        miss: Option<&'static [u8]>,
    },
    /// Translated from meta; `miss`: a failed read answers as a miss.
    Binary { reply: Box<BinaryReply>, miss: bool },
}

/// What the client must do after a slot took a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    Nothing,
    /// Send the kept request to `server` as part `sub`.
    Resend {
        server: ServerRef,
        sub: u16,
    },
}

/// A request forwarded whole.
pub struct Forward {
    pub format: Format,
    pub delivery: Delivery,
    pub targets: Targets,
    pub expect: Expect,
    /// The attempt whose reply counts (failover).
    pub attempt: u16,
    /// The request, kept to try the next server (failover with servers left).
    pub request: Option<Vec<u8>>,
    /// Replies of parts not yet complete (replication).
    pub waiting: u16,
    /// The current attempt's reply was accepted: it streams to the client.
    judged: bool,
    /// The current attempt failed or missed: its reply is dropped, then the next server
    /// is tried.
    skipping: bool,
    /// Replication: the first server's reply, held until all have answered.
    primary: Vec<Piece>,
    /// Replication: the first failure seen (a reply line, or a proxy error line).
    failure: Option<Vec<u8>>,
}

impl Forward {
    pub fn new(format: Format, delivery: Delivery, targets: Targets, expect: Expect) -> Forward {
        let waiting = match delivery {
            Delivery::All => targets.len() as u16,
            Delivery::InOrder { .. } => 1,
        };
        Forward {
            format,
            delivery,
            targets,
            expect,
            attempt: 0,
            request: None,
            waiting,
            judged: false,
            skipping: false,
            primary: Vec::new(),
            failure: None,
        }
    }

    /// Whether another server may be tried after this attempt.
    fn can_retry(&self) -> bool {
        self.request.is_some() && usize::from(self.attempt) + 1 < self.targets.len()
    }

    fn retry(&mut self) -> After {
        self.attempt += 1;
        self.judged = false;
        self.skipping = false;
        After::Resend {
            server: self.targets[usize::from(self.attempt)],
            sub: self.attempt,
        }
    }

    /// Takes a piece of part `piece.sub`'s reply; queues the client's bytes in `out`;
    /// sets `done` once the reply is complete.
    pub fn on_piece(
        &mut self,
        piece: Piece,
        out: &mut VecDeque<Chunk>,
        done: &mut bool,
        pool: &ChunkPool,
    ) -> After {
        match self.delivery {
            Delivery::All => {
                let last = piece.last;
                if piece.sub == 0 {
                    self.primary.push(piece);
                } else if piece.unit == Unit::Error && self.failure.is_none() {
                    self.failure = Some(piece.bytes);
                }
                if last {
                    self.part_done(out, done, pool);
                }
                After::Nothing
            }
            Delivery::InOrder { on_miss } => {
                if piece.sub != self.attempt {
                    // An abandoned attempt's straggler.
                    return After::Nothing;
                }
                if self.skipping {
                    return if piece.last {
                        self.retry()
                    } else {
                        After::Nothing
                    };
                }
                if !self.judged && piece.head > 0 && self.can_retry() {
                    let failed = piece.unit == Unit::Error && server_error(&piece.bytes);
                    if failed || (on_miss && self.missed(&piece)) {
                        if piece.last {
                            return self.retry();
                        }
                        // Drop the rest of this attempt's reply, then move on.
                        self.skipping = true;
                        return After::Nothing;
                    }
                }
                self.judged = true;
                let last = piece.last;
                self.emit(piece, out, pool);
                if last {
                    *done = true;
                }
                After::Nothing
            }
        }
    }

    /// Part `sub` will get no reply.
    pub fn on_failed(
        &mut self,
        sub: u16,
        why: Failure,
        out: &mut VecDeque<Chunk>,
        done: &mut bool,
        pool: &ChunkPool,
    ) -> After {
        match self.delivery {
            Delivery::All => {
                if self.failure.is_none() {
                    self.failure = Some(why.line().to_vec());
                }
                self.part_done(out, done, pool);
                After::Nothing
            }
            Delivery::InOrder { .. } => {
                if sub != self.attempt {
                    return After::Nothing;
                }
                if self.skipping {
                    return self.retry();
                }
                if self.judged {
                    // The reply broke off after part of it went to the client: the
                    // client's stream cannot be mended; the client closes (see
                    // `client`).
                    *done = true;
                    return After::Nothing;
                }
                if self.can_retry() {
                    return self.retry();
                }
                self.fail(why, out, pool);
                *done = true;
                After::Nothing
            }
        }
    }

    /// Whether a reply broke off midway (the client must be closed).
    pub fn broken(&self, sub: u16) -> bool {
        matches!(self.delivery, Delivery::InOrder { .. }) && sub == self.attempt && self.judged
    }

    /// A replica answered completely.
    fn part_done(&mut self, out: &mut VecDeque<Chunk>, done: &mut bool, pool: &ChunkPool) {
        self.waiting = self.waiting.saturating_sub(1);
        if self.waiting > 0 {
            return;
        }
        match self.failure.take() {
            Some(line) => {
                let failure = Piece {
                    head: line.len() as u32,
                    bytes: line,
                    seq: 0,
                    sub: 0,
                    from: server::runtime::ConnId::new(0, 0),
                    link: 0,
                    trailer: 0,
                    unit: Unit::Error,
                    unit_end: true,
                    last: true,
                };
                self.primary.clear();
                self.emit(failure, out, pool);
            }
            None => {
                for piece in std::mem::take(&mut self.primary) {
                    self.emit(piece, out, pool);
                }
            }
        }
        *done = true;
    }

    /// Whether the first unit of a reply says the key is not there.
    fn missed(&self, piece: &Piece) -> bool {
        match self.expect {
            Expect::Retrieval => piece.unit == Unit::End,
            Expect::Meta => piece.bytes.starts_with(b"EN"),
            _ => false,
        }
    }

    fn emit(&mut self, piece: Piece, out: &mut VecDeque<Chunk>, pool: &ChunkPool) {
        match &mut self.format {
            Format::Verbatim { .. } => {
                if !piece.bytes.is_empty() {
                    out.push_back(pool.chunk(piece.bytes, 0));
                }
            }
            Format::Binary { reply, .. } => reply.translate(piece, out, pool),
        }
    }

    fn fail(&mut self, why: Failure, out: &mut VecDeque<Chunk>, pool: &ChunkPool) {
        match &mut self.format {
            Format::Verbatim { miss } => {
                let line = miss.unwrap_or(why.line());
                let mut buf = pool.take();
                buf.extend_from_slice(line);
                out.push_back(pool.chunk(buf, 0));
            }
            Format::Binary { reply, miss } => reply.failed(why, *miss, out, pool),
        }
    }
}
