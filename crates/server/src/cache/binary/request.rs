//! A request's fields as memcached reads them against the store: its expiry, and
//! whether the CAS it names conflicts with the live item.

use crate::cache::state::Cx;
use protocol::binary::Request;

/// The expiry as memcached reads it: an unsigned 32-bit number of seconds (relative up
/// to 30 days, else absolute), never negative.
pub(super) fn exptime(e: u32) -> i64 {
    i64::from(e)
}

/// The CAS a request must match, if it names one, checked against the live item. The
/// store has no compare for append, prepend, delete or incr, so this compares just
/// before the operation; memcached compares under its item lock.
pub(super) fn cas_conflict(cx: &Cx<'_>, r: &Request<'_>) -> bool {
    r.cas != 0
        && cx
            .service()
            .store
            .peek(r.key)
            .is_some_and(|item| item.cas() != r.cas)
}
