//! A line memcached rejects: its error reply with memcached's precedence, and what it
//! still does for it (the lookups of a rejected multi-get are counted, a rejected
//! `flush_all` still counts as a flush).

use crate::cache::detail::Event;
use crate::cache::state::Cx;
use crate::runtime::bump;
use protocol::text;

/// memcached's answer to a line it rejects, with its precedence: `-A` is checked before
/// the shutdown mode, and `-F` before the flush delay.
pub(super) fn refusal(
    error: text::ProtocolError,
    attempted: text::Attempt<'_>,
    cx: &Cx<'_>,
) -> &'static [u8] {
    let config = cx.config();
    if error == text::ProtocolError::InvalidShutdownMode && !config.allow_shutdown {
        text::SHUTDOWN_NOT_ENABLED
    } else if attempted == text::Attempt::Flush
        && !config.flush_enabled
        && error != text::ProtocolError::Silenced
    {
        text::CLIENT_ERROR_FLUSH_NOT_ALLOWED
    } else {
        error.reply()
    }
}

/// What memcached still does for a line it rejects (see [`text::Attempt`]): the
/// lookups' values are dropped at once, only their counters remain.
pub(super) fn side_effects(attempt: text::Attempt<'_>, cx: &Cx<'_>) {
    let cache = cx.service();
    let counters = cache.counters(cx.worker());
    match attempt {
        text::Attempt::Nothing => {}
        text::Attempt::Flush => bump(&counters.cmd_flush, 1),
        text::Attempt::Lookups { touch, keys } => {
            for key in keys {
                let hit = match touch {
                    Some(exptime) => {
                        bump(&counters.cmd_touch, 1);
                        cache.store.get_and_touch(key, exptime).is_some()
                    }
                    None => {
                        bump(&counters.cmd_get, 1);
                        cache.store.get(key).is_some()
                    }
                };
                cache.stats.detail.record(key, Event::Get { hit });
            }
        }
    }
}
