//! Where a session stands: one enum instead of a handful of booleans.
//!
//! ```text
//!            output >= high watermark            completion: verdict not Park
//!   Active ─────────────────────────> Backpressured     Parked ──────────────> Active
//!     │  <───────────────────────────                    ^  │
//!     │       output <= low watermark                    │  └─ hang-up, idle timeout,
//!     │ verdict Park ────────────────────────────────────┘     drain deadline: closed
//!     │
//!     │ verdict Close/Broken, end of input        shutdown (Active, Backpressured;
//!     v                                            Parked once resumed)
//!   Closing { linger: false } ── output written ──> closed
//!   Closing { linger: true }  ── output written ──> Lingering ── peer closes ──> closed
//! ```
//!
//! docs/server.md lists every transition with its trigger.

/// Why a session closed (memcached's `close_reasons`, which `watch connevents` reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// A read or write failed, or the input made no sense (memcached closes).
    Error,
    /// The client hung up, or asked to (`quit`).
    Normal,
    /// `-o idle_timeout` closed it.
    IdleTimeout,
    /// The server is shutting down.
    Shutdown,
}

/// The lifecycle of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Reading and answering requests.
    Active,
    /// Unsent output reached the high watermark: nothing is read until it drains below
    /// the low one, so a client that does not read cannot grow memory.
    Backpressured,
    /// The handler waits for a completion: nothing more is parsed (the replies before
    /// the parked request are queued already, so order holds). Readiness events are
    /// still taken, so queued output keeps flowing and a hang-up is seen.
    Parked,
    /// No new request is read; what is queued is written (and a reply already begun,
    /// such as a multi-get paused at the watermark, is finished). Then the session
    /// closes, or, at shutdown (`linger`), lingers.
    Closing {
        /// Shutdown: half-close and discard input instead of closing outright.
        linger: bool,
    },
    /// Shutdown, every reply written: the write side is shut and what the client still
    /// sends is read and dropped until it closes (closing with unread input would make
    /// the kernel reset the connection and lose replies still in flight).
    Lingering,
}

impl Life {
    /// What shutdown makes of this state.
    pub(crate) fn at_shutdown(self) -> Life {
        match self {
            Life::Active | Life::Backpressured => Life::Closing { linger: true },
            // Parked sessions finish their request first (or the drain deadline closes
            // them); closing and lingering ones are on their way out already.
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_drains_active_sessions_and_leaves_parked_ones_to_finish() {
        assert_eq!(Life::Active.at_shutdown(), Life::Closing { linger: true });
        assert_eq!(
            Life::Backpressured.at_shutdown(),
            Life::Closing { linger: true }
        );
        assert_eq!(Life::Parked.at_shutdown(), Life::Parked);
        assert_eq!(
            Life::Closing { linger: false }.at_shutdown(),
            Life::Closing { linger: false }
        );
        assert_eq!(Life::Lingering.at_shutdown(), Life::Lingering);
    }
}
