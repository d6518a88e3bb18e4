//! Executes meta commands (`mg ms md ma mn me`) against the store and composes their
//! replies: the server half of memcached's meta protocol (the syntax is
//! `protocol::meta`). Semantics follow memcached 1.6.18 where it and `doc/protocol.txt`
//! agree, protocol.txt where they differ (see `docs/protocol-meta.md`).
//!
//! A meta line is recognised before the classic parser sees it (the text handler
//! hands it here). Small `ms` values are taken from the input; large ones are read
//! straight into their reservation by the session ([`Finish::Meta`] keeps a copy of the
//! line to compose the reply once the value is in).

use super::log::streams;
use super::log_writer::{self, Attempt};
use super::state::{Cx, Finish, State};
use super::stats::unix_now;
use super::tier::Expect;
use super::value::{queue_value, refuse, Pinned};
use super::waiting::{Then, Waiting};
use crate::runtime::{bump, Reply, Transport, Verdict, BUFFER_SIZE};
use protocol::meta::{self, Command, Debug, Facts, MetaError, Mode, Request, Status};
use protocol::text;
use std::io::Write as _;
use store::{
    memcached_item_size, CommitOptions, External, MetaDelete, MetaDeleteOutcome, MetaDelta,
    MetaDeltaOutcome, MetaRead, Reservation, StoreError, StoreMode, StoreOutcome, RELATIVE_MAX,
};

/// The first line of `buf` and its length, if it is a complete meta command line
/// (`protocol::meta::meta_line`).
#[inline]
pub(crate) fn meta_line(buf: &[u8]) -> Option<(&[u8], usize)> {
    meta::meta_line(buf)
}

/// Answers the meta command `line` at the head of `input` (`consumed` bytes with its
/// "\n"). Small `ms` values are taken from the input; large ones are read straight into
/// their reservation, the line kept to compose the reply once the value is in.
pub(crate) fn step(
    line: &[u8],
    consumed: usize,
    input: &[u8],
    reply: &mut Reply<'_, Pinned>,
    state: &mut State,
    cx: &mut Cx<'_>,
) -> Verdict {
    let available = input.len() - consumed;
    let req = match meta::parse(line) {
        Ok(req) => req,
        Err(rejected) => {
            reply.line(rejected.error.reply());
            return match rejected.swallow {
                0 => Verdict::Consumed(consumed),
                n => Verdict::Swallow(consumed.saturating_add(n)),
            };
        }
    };
    let block = req.datalen + 2;
    if req.command == Command::Set && available < block {
        // A datagram holds all there is: a value cut short is never answered.
        if cx.transport() == Transport::Datagram || consumed + block <= BUFFER_SIZE {
            // A small value not all here yet: parse the line again when it is.
            return Verdict::NeedBytes(block - available);
        }
        if matches!(mode(&req), Mode::Append | Mode::Prepend) {
            // The reservation a large value is read into is consumed by its commit: bring a
            // value on disk back first.
            let ext = cx
                .service()
                .store
                .peek(req.key())
                .and_then(|i| i.external());
            if let Some(parked) = ext.and_then(|ext| state.park_recache(req.key(), ext, cx)) {
                return parked;
            }
        }
        let reservation = match reserve(&req, cx) {
            Ok(r) => r,
            Err(e) => {
                refused(&req, e, reply, cx);
                return Verdict::Swallow(consumed + block);
            }
        };
        *state = State::Value {
            reservation,
            finish: Finish::Meta {
                line: line.to_vec().into_boxed_slice(),
            },
        };
        return Verdict::ReadInto {
            consumed,
            len: req.datalen,
        };
    }
    match execute(&req, consumed, &input[consumed..], reply, state, cx) {
        Done::Answered { data } => Verdict::Consumed(consumed + data),
        Done::Swallow(bytes) => Verdict::Swallow(consumed + bytes),
        Done::Parked(verdict) => verdict,
    }
}

/// What follows a meta command's line once it is answered.
enum Done {
    /// This many data bytes (an `ms` value and its "\r\n") were part of it.
    Answered { data: usize },
    /// A refused `ms`: its data block is dropped.
    Swallow(usize),
    /// Waiting for the disk tier (`Verdict::Park`).
    Parked(Verdict),
}

/// Executes a parsed request whose line takes `consumed` bytes; for `ms`, `after` holds
/// its whole data block.
fn execute(
    req: &Request<'_>,
    consumed: usize,
    after: &[u8],
    reply: &mut Reply<'_, Pinned>,
    state: &mut State,
    cx: &mut Cx<'_>,
) -> Done {
    if req.command != Command::Set && cx.service().log.wants(streams::FETCHERS) {
        // Every meta command with a key fetches it first, as memcached's do.
        if req.command != Command::NoOp {
            log_writer::fetch(req.key(), cx);
        }
    }
    match req.command {
        Command::NoOp => reply.line(text::MN),
        Command::Debug => debug(req, reply, cx),
        Command::Get => {
            if let Some(verdict) = get(req, consumed, reply, state, cx) {
                return Done::Parked(verdict);
            }
        }
        Command::Delete => delete(req, reply, cx),
        Command::Arithmetic => {
            if let Some(verdict) = arithmetic(req, reply, state, cx) {
                return Done::Parked(verdict);
            }
        }
        Command::Set => {
            let block = req.datalen + 2;
            let mut reservation = match reserve(req, cx) {
                Ok(r) => r,
                Err(e) => {
                    refused(req, e, reply, cx);
                    return Done::Swallow(block);
                }
            };
            let counters = cx.service().counters(cx.worker());
            bump(&counters.cmd_set, 1);
            if &after[req.datalen..block] == b"\r\n" {
                reservation
                    .value_mut()
                    .copy_from_slice(&after[..req.datalen]);
                if let Err(ext) = commit(req, reservation, reply, cx) {
                    // Append or prepend to a value on disk: read it back, run again
                    // (counted once).
                    if let Some(parked) = state.park_recache(req.key(), ext, cx) {
                        counters
                            .cmd_set
                            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                        return Done::Parked(parked);
                    }
                    not_stored(req, reply);
                }
            } else {
                drop(reservation);
                // Errors are never quiet.
                reply.line(text::CLIENT_ERROR_BAD_DATA_CHUNK);
            }
            return Done::Answered { data: block };
        }
    }
    Done::Answered { data: 0 }
}

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

