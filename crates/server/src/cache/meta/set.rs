//! `ms`: the store mode and CAS its flags ask for, the reservation its value goes into,
//! the commit, and the reply (`HD`/`NS`/`EX`/`NF` with the flags asked back). A large
//! value is read into its reservation by the session, then [`finish`]ed here.

use crate::cache::log::streams;
use crate::cache::log_writer::{self, Attempt};
use crate::cache::state::Cx;
use crate::cache::value::{refuse, Pinned};
use crate::runtime::Reply;
use protocol::meta::{self, Facts, Mode, Request, Status};
use protocol::text;
use store::{CommitOptions, External, Reservation, StoreError, StoreMode, StoreOutcome};

/// Completes a large `ms` whose value was read into `reservation`.
pub(crate) fn finish(
    line: &[u8],
    reservation: Reservation<'static>,
    terminated: bool,
    reply: &mut Reply<'_, Pinned>,
    cx: &mut Cx<'_>,
) {
    if !terminated {
        drop(reservation);
        reply.line(text::CLIENT_ERROR_BAD_DATA_CHUNK);
        return;
    }
    // The line parsed before the value was read; it parses the same now.
    let Ok(req) = meta::parse(line) else {
        return;
    };
    match stored(&req, reservation, cx) {
        Ok(Some((s, facts))) => {
            reply.compose(|out| meta::write_status(out, s, &req.flags, &facts.facts(&req)))
        }
        Ok(None) => {}
        // The value went to disk while the data was read: memcached's answer for that.
        Err(_) => not_stored(&req, reply),
    }
}

/// An `ms` as `watch mutations` names it: a compared CAS makes it a `cas`, as in
/// memcached.
fn attempt<'r>(req: &'r Request<'_>) -> Attempt<'r> {
    let f = &req.flags;
    let m = mode(req);
    Attempt {
        key: req.key(),
        mode: match m {
            Mode::Add => StoreMode::Add,
            _ if f.compare_cas.is_some() => StoreMode::Cas(0),
            Mode::Append => StoreMode::Append,
            Mode::Prepend => StoreMode::Prepend,
            Mode::Replace => StoreMode::Replace,
            _ => StoreMode::Set,
        },
        exptime: f.set_ttl.unwrap_or(0),
        size: req.datalen,
    }
}

pub(super) fn mode(req: &Request<'_>) -> Mode {
    req.flags.mode.and_then(Mode::set).unwrap_or(Mode::Set)
}

pub(super) fn reserve(req: &Request<'_>, cx: &Cx<'_>) -> Result<Reservation<'static>, StoreError> {
    let f = &req.flags;
    // Append and prepend keep the old item's expiry; the reservation's matters only when
    // `N` makes it a new item.
    let exptime = match mode(req) {
        Mode::Append | Mode::Prepend => f.vivify.unwrap_or(0),
        _ => f.set_ttl.unwrap_or(0),
    };
    // With `E` the item's CAS field is sized for the explicit CAS up front.
    cx.service().store.reserve_with(
        req.key(),
        req.datalen,
        f.set_client_flags.unwrap_or(0),
        exptime,
        f.new_cas,
    )
}

/// A refused `ms`: answered (errors are never quiet), the old value unlinked whatever
/// the mode.
pub(super) fn refused(
    req: &Request<'_>,
    error: StoreError,
    reply: &mut Reply<'_, Pinned>,
    cx: &mut Cx<'_>,
) {
    if cx
        .service()
        .log
        .wants(streams::FETCHERS | streams::MUTATIONS)
    {
        let status = log_writer::status_of(&Err(&error));
        log_writer::after_store(&attempt(req), status, cx);
        log_writer::before_store(req.key(), cx);
    }
    reply.line(refuse(cx.service().store, req.key(), error, true).line());
}

/// Commits and answers; the value's place on disk when an append or prepend needs it
/// read back first.
pub(super) fn commit(
    req: &Request<'_>,
    reservation: Reservation<'static>,
    reply: &mut Reply<'_, Pinned>,
    cx: &mut Cx<'_>,
) -> Result<(), External> {
    if let Some((status, facts)) = stored(req, reservation, cx)? {
        reply.compose(|o| meta::write_status(o, status, &req.flags, &facts.facts(req)));
    }
    Ok(())
}

/// `NS` for an append or prepend to a value on disk that cannot be read back first:
/// memcached's answer for one.
pub(super) fn not_stored(req: &Request<'_>, reply: &mut Reply<'_, Pinned>) {
    let facts = SetFacts { cas: 0, size: None };
    reply.compose(|o| meta::write_status(o, Status::NotStored, &req.flags, &facts.facts(req)));
}

/// What an `ms` reply says besides its status.
struct SetFacts {
    cas: u64,
    size: Option<usize>,
}

impl SetFacts {
    fn facts<'k>(&self, req: &'k Request<'_>) -> Facts<'k> {
        Facts {
            cas: Some(self.cas),
            size: self.size,
            key: Some(req.key()),
            binary_key: req.flags.base64,
            ..Facts::default()
        }
    }
}

/// Commits an `ms` value; None when the reply is suppressed (`q` and stored); the
/// value's place on disk when an append or prepend must read it back first.
fn stored(
    req: &Request<'_>,
    reservation: Reservation<'static>,
    cx: &mut Cx<'_>,
) -> Result<Option<(Status, SetFacts)>, External> {
    let f = &req.flags;
    let m = mode(req);
    let store_mode = match m {
        Mode::Add => StoreMode::Add,
        Mode::Append => StoreMode::Append,
        Mode::Prepend => StoreMode::Prepend,
        Mode::Replace => StoreMode::Replace,
        _ => StoreMode::Set,
    };
    let opts = CommitOptions {
        // memcached ignores C in add mode.
        compare_cas: f.compare_cas.filter(|_| m != Mode::Add),
        new_cas: f.new_cas,
        invalidate: f.invalidate,
        vivify_on_miss: f.vivify.is_some() && matches!(m, Mode::Append | Mode::Prepend),
    };
    let logged = cx
        .service()
        .log
        .wants(streams::FETCHERS | streams::MUTATIONS);
    if logged {
        log_writer::before_store(req.key(), cx);
    }
    let outcome = reservation.commit_with(store_mode, opts);
    if logged && !matches!(outcome, StoreOutcome::OnDisk(_)) {
        let status = log_writer::status_of::<StoreError>(&Ok(outcome));
        log_writer::after_store(&attempt(req), status, cx);
    }
    let (status, cas) = match outcome {
        StoreOutcome::Stored { cas } => (Status::Stored, cas),
        StoreOutcome::NotStored => (Status::NotStored, 0),
        StoreOutcome::Exists => (Status::Exists, 0),
        StoreOutcome::NotFound => (Status::NotFound, 0),
        StoreOutcome::OnDisk(ext) => return Err(ext),
    };
    if status == Status::Stored && f.quiet {
        return Ok(None);
    }
    let size = f.size.then(|| match (status, m) {
        (Status::Stored, Mode::Append | Mode::Prepend) => {
            cx.service().store.peek(req.key()).map_or(req.datalen, |i| {
                i.external()
                    .map_or_else(|| i.value().len(), |e| e.value_len)
            })
        }
        _ => req.datalen,
    });
    Ok(Some((status, SetFacts { cas, size })))
}
