//! What the proxy's sessions of one worker tell each other (the runtime's worker-local
//! completions): clients hand requests to backend connections through the worker's
//! state and [`Message::Kick`] them; backend connections hand replies back to clients
//! in [`Piece`]s, or say why there will be none ([`Message::Failed`]).

use server::runtime::ConnId;

/// A session-to-session message (the runtime's `Completion`).
pub enum Message {
    /// To a backend connection: requests wait in its outgoing buffer (or a client
    /// waits for room in it).
    Kick,
    /// To a backend connection: the client that made it stop reading (its output was
    /// full) has drained; read again.
    Unpause,
    /// To a backend connection: a client left in the middle of streaming a value
    /// through it; the backend would wait for the rest forever, so close.
    Abort,
    /// To a client: part of a reply.
    Piece(Piece),
    /// To a client: request `seq` (part `sub`) will get no reply from the backend.
    Failed { seq: u32, sub: u16, why: Failure },
    /// To a client: a backend connection it waited for has room again (or finished the
    /// value another client was streaming through it); try the waiting request again.
    Room,
}

/// What kind of reply unit a [`Piece`] belongs to, as the backend connection read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A value: a text `VALUE` block or a meta `VA` (head, data, "\r\n").
    Value,
    /// The `END` closing a text retrieval.
    End,
    /// An error line (`ERROR`, `CLIENT_ERROR ...`, `SERVER_ERROR ...`).
    Error,
    /// Any other reply line (`STORED`, `HD ...`, `EN`, a number ...).
    Line,
}

/// Part of one reply, copied out of a backend connection's read buffer.
pub struct Piece {
    /// The client's request this answers.
    pub seq: u32,
    /// Which part of the request: the backend's share of a multi-get, a replica, a
    /// failover attempt, a server of a broadcast.
    pub sub: u16,
    /// The backend connection it came from, and its link's key in the worker's state
    /// (to stop it reading while the client's output is full).
    pub from: ConnId,
    pub link: usize,
    /// The bytes, forwarded as they are (a pooled buffer).
    pub bytes: Vec<u8>,
    /// The unit's head (reply line) opens `bytes`, and is this long; 0 when `bytes`
    /// carries more data of a value begun in an earlier piece.
    pub head: u32,
    /// `bytes` ends with this many bytes of the "\r\n" closing a value (never split
    /// across pieces).
    pub trailer: u8,
    pub unit: Unit,
    /// This piece ends its unit.
    pub unit_end: bool,
    /// This piece ends the reply to the request (part).
    pub last: bool,
}

/// Why a request got no reply from its backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No reply within the pool's `timeout`.
    Timeout,
    /// The connection could not be made.
    Connect,
    /// The connection closed or broke before the reply came.
    Closed,
    /// The backend sent bytes no memcached would send; the connection was dropped.
    Protocol,
    /// The server is ejected, or no server of the pool is up.
    Down,
}

impl Failure {
    /// The text after `SERVER_ERROR ` that a text or meta client gets (docs/proxy.md
    /// lists them): the words nutcracker uses where it has an equivalent.
    pub fn message(self) -> &'static [u8] {
        match self {
            Failure::Timeout => b"Connection timed out",
            Failure::Connect => b"Connection refused",
            Failure::Closed => b"Connection reset by peer",
            Failure::Protocol => b"Protocol error",
            Failure::Down => b"Host is down",
        }
    }

    /// The whole reply line.
    pub fn line(self) -> &'static [u8] {
        match self {
            Failure::Timeout => b"SERVER_ERROR Connection timed out\r\n",
            Failure::Connect => b"SERVER_ERROR Connection refused\r\n",
            Failure::Closed => b"SERVER_ERROR Connection reset by peer\r\n",
            Failure::Protocol => b"SERVER_ERROR Protocol error\r\n",
            Failure::Down => b"SERVER_ERROR Host is down\r\n",
        }
    }
}

/// Who waits for a backend reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sink {
    /// A client's request (part).
    Client { id: ConnId, seq: u32, sub: u16 },
    /// Nobody: a shadow copy, or a reply the proxy drops.
    Drop,
    /// The proxy's own health probe.
    Probe,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_carry_their_message() {
        for f in [
            Failure::Timeout,
            Failure::Connect,
            Failure::Closed,
            Failure::Protocol,
            Failure::Down,
        ] {
            let mut want = b"SERVER_ERROR ".to_vec();
            want.extend_from_slice(f.message());
            want.extend_from_slice(b"\r\n");
            assert_eq!(f.line(), &want[..]);
        }
    }
}
