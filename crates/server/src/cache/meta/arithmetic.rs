//! `ma`: incr/decr with its flags (delta, initial value, vivify, CAS, TTL); a number on
//! disk parks the session until it is back in RAM.

use crate::cache::state::{Cx, State};
use crate::cache::value::Pinned;
use crate::runtime::{Reply, Verdict};
use protocol::meta::{self, Facts, MetaError, Mode, Request, Status};
use protocol::text;
use std::io::Write as _;
use store::{MetaDelta, MetaDeltaOutcome};

/// `ma`; a number on disk parks the session until it is back in RAM (the verdict).
pub(super) fn arithmetic(
    req: &Request<'_>,
    reply: &mut Reply<'_, Pinned>,
    state: &mut State,
    cx: &Cx<'_>,
) -> Option<Verdict> {
    let f = &req.flags;
    let m = MetaDelta {
        incr: f.mode.and_then(Mode::arithmetic) != Some(Mode::Decr),
        delta: f.delta.unwrap_or(1),
        compare_cas: f.compare_cas,
        new_cas: f.new_cas,
        exptime: f.set_ttl,
        vivify: f.vivify.map(|n| (n, f.initial.unwrap_or(0))),
    };
    let mut facts = Facts {
        key: Some(req.key()),
        binary_key: f.base64,
        ..Facts::default()
    };
    let outcome = cx.service().store.meta_delta(req.key(), m);
    if let MetaDeltaOutcome::OnDisk(ext) = outcome {
        if let Some(parked) = state.park_recache(req.key(), ext, cx) {
            return Some(parked);
        }
    }
    if req.opaque_too_long()
        && !matches!(
            outcome,
            MetaDeltaOutcome::NonNumeric | MetaDeltaOutcome::NoMemory
        )
    {
        // memcached notices only while composing the reply, after the arithmetic.
        reply.line(MetaError::OpaqueTooLong.reply());
        return None;
    }
    let status = match outcome {
        MetaDeltaOutcome::Value {
            value, cas, ttl, ..
        } => {
            if f.quiet {
                return None;
            }
            facts.cas = Some(cas);
            facts.ttl = Some(ttl);
            if f.value {
                let digits = value.checked_ilog10().map_or(1, |d| d as usize + 1);
                reply.compose(|o| {
                    meta::write_status(o, Status::Value(digits), f, &facts);
                    // Writing to a Vec cannot fail.
                    let _ = write!(o, "{value}\r\n");
                });
                return None;
            }
            Status::Stored
        }
        MetaDeltaOutcome::NotFound => Status::NotFound,
        MetaDeltaOutcome::Exists => Status::Exists,
        // memcached's answer for a number on disk, when it cannot be read back first.
        MetaDeltaOutcome::NonNumeric | MetaDeltaOutcome::OnDisk(_) => {
            reply.line(text::CLIENT_ERROR_NON_NUMERIC);
            return None;
        }
        MetaDeltaOutcome::NoMemory => {
            reply.line(text::SERVER_ERROR_OUT_OF_MEMORY);
            return None;
        }
    };
    reply.compose(|o| meta::write_status(o, status, f, &facts));
    None
}
