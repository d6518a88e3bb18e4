//! Bad request lines and the exact bytes memcached answers them with.

use super::reply;

/// A request line memcached rejects. The server replies with [`ProtocolError::reply`],
/// drops the line and carries on; no data block is swallowed after any of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Unknown command, or a known one with the wrong number of tokens: `ERROR`.
    #[error("unknown command or wrong number of arguments")]
    UnknownCommand,
    /// `CLIENT_ERROR bad command line format`: a key over 250 bytes, a bad number.
    #[error("bad command line format")]
    BadFormat,
    /// `delete` with extra tokens other than memcached's legacy `0`.
    #[error("bad delete command line")]
    BadDeleteFormat,
    /// `CLIENT_ERROR invalid exptime argument` (`touch`, `gat`, `flush_all`).
    #[error("invalid exptime argument")]
    InvalidExptime,
    /// `CLIENT_ERROR invalid numeric delta argument` (`incr`, `decr`).
    #[error("invalid numeric delta argument")]
    InvalidDelta,
    /// `shutdown` with an argument other than `graceful`. memcached checks `-A`
    /// first: without it the server must answer
    /// [`SHUTDOWN_NOT_ENABLED`](reply::SHUTDOWN_NOT_ENABLED) instead of this reply.
    #[error("invalid shutdown mode")]
    InvalidShutdownMode,
    /// A bad line that ended in `noreply`: memcached detects the error and sends
    /// nothing. The reply is empty.
    #[error("bad command line with noreply")]
    Silenced,
}

impl ProtocolError {
    /// The exact bytes memcached 1.6 sends for this error, `\r\n` included
    /// (empty for [`ProtocolError::Silenced`]).
    pub fn reply(&self) -> &'static [u8] {
        match self {
            ProtocolError::UnknownCommand => reply::ERROR,
            ProtocolError::BadFormat => reply::CLIENT_ERROR_BAD_FORMAT,
            ProtocolError::BadDeleteFormat => reply::CLIENT_ERROR_DELETE_USAGE,
            ProtocolError::InvalidExptime => reply::CLIENT_ERROR_INVALID_EXPTIME,
            ProtocolError::InvalidDelta => reply::CLIENT_ERROR_INVALID_DELTA,
            ProtocolError::InvalidShutdownMode => reply::CLIENT_ERROR_INVALID_SHUTDOWN_MODE,
            ProtocolError::Silenced => b"",
        }
    }
}
