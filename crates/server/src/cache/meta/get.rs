//! `mg`: a lookup with the flags' side effects (bump, touch, vivify, recache and the win
//! token), the reply's flags, and a value on disk that parks the session.

use crate::cache::state::{Cx, State};
use crate::cache::stats::unix_now;
use crate::cache::tier::Expect;
use crate::cache::value::{queue_value, Pinned};
use crate::cache::waiting::{Then, Waiting};
use crate::runtime::{bump, Reply, Verdict};
use protocol::meta::{self, Facts, MetaError, Request, Status};
use protocol::text;
use store::{MetaRead, RELATIVE_MAX};

/// `mg`; a value on disk parks the session (the verdict returned).
pub(super) fn get(
    req: &Request<'_>,
    consumed: usize,
    reply: &mut Reply<'_, Pinned>,
    state: &mut State,
    cx: &Cx<'_>,
) -> Option<Verdict> {
    let cache = cx.service();
    let counters = cache.counters(cx.worker());
    let f = &req.flags;
    let read = MetaRead {
        bump: !f.no_bump,
        touch: f.set_ttl,
        vivify: f.vivify.map(|n| (n, f.new_cas)),
    };
    let found = cache.store.meta_get(req.key(), read);
    if req.opaque_too_long() {
        // memcached notices only while composing the reply: the lookup has counted.
        let counter = match found {
            Some(_) if f.set_ttl.is_some() => &counters.cmd_touch,
            _ => &counters.cmd_get,
        };
        bump(counter, 1);
        reply.line(MetaError::OpaqueTooLong.reply());
        return None;
    }
    let Some((item, created)) = found else {
        bump(&counters.cmd_get, 1);
        if !f.quiet {
            if f.key || f.opaque.is_some() {
                let facts = Facts {
                    key: Some(req.key()),
                    binary_key: f.base64,
                    ..Facts::default()
                };
                reply.compose(|o| meta::write_status(o, Status::Miss, f, &facts));
            } else {
                reply.line(text::EN);
            }
        }
        return None;
    };
    // memcached counts a hit with T as a touch.
    let counter = if f.set_ttl.is_some() {
        &counters.cmd_touch
    } else {
        &counters.cmd_get
    };
    bump(counter, 1);
    let ttl = item.ttl_remaining();
    let stale = item.is_stale();
    let claimed = !created && item.win_claimed();
    // A stale item, or one about to expire (R), offers its win token once.
    let recache = f
        .recache
        .is_some_and(|r| ttl != -1 && ttl < recache_window(r));
    let mut won = created;
    let mut already_won = claimed;
    if !created && !claimed && (stale || recache) {
        if cache.store.claim_win(&item) {
            won = true;
        } else {
            // Another client won between our read and our claim.
            already_won = true;
        }
    }
    let external = item.external();
    let value_len = external.map_or_else(|| item.value().len(), |e| e.value_len);
    let facts = Facts {
        size: Some(value_len),
        ttl: Some(ttl),
        cas: Some(item.cas()),
        client_flags: Some(item.flags()),
        last_access: Some(item.last_access_ago()),
        hit_before: Some(item.fetched_before()),
        key: Some(req.key()),
        binary_key: f.base64,
        already_won,
        stale,
        won,
    };
    if !f.value {
        reply.compose(|o| meta::write_status(o, Status::Stored, f, &facts));
        return None;
    }
    let Some(ext) = external else {
        // `VA <len> <flags>\r\n<data>\r\n`.
        queue_value(reply, item, b"\r\n", |o, _| {
            meta::write_status(o, Status::Value(value_len), f, &facts)
        });
        return None;
    };
    // The value is on disk: the reply waits for it; if it cannot be read, the client
    // gets what a miss gets. Over UDP it is a miss at once, as in memcached.
    let mut miss = Vec::new();
    if !f.quiet {
        if f.key || f.opaque.is_some() {
            let facts = Facts {
                key: Some(req.key()),
                binary_key: f.base64,
                ..Facts::default()
            };
            meta::write_status(&mut miss, Status::Miss, f, &facts);
        } else {
            miss.extend_from_slice(text::EN);
        }
    }
    let (Some(tier), Some(ticket)) = (cache.tier.as_ref(), cx.ticket()) else {
        reply.line(&miss);
        return None;
    };
    let mut head = Vec::new();
    meta::write_status(&mut head, Status::Value(value_len), f, &facts);
    let mut waiting = Waiting::new(Then::Done);
    let expect = Expect::of(&item, ext);
    if let Err(miss) = waiting.push_disk(tier, ticket, req.key(), ext, expect, head, miss, b"\r\n")
    {
        // No read buffer free (`get_oom_extstore`): a miss, as memcached answers.
        reply.line(&miss);
        return None;
    }
    *state = State::Disk(Box::new(waiting));
    Some(Verdict::Park { consumed })
}

/// `R<n>` as memcached compares it: an exptime, so beyond 30 days an absolute time.
fn recache_window(r: i64) -> i64 {
    if r > RELATIVE_MAX {
        r - unix_now() as i64
    } else {
        r
    }
}
