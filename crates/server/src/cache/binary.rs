//! Executes memcached binary-protocol requests against the store and composes the
//! responses: the server half of memcached's `proto_bin.c` (the syntax half is
//! `protocol::binary`).
//!
//! A frame is judged on its 24-byte header before anything else is read; then only its
//! extras and key (a few hundred bytes at most) are buffered. A storage command's value
//! is copied from the read buffer when it is small and already there, and otherwise read
//! straight into a store reservation by the session ([`Finish::Binary`]). Quiet
//! commands drop exactly the replies memcached drops (successes, and misses of quiet
//! gets); errors are always sent. Replies go out in request order, so a NOOP after a
//! batch of quiet gets arrives after their hits.

use super::detail::Event;
use super::log::streams;
use super::log_writer::{self, Attempt};
use super::report::Group;
use super::state::{BinaryCommit, Cx, Finish, State};
use super::stats::VERSION;
use super::tier::Expect;
use super::value::{queue_value, refuse, Pinned, Refused};
use super::waiting::{Then, Waiting};
use crate::runtime::{bump, Reply, Transport, Verdict, BUFFER_SIZE};
use protocol::binary::{
    self, Command, Extras, Frame, Header, Request, ResponseHeader, Status, StoreKind, HEADER_LEN,
    REQUEST_MAGIC,
};
use store::{DeltaOutcome, External, ItemRef, Reservation, StoreMode, StoreOutcome};

/// Response composition into the reply.
struct Out<'r, 'a> {
    reply: &'r mut Reply<'a, Pinned>,
    /// memcached writes out everything queued right after an error or a NOOP, before it
    /// reads the next request; what it has not written yet is lost if the connection
    /// then turns out to be broken (see [`Frame::Drop`]).
    flush: bool,
    /// The error just queued refuses a value that memcached swallows before it writes
    /// anything out (a value too large). A stream answers it at once anyway
    /// (docs/protocol-binary.md); in a datagram it decides which replies share a write.
    swallow_first: bool,
}

impl Out<'_, '_> {
    fn compose(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        self.reply.compose(f);
    }

    fn error(&mut self, opcode: u8, status: Status, opaque: u32) {
        self.compose(|out| binary::write_error(out, opcode, status, opaque));
        self.flush = true;
    }

    /// A success with `body` as value and no extras or key.
    fn success(&mut self, opcode: u8, opaque: u32, cas: u64, body: &[u8]) {
        self.compose(|out| {
            binary::write_header(
                out,
                &ResponseHeader {
                    opcode,
                    status: Status::Success,
                    extras_len: 0,
                    key_len: 0,
                    body_len: body.len() as u32,
                    opaque,
                    cas,
                },
            );
            out.extend_from_slice(body);
        });
    }

