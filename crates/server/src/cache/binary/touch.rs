//! TOUCH, GAT, GATK and their quiet forms: a new expiry, and for the GATs the item as a
//! GET returns it (a value on disk parks the session).

use super::request::exptime;
use super::response::Out;
use crate::cache::detail::Event;
use crate::cache::state::{Cx, State};
use crate::runtime::{bump, Verdict};
use protocol::binary::{Extras, Request};

/// TOUCH, GAT, GATK (and quiet): memcached counts all of them as touches. A GAT of a
/// value on disk parks the session (the verdict returned).
#[allow(clippy::too_many_arguments)]
pub(super) fn touch(
    r: &Request<'_>,
    with_key: bool,
    with_value: bool,
    quiet: bool,
    consumed: usize,
    out: &mut Out<'_, '_>,
    state: &mut State,
    cx: &Cx<'_>,
) -> Option<Verdict> {
    let cache = cx.service();
    let e = match r.extras {
        Extras::Expiry(e) => exptime(e),
        _ => 0,
    };
    bump(&cache.counters(cx.worker()).cmd_touch, 1);
    let item = cache.store.get_and_touch(r.key, e);
    cache.stats.detail.record(
        r.key,
        Event::Get {
            hit: item.is_some(),
        },
    );
    match item {
        Some(item) => match item.external().filter(|_| with_value) {
            Some(ext) => {
                let verdict = out.disk_item(r, &item, ext, with_key, quiet, consumed, state, cx);
                return Some(verdict);
            }
            None => out.item(r, item, with_key, with_value),
        },
        None if quiet => {}
        None => out.miss(r, with_key),
    }
    None
}