fn mode(req: &Request<'_>) -> Mode {
    req.flags.mode.and_then(Mode::set).unwrap_or(Mode::Set)
}

fn reserve(req: &Request<'_>, cx: &Cx<'_>) -> Result<Reservation<'static>, StoreError> {
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
fn refused(req: &Request<'_>, error: StoreError, reply: &mut Reply<'_, Pinned>, cx: &mut Cx<'_>) {
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
fn commit(
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
fn not_stored(req: &Request<'_>, reply: &mut Reply<'_, Pinned>) {
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

/// `mg`; a value on disk parks the session (the verdict returned).
fn get(
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

fn delete(req: &Request<'_>, reply: &mut Reply<'_, Pinned>, cx: &Cx<'_>) {
    let f = &req.flags;
    let keeps = f.invalidate || f.remove_value;
    let d = MetaDelete {
        compare_cas: f.compare_cas,
        invalidate: f.invalidate,
        // protocol.txt: T updates the TTL only together with I (or x, which keeps the item).
        exptime: f.set_ttl.filter(|_| keeps),
        new_cas: f.new_cas,
        remove_value: f.remove_value,
    };
    let status = match cx.service().store.meta_delete(req.key(), d) {
        MetaDeleteOutcome::Deleted | MetaDeleteOutcome::Kept { .. } => {
            if f.quiet {
                return;
            }
            Status::Stored
        }
        MetaDeleteOutcome::NotFound => Status::NotFound,
        MetaDeleteOutcome::Exists => Status::Exists,
    };
    let facts = Facts {
        key: Some(req.key()),
        binary_key: f.base64,
        ..Facts::default()
    };
    reply.compose(|o| meta::write_status(o, status, f, &facts));
}

/// `ma`; a number on disk parks the session until it is back in RAM (the verdict).
fn arithmetic(
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

/// `me`: memcached's debug line. Corvid has no slab classes; `cls` is the class
/// memcached's default slab sizes would give an item of this size.
fn debug(req: &Request<'_>, reply: &mut Reply<'_, Pinned>, cx: &Cx<'_>) {
    let cache = cx.service();
    bump(&cache.counters(cx.worker()).cmd_meta, 1);
    let Some(item) = cache.store.peek(req.key()) else {
        reply.line(text::EN);
        return;
    };
    let ttl = item.ttl_remaining();
    let value_len = item
        .external()
        .map_or_else(|| item.value().len(), |e| e.value_len);
    let size = memcached_item_size(
        item.key().len(),
        value_len,
        item.flags(),
        cache.store.config().cas_enabled,
    );
    let d = Debug {
        key: item.key(),
        // memcached re-encodes keys it stored under `b`; Corvid does not record that, so
        // it encodes only keys that could not be printed on the line as they are.
        binary_key: !item.key().iter().all(u8::is_ascii_graphic),
        exp: if ttl == -1 { -1 } else { -ttl },
        last_access: item.last_access_ago(),
        cas: item.cas(),
        fetched: item.fetched_before(),
        class: slab_class(size),
        size,
    };
    reply.compose(|o| meta::write_debug(o, &d));
}

/// memcached's default slab classes: 96 bytes, then x1.25 rounded up to 8, up to 512 KiB.
fn slab_class(size: usize) -> u32 {
    const LARGEST: usize = 512 * 1024;
    let mut chunk = 96usize;
    let mut class = 1;
    while size > chunk && chunk < LARGEST {
        let next = (chunk as f64 * 1.25) as usize;
        chunk = next.div_ceil(8) * 8;
        if chunk as f64 > LARGEST as f64 / 1.25 {
            chunk = LARGEST;
        }
        class += 1;
    }
    class
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_lines_are_told_from_classic_ones() {
        assert_eq!(meta_line(b"mg foo v\r\nrest"), Some((&b"mg foo v"[..], 10)));
        assert_eq!(meta_line(b"  mn\n"), Some((&b"  mn"[..], 5)));
        assert_eq!(meta_line(b"mg foo"), None);
        assert_eq!(meta_line(b"get foo\r\n"), None);
        assert_eq!(meta_line(b"mget foo\r\n"), None);
        assert_eq!(meta_line(b"mg\r"), None);
    }

    #[test]
    fn slab_classes_match_memcacheds_defaults() {
        // memcached 1.6.18 -m 64: class 1 is 96 bytes, class 2 120, class 3 152.
        assert_eq!(slab_class(61), 1);
        assert_eq!(slab_class(96), 1);
        assert_eq!(slab_class(97), 2);
        assert_eq!(slab_class(120), 2);
        assert_eq!(slab_class(121), 3);
        assert_eq!(slab_class(10 << 20), slab_class(600 * 1024));
    }
}