    /// A hit: flags as extras, then the key (GETK, GATK) and the value (not TOUCH).
    fn item(&mut self, r: &Request<'_>, item: ItemRef<'static>, with_key: bool, with_value: bool) {
        let key_len = if with_key { r.key.len() } else { 0 };
        let value_len = if with_value { item.value().len() } else { 0 };
        let header = |out: &mut Vec<u8>, item: &ItemRef<'static>| {
            binary::write_header(
                out,
                &ResponseHeader {
                    opcode: r.opcode,
                    status: Status::Success,
                    extras_len: 4,
                    key_len: key_len as u16,
                    body_len: (4 + key_len + value_len) as u32,
                    opaque: r.opaque,
                    cas: item.cas(),
                },
            );
            out.extend_from_slice(&item.flags().to_be_bytes());
            out.extend_from_slice(&r.key[..key_len]);
        };
        if with_value {
            queue_value(self.reply, item, b"", header);
        } else {
            self.compose(|out| header(out, &item));
        }
    }

    /// A miss that is answered: GETK and GATK name the key (and send no message).
    fn miss(&mut self, r: &Request<'_>, with_key: bool) {
        if !with_key {
            return self.error(r.opcode, Status::KeyNotFound, r.opaque);
        }
        self.compose(|out| write_miss(out, r, true));
    }

    /// A hit whose value is on disk: the session parks until it is read, the reply
    /// composed now but for the value (a miss's reply if it cannot be read). Over UDP, a
    /// miss at once, as in memcached.
    #[allow(clippy::too_many_arguments)]
    fn disk_item(
        &mut self,
        r: &Request<'_>,
        item: &ItemRef<'static>,
        ext: External,
        with_key: bool,
        quiet: bool,
        consumed: usize,
        state: &mut State,
        cx: &Cx<'_>,
    ) -> Verdict {
        let cache = cx.service();
        let (Some(tier), Some(ticket)) = (cache.tier.as_ref(), cx.ticket()) else {
            if !quiet {
                self.miss(r, with_key);
            }
            return Verdict::Consumed(consumed);
        };
        let key_len = if with_key { r.key.len() } else { 0 };
        let mut head = Vec::new();
        binary::write_header(
            &mut head,
            &ResponseHeader {
                opcode: r.opcode,
                status: Status::Success,
                extras_len: 4,
                key_len: key_len as u16,
                body_len: (4 + key_len + ext.value_len) as u32,
                opaque: r.opaque,
                cas: item.cas(),
            },
        );
        head.extend_from_slice(&item.flags().to_be_bytes());
        head.extend_from_slice(&r.key[..key_len]);
        let mut miss = Vec::new();
        if !quiet {
            write_miss(&mut miss, r, with_key);
        }
        let mut waiting = Waiting::new(Then::Done);
        let expect = Expect::of(item, ext);
        if let Err(miss) = waiting.push_disk(tier, ticket, r.key, ext, expect, head, miss, b"") {
            // No read buffer free (`get_oom_extstore`): not found, as memcached answers.
            if !miss.is_empty() {
                self.compose(|out| out.extend_from_slice(&miss));
            }
            return Verdict::Consumed(consumed);
        }
        *state = State::Disk(Box::new(waiting));
        Verdict::Park { consumed }
    }

    /// The text `stats` writers' "STAT name value\r\n" lines as stat frames, so that both
    /// protocols report the same names from one source.
    fn stat_lines(&mut self, opaque: u32, text: &[u8]) {
        self.compose(|out| {
            for line in text.split(|&b| b == b'\n') {
                let Some(rest) = line.strip_prefix(b"STAT ") else {
                    continue;
                };
                let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
                let split = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
                let value = rest.get(split + 1..).unwrap_or(&[]);
                binary::write_stat(out, opaque, &rest[..split], value);
            }
        });
    }

    /// The empty stat frame that ends a stats reply.
    fn stat_end(&mut self, opaque: u32) {
        self.compose(|out| binary::write_stat(out, opaque, b"", b""));
    }
}

/// A miss's frame: KeyNotFound, naming the key for GETK and GATK, else with memcached's
/// "Not found" message.
fn write_miss(out: &mut Vec<u8>, r: &Request<'_>, with_key: bool) {
    if !with_key {
        return binary::write_error(out, r.opcode, Status::KeyNotFound, r.opaque);
    }
    binary::write_miss_with_key(out, r.opcode, r.opaque, r.key);
}

/// Answers the binary request at the head of `input`: on a stream, judged on its
/// 24-byte header before anything else is read; in a datagram, as memcached judges it,
/// once its extras and key are in (a wrong magic is dropped at once, a frame whose extras
/// and key run past the datagram is never answered).
pub(crate) fn step(
    input: &[u8],
    reply: &mut Reply<'_, Pinned>,
    state: &mut State,
    cx: &mut Cx<'_>,
) -> Verdict {
    let Some(header) = Header::parse(input) else {
        return Verdict::NeedBytes(HEADER_LEN - input.len());
    };
    let head = header.head_len();
    let datagram = cx.transport() == Transport::Datagram;
    if datagram {
        if header.magic != REQUEST_MAGIC {
            return Verdict::Broken;
        }
        if input.len() < head {
            return Verdict::NeedBytes(head - input.len());
        }
    }
    let mut out = Out {
        reply,
        flush: false,
        swallow_first: false,
    };
    let verdict = match binary::check(&header) {
        Frame::Command(command) => match binary::decode(&header, command, input) {
            Some(request) => execute(&request, head, &input[head..], &mut out, state, cx),
            None => Verdict::NeedBytes(head.saturating_sub(input.len()).max(1)),
        },
        Frame::Drop => {
            // memcached closes on a bad magic at once, dropping the replies it had
            // queued for the same batch.
            out.reply.discard();
            return Verdict::Broken;
        }
        Frame::Fatal(status) => {
            out.error(header.opcode, status, header.opaque);
            Verdict::Close
        }
        Frame::Unknown { swallow } => {
            out.error(header.opcode, Status::UnknownCommand, header.opaque);
            // In a datagram memcached writes out only once the body is swallowed.
            out.swallow_first = swallow > 0;
            Verdict::Swallow(head.saturating_add(swallow))
        }
    };
    if out.flush && !(datagram && out.swallow_first) {
        out.reply.flush_now();
    }
    verdict
}

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

/// The expiry as memcached reads it: an unsigned 32-bit number of seconds (relative up
/// to 30 days, else absolute), never negative.
fn exptime(e: u32) -> i64 {
    i64::from(e)
}

