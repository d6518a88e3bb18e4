//! SET, ADD, REPLACE, APPEND, PREPEND (and quiet forms): the store mode the request's
//! kind and CAS ask for, its reservation (a refusal answered as memcached answers it),
//! a small value copied from the read buffer or a large one read into the reservation
//! by the session, then the commit ([`finish`]) and its response.

use super::request::{cas_conflict, exptime};
use super::response::Out;
use crate::cache::detail::Event;
use crate::cache::log::streams;
use crate::cache::log_writer::{self, Attempt};
use crate::cache::state::{BinaryCommit, Cx, Finish, State};
use crate::cache::value::{refuse, Pinned, Refused};
use crate::runtime::{bump, Reply, Verdict, BUFFER_SIZE};
use protocol::binary::{Extras, Request, Status, StoreKind};
use store::{Reservation, StoreMode, StoreOutcome};

/// Commits a value read into its reservation and answers.
pub(crate) fn finish(
    reservation: Reservation<'static>,
    commit: BinaryCommit,
    reply: &mut Reply<'_, Pinned>,
    cx: &mut Cx<'_>,
) {
    let mut out = Out {
        reply,
        flush: false,
        swallow_first: false,
    };
    commit_value(commit, reservation, &mut out, cx);
    if out.flush {
        out.reply.flush_now();
    }
}

fn commit_value(
    commit: BinaryCommit,
    mut reservation: Reservation<'static>,
    out: &mut Out<'_, '_>,
    cx: &mut Cx<'_>,
) {
    let outcome = if cx
        .service()
        .log
        .wants(streams::FETCHERS | streams::MUTATIONS)
    {
        let size = reservation.value_mut().len();
        let key = log_writer::KeyCopy::of(reservation.key());
        let key = key.key();
        log_writer::before_store(key, cx);
        let outcome = reservation.commit(commit.mode);
        if !matches!(outcome, StoreOutcome::OnDisk(_)) {
            let attempt = Attempt {
                key,
                mode: commit.mode,
                exptime: commit.exptime,
                size,
            };
            let status = log_writer::status_of::<store::StoreError>(&Ok(outcome));
            log_writer::after_store(&attempt, status, cx);
        }
        outcome
    } else {
        reservation.commit(commit.mode)
    };
    let status = match outcome {
        StoreOutcome::Stored { cas } => {
            if !commit.quiet {
                out.success(commit.opcode, commit.opaque, cas, b"");
            }
            return;
        }
        StoreOutcome::Exists => Status::KeyExists,
        StoreOutcome::NotFound => Status::KeyNotFound,
        // The value went to disk between the check and the commit: memcached's answer.
        StoreOutcome::OnDisk(_) => Status::NotStored,
        // memcached names a refused add or replace by its cause.
        StoreOutcome::NotStored => match commit.kind {
            StoreKind::Add => Status::KeyExists,
            StoreKind::Replace => Status::KeyNotFound,
            _ => Status::NotStored,
        },
    };
    out.error(commit.opcode, status, commit.opaque);
}

#[allow(clippy::too_many_arguments)]
pub(super) fn store_command(
    r: &Request<'_>,
    kind: StoreKind,
    quiet: bool,
    head: usize,
    after: &[u8],
    out: &mut Out<'_, '_>,
    state: &mut State,
    cx: &mut Cx<'_>,
) -> Verdict {
    let cache = cx.service();
    let store = cache.store;
    let value_len = r.value_len;
    let inline = after.len() >= value_len;
    if !inline && head + value_len <= BUFFER_SIZE {
        return Verdict::NeedBytes(value_len - after.len());
    }
    cache.stats.detail.record(r.key, Event::Set);
    let (flags, e) = match r.extras {
        Extras::Store { flags, exptime: e } => (flags, exptime(e)),
        _ => (0, 0),
    };
    // A CAS turns set, add and replace into a compare-and-swap; append and prepend
    // compare it against the item they extend. Under -C memcached's items have no room
    // for the request's CAS, so storage commands ignore it.
    let cas = if store.config().cas_enabled { r.cas } else { 0 };
    let mode = match kind {
        StoreKind::Append => StoreMode::Append,
        StoreKind::Prepend => StoreMode::Prepend,
        _ if cas != 0 => StoreMode::Cas(cas),
        StoreKind::Set => StoreMode::Set,
        StoreKind::Add => StoreMode::Add,
        StoreKind::Replace => StoreMode::Replace,
    };
    if matches!(kind, StoreKind::Append | StoreKind::Prepend) {
        // Append or prepend to a value on disk: read it back first, then run again.
        if let Some(ext) = store.peek(r.key).and_then(|item| item.external()) {
            if let Some(parked) = state.park_recache(r.key, ext, cx) {
                return parked;
            }
        }
    }
    let mut reservation = match store.reserve(r.key, value_len, flags, e) {
        Ok(reservation) => reservation,
        Err(error) => {
            if cache.log.wants(streams::FETCHERS | streams::MUTATIONS) {
                let attempt = Attempt {
                    key: r.key,
                    mode,
                    exptime: e,
                    size: value_len,
                };
                log_writer::after_store(&attempt, log_writer::status_of(&Err(&error)), cx);
                log_writer::before_store(r.key, cx);
            }
            // As in text: no value older than a write the client attempted survives it.
            let refused = refuse(store, r.key, error, kind == StoreKind::Set);
            let status = match refused {
                Refused::OutOfMemory => Status::OutOfMemory,
                Refused::TooLarge => Status::TooLarge,
            };
            out.error(r.opcode, status, r.opaque);
            // memcached answers a value too large only once it has swallowed it; out of
            // memory, it writes the error out first.
            out.swallow_first = refused == Refused::TooLarge;
            return Verdict::Swallow(head.saturating_add(value_len));
        }
    };
    let commit = BinaryCommit {
        opcode: r.opcode,
        opaque: r.opaque,
        kind,
        mode,
        quiet,
        exptime: e,
    };
    let counters = cache.counters(cx.worker());
    let concat = matches!(kind, StoreKind::Append | StoreKind::Prepend);
    if concat && cas != 0 && cas_conflict(cx, r) {
        drop(reservation);
        bump(&counters.cmd_set, 1);
        out.error(r.opcode, Status::KeyExists, r.opaque);
        return Verdict::Swallow(head.saturating_add(value_len));
    }
    if !inline {
        *state = State::Value {
            reservation,
            finish: Finish::Binary(commit),
        };
        return Verdict::ReadInto {
            consumed: head,
            len: value_len,
        };
    }
    reservation.value_mut().copy_from_slice(&after[..value_len]);
    bump(&counters.cmd_set, 1);
    commit_value(commit, reservation, out, cx);
    Verdict::Consumed(head + value_len)
}
