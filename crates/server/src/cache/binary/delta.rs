//! INCREMENT and DECREMENT: CAS compared, the item created with the initial value on a
//! miss (unless the expiry says not to), a number on disk read back first.

use super::request::{cas_conflict, exptime};
use super::response::Out;
use crate::cache::state::{Cx, State};
use crate::runtime::Verdict;
use protocol::binary::{Extras, Request, Status};
use store::{DeltaOutcome, StoreMode, StoreOutcome};

/// INCREMENT / DECREMENT: on a miss, creates the item with `initial` unless the expiry
/// is 0xffffffff.
pub(super) fn delta(
    r: &Request<'_>,
    incr: bool,
    quiet: bool,
    out: &mut Out<'_, '_>,
    state: &mut State,
    cx: &Cx<'_>,
) -> Option<Verdict> {
    let store = cx.service().store;
    let Extras::Delta {
        delta,
        initial,
        exptime: e,
    } = r.extras
    else {
        out.error(r.opcode, Status::InvalidArguments, r.opaque);
        return None;
    };
    if cas_conflict(cx, r) {
        out.error(r.opcode, Status::KeyExists, r.opaque);
        return None;
    }
    // A miss that creates the item is not an incr miss in memcached's counters; looking
    // first keeps the store from counting one.
    let create = e != u32::MAX && store.peek(r.key).is_none();
    let outcome = if create {
        DeltaOutcome::NotFound
    } else {
        store.delta(r.key, delta, incr)
    };
    let status = match outcome {
        DeltaOutcome::Value { value, cas } => Ok((value, cas)),
        DeltaOutcome::OnDisk(ext) => match state.park_recache(r.key, ext, cx) {
            // A number on disk: read back first, then run again.
            Some(parked) => return Some(parked),
            None => Err(Status::NonNumeric),
        },
        DeltaOutcome::NonNumeric => Err(Status::NonNumeric),
        DeltaOutcome::NotFound if e == u32::MAX => Err(Status::KeyNotFound),
        DeltaOutcome::NotFound => {
            let mut digits = itoa::Buffer::new();
            let text = digits.format(initial).as_bytes();
            match store.store(StoreMode::Add, r.key, text, 0, exptime(e)) {
                Ok(StoreOutcome::Stored { cas }) => Ok((initial, cas)),
                Ok(_) => Err(Status::NotStored),
                Err(_) => Err(Status::OutOfMemory),
            }
        }
    };
    match status {
        Ok((value, cas)) => {
            if !quiet {
                out.success(r.opcode, r.opaque, cas, &value.to_be_bytes());
            }
        }
        Err(status) => out.error(r.opcode, status, r.opaque),
    }
    None
}