/// The CAS a request must match, if it names one, checked against the live item. The
/// store has no compare for append, prepend, delete or incr, so this compares just
/// before the operation; memcached compares under its item lock.
fn cas_conflict(cx: &Cx<'_>, r: &Request<'_>) -> bool {
    r.cas != 0
        && cx
            .service()
            .store
            .peek(r.key)
            .is_some_and(|item| item.cas() != r.cas)
}

fn execute(
    r: &Request<'_>,
    head: usize,
    after: &[u8],
    out: &mut Out<'_, '_>,
    state: &mut State,
    cx: &mut Cx<'_>,
) -> Verdict {
    let cache = cx.service();
    let store = cache.store;
    let counters = cache.counters(cx.worker());
    if cache.log.wants(streams::FETCHERS) {
        // Every command with a key but a store fetches it first, as memcached's do
        // (a store fetches when it commits).
        if let Command::Get { .. }
        | Command::GetAndTouch { .. }
        | Command::Touch
        | Command::Delete { .. }
        | Command::Delta { .. } = r.command
        {
            log_writer::fetch(r.key, cx);
        }
    }
    match r.command {
        Command::Get { with_key, quiet } => {
            bump(&counters.cmd_get, 1);
            let item = store.get(r.key);
            cache.stats.detail.record(
                r.key,
                Event::Get {
                    hit: item.is_some(),
                },
            );
            match item {
                Some(item) => match item.external() {
                    Some(ext) => {
                        return out.disk_item(r, &item, ext, with_key, quiet, head, state, cx)
                    }
                    None => out.item(r, item, with_key, true),
                },
                None if quiet => {}
                None => out.miss(r, with_key),
            }
        }
        Command::GetAndTouch { with_key, quiet } => {
            if let Some(verdict) = touch(r, with_key, true, quiet, head, out, state, cx) {
                return verdict;
            }
        }
        Command::Touch => {
            touch(r, false, false, false, head, out, state, cx);
        }
        Command::Store { kind, quiet } => {
            return store_command(r, kind, quiet, head, after, out, state, cx)
        }
        Command::Delete { quiet } => {
            cache.stats.detail.record(r.key, Event::Delete);
            if cas_conflict(cx, r) {
                out.error(r.opcode, Status::KeyExists, r.opaque);
            } else if store.delete(r.key) {
                if !quiet {
                    out.success(r.opcode, r.opaque, 0, b"");
                }
            } else {
                out.error(r.opcode, Status::KeyNotFound, r.opaque);
            }
        }
        Command::Delta { incr, quiet } => {
            if let Some(verdict) = delta(r, incr, quiet, out, state, cx) {
                return verdict;
            }
        }
        Command::Flush { quiet } => {
            // memcached refuses a disabled flush with an auth error, and does not count it.
            if !cx.config().flush_enabled {
                out.error(r.opcode, Status::AuthError, r.opaque);
            } else {
                let delay = match r.extras {
                    Extras::Flush(Some(e)) => exptime(e),
                    _ => 0,
                };
                bump(&counters.cmd_flush, 1);
                store.flush_all(delay);
                if !quiet {
                    out.success(r.opcode, r.opaque, 0, b"");
                }
            }
        }
        Command::Noop => {
            out.success(r.opcode, r.opaque, 0, b"");
            out.flush = true;
        }
        Command::Version => out.success(r.opcode, r.opaque, 0, VERSION.as_bytes()),
        Command::Quit { quiet } => {
            if !quiet {
                out.success(r.opcode, r.opaque, 0, b"");
            }
            return Verdict::Close;
        }
        Command::Stat => stat(r, out, cx),
    }
    Verdict::Consumed(head)
}

/// TOUCH, GAT, GATK (and quiet): memcached counts all of them as touches. A GAT of a
/// value on disk parks the session (the verdict returned).
#[allow(clippy::too_many_arguments)]
fn touch(
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

#[allow(clippy::too_many_arguments)]
fn store_command(
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

/// INCREMENT / DECREMENT: on a miss, creates the item with `initial` unless the expiry
/// is 0xffffffff.
fn delta(
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

/// STAT: all, or one group named by the key; the groups are the text command's.
fn stat(r: &Request<'_>, out: &mut Out<'_, '_>, cx: &Cx<'_>) {
    let Some(group) = Group::of_binary(r.key) else {
        return out.error(r.opcode, Status::KeyNotFound, r.opaque);
    };
    let mut text = Vec::new();
    group.write(&mut text, cx);
    if group == Group::DetailDump {
        text.extend_from_slice(protocol::text::END);
        out.compose(|o| binary::write_stat(o, r.opaque, b"detailed", &text));
    } else {
        out.stat_lines(r.opaque, &text);
    }
    out.stat_end(r.opaque);
}
