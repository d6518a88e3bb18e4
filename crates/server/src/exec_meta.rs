//! Executes meta commands (`mg ms md ma mn me`) against the store and composes their
//! replies: the server half of memcached's meta protocol (the syntax is
//! `protocol::meta`). Semantics follow memcached 1.6.18 where it and `doc/protocol.txt`
//! agree, protocol.txt where they differ (see `docs/protocol-meta.md`).
//!
//! A meta line is recognised before the classic parser sees it (`step_text` hands it
//! here). Small `ms` values are taken from the read buffer; large ones are read straight
//! into their reservation by the connection ([`Finish::Meta`]), which keeps a copy of the
//! line to compose the reply once the value is in.

use crate::connection::{Connection, Ctx, Env, Finish, Pending, Pinned, Step};
use crate::exec_text::{Action, Reply, COPY_MAX};
use crate::stats::WorkerStats;
use crate::worker::BUFFER_SIZE;
use channel::{BufferPool, SendQueue};
use protocol::meta::{self, Command, Debug, Facts, MetaError, Mode, Request, Status};
use std::io::Write as _;
use store::{
    memcached_item_size, CommitOptions, ItemRef, MetaDelete, MetaDeleteOutcome, MetaDelta,
    MetaDeltaOutcome, MetaRead, Reservation, StoreError, StoreMode, StoreOutcome, RELATIVE_MAX,
};

const MN: &[u8] = b"MN\r\n";
const EN: &[u8] = b"EN\r\n";
const BAD_DATA_CHUNK: &[u8] = b"CLIENT_ERROR bad data chunk\r\n";
const NON_NUMERIC: &[u8] = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
const OUT_OF_MEMORY: &[u8] = b"SERVER_ERROR out of memory\r\n";
const TOO_LARGE: &[u8] = b"SERVER_ERROR object too large for cache\r\n";
const OUT_OF_MEMORY_STORING: &[u8] = b"SERVER_ERROR out of memory storing object\r\n";

/// The first line of `buf`, cut as the classic parser cuts it (a "\r" before the "\n"
/// only when something precedes it, up to a NUL), and its length with the "\n", if it is
/// complete and a meta command.
pub(crate) fn meta_line(buf: &[u8]) -> Option<(&[u8], usize)> {
    // Cheap test first: almost every classic line fails it without a scan for "\n".
    let start = buf.iter().position(|&b| b != b' ')?;
    let head = &buf[start..];
    if head.len() < 3 || head[0] != b'm' || !matches!(head[2], b' ' | b'\r' | b'\n' | 0) {
        return None;
    }
    let newline = buf.iter().position(|&b| b == b'\n')?;
    let end = if newline > 1 && buf[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    let mut line = &buf[..end];
    if let Some(nul) = line.iter().position(|&b| b == 0) {
        line = &line[..nul];
    }
    meta::is_meta(line).then_some((line, newline + 1))
}

/// Composes into the send queue's scratch and queues it.
fn compose(out: &mut SendQueue<Pinned>, pool: &mut BufferPool, f: impl FnOnce(&mut Vec<u8>)) {
    f(out.scratch(pool));
    out.commit_scratch();
}

impl Connection {
    /// Answers the meta command at the head of the input ([`meta_line`] said there is one).
    pub(crate) fn step_meta(&mut self, env: &mut Env<'_>) -> Step {
        let ctx = env.ctx;
        let buffered = self.input.data();
        let Some((line, consumed)) = meta_line(buffered) else {
            return Step::Progress;
        };
        let available = buffered.len() - consumed;
        let req = match meta::parse(line) {
            Ok(req) => req,
            Err(rejected) => {
                self.output.push_copy(env.pool, rejected.error.reply());
                return self.skip(consumed, rejected.swallow, available);
            }
        };
        let block = req.datalen + 2;
        if req.command == Command::Set && available < block {
            if consumed + block <= BUFFER_SIZE {
                // A small value not all here yet: parse the line again when it is.
                return self.fill(env);
            }
            let reservation = match reserve(&req, &ctx) {
                Ok(r) => r,
                Err(e) => {
                    refuse(&req, e, &mut self.output, env.pool, &ctx);
                    return self.skip(consumed, block, available);
                }
            };
            // Read straight into the store; the line is kept to compose the reply.
            let finish = Finish::Meta {
                line: line.to_vec().into_boxed_slice(),
            };
            self.input.consume(consumed);
            self.pending = Pending::Value {
                reservation,
                filled: 0,
                finish,
            };
            return Step::Progress;
        }
        let after = &buffered[consumed..];
        match execute(&req, after, &mut self.output, env.pool, &ctx) {
            Action::Done { data } => {
                self.input.consume(consumed + data);
                Step::Served
            }
            Action::Swallow { bytes } => self.skip(consumed, bytes, available),
            // `execute` answers everything else whole.
            _ => {
                self.input.consume(consumed);
                Step::Served
            }
        }
    }

    /// Drops the line and `swallow` bytes of data block after it (some maybe not here yet).
    fn skip(&mut self, consumed: usize, swallow: usize, available: usize) -> Step {
        if available >= swallow {
            self.input.consume(consumed + swallow);
            return Step::Served;
        }
        self.input.consume(consumed);
        self.pending = Pending::Swallow { remaining: swallow };
        Step::Progress
    }
}

/// For transports that hand over a request whole (UDP datagrams): answers the meta
/// command at the front of `buffered` into `out`. None when the front is not a complete
/// meta line (then it is a classic one). Returns the line's length with its "\n", and
/// what follows it: `Done { data }` (the data block answered), `Swallow` (a refused
/// block), or `NeedData` (an `ms` whose block is not all in `buffered`; nothing was done).
pub(crate) fn execute_buffered(
    buffered: &[u8],
    out: &mut SendQueue<Pinned>,
    pool: &mut BufferPool,
    ctx: &Ctx<'_>,
) -> Option<(usize, Action)> {
    let (line, consumed) = meta_line(buffered)?;
    let req = match meta::parse(line) {
        Ok(req) => req,
        Err(rejected) => {
            out.push_copy(pool, rejected.error.reply());
            let action = match rejected.swallow {
                0 => Action::Done { data: 0 },
                bytes => Action::Swallow { bytes },
            };
            return Some((consumed, action));
        }
    };
    let after = &buffered[consumed..];
    if req.command == Command::Set && after.len() < req.datalen + 2 {
        return Some((consumed, Action::NeedData));
    }
    Some((consumed, execute(&req, after, out, pool, ctx)))
}

/// Executes a parsed request; for `ms`, `after` holds its whole data block.
fn execute(
    req: &Request<'_>,
    after: &[u8],
    out: &mut SendQueue<Pinned>,
    pool: &mut BufferPool,
    ctx: &Ctx<'_>,
) -> Action {
    match req.command {
        Command::NoOp => out.push_copy(pool, MN),
        Command::Debug => debug(req, out, pool, ctx),
        Command::Get => get(req, out, pool, ctx),
        Command::Delete => delete(req, out, pool, ctx),
        Command::Arithmetic => arithmetic(req, out, pool, ctx),
        Command::Set => {
            let block = req.datalen + 2;
            let mut reservation = match reserve(req, ctx) {
                Ok(r) => r,
                Err(e) => {
                    refuse(req, e, out, pool, ctx);
                    return Action::Swallow { bytes: block };
                }
            };
            WorkerStats::bump(&ctx.worker.cmd_set, 1);
            if &after[req.datalen..block] == b"\r\n" {
                reservation
                    .value_mut()
                    .copy_from_slice(&after[..req.datalen]);
                commit(req, reservation, out, pool, ctx);
            } else {
                drop(reservation);
                // Errors are never quiet.
                out.push_copy(pool, BAD_DATA_CHUNK);
            }
            return Action::Done { data: block };
        }
    }
    Action::Done { data: 0 }
}

/// Completes a large `ms` whose value was read into `reservation`.
pub(crate) fn finish_set(
    line: &[u8],
    reservation: Reservation<'static>,
    terminated: bool,
    reply: &mut Reply<'_>,
    ctx: &Ctx<'_>,
) {
    if !terminated {
        drop(reservation);
        reply.line(BAD_DATA_CHUNK);
        return;
    }
    // The line parsed before the value was read; it parses the same now.
    let Ok(req) = meta::parse(line) else {
        return;
    };
    let mut status = Vec::with_capacity(64);
    if let Some((s, facts)) = stored(&req, reservation, ctx) {
        meta::write_status(&mut status, s, &req.flags, &facts.facts(&req));
        reply.line(&status);
    }
}

fn mode(req: &Request<'_>) -> Mode {
    req.flags.mode.and_then(Mode::set).unwrap_or(Mode::Set)
}

fn reserve(req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Reservation<'static>, StoreError> {
    let f = &req.flags;
    // Append and prepend keep the old item's expiry; the reservation's matters only when
    // `N` makes it a new item.
    let exptime = match mode(req) {
        Mode::Append | Mode::Prepend => f.vivify.unwrap_or(0),
        _ => f.set_ttl.unwrap_or(0),
    };
    // With `E` the item's CAS field is sized for the explicit CAS up front.
    ctx.store.reserve_with(
        req.key(),
        req.datalen,
        f.set_client_flags.unwrap_or(0),
        exptime,
        f.new_cas,
    )
}

/// A refused `ms`: memcached answers, and drops the key's old value so that no value
/// older than the client's attempted write can be read.
fn refuse(
    req: &Request<'_>,
    error: StoreError,
    out: &mut SendQueue<Pinned>,
    pool: &mut BufferPool,
    ctx: &Ctx<'_>,
) {
    out.push_copy(
        pool,
        match error {
            StoreError::OutOfMemory => OUT_OF_MEMORY_STORING,
            _ => TOO_LARGE,
        },
    );
    ctx.store.unlink(req.key());
}

fn commit(
    req: &Request<'_>,
    reservation: Reservation<'static>,
    out: &mut SendQueue<Pinned>,
    pool: &mut BufferPool,
    ctx: &Ctx<'_>,
) {
    if let Some((status, facts)) = stored(req, reservation, ctx) {
        compose(out, pool, |o| {
            meta::write_status(o, status, &req.flags, &facts.facts(req))
        });
    }
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

/// Commits an `ms` value; None when the reply is suppressed (`q` and stored).
fn stored(
    req: &Request<'_>,
    reservation: Reservation<'static>,
    ctx: &Ctx<'_>,
) -> Option<(Status, SetFacts)> {
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
    let outcome = reservation.commit_with(store_mode, opts);
    let (status, cas) = match outcome {
        StoreOutcome::Stored { cas } => (Status::Stored, cas),
        StoreOutcome::NotStored => (Status::NotStored, 0),
        StoreOutcome::Exists => (Status::Exists, 0),
        StoreOutcome::NotFound => (Status::NotFound, 0),
    };
    if status == Status::Stored && f.quiet {
        return None;
    }
    let size = f.size.then(|| match (status, m) {
        (Status::Stored, Mode::Append | Mode::Prepend) => ctx
            .store
            .peek(req.key())
            .map_or(req.datalen, |i| i.value().len()),
        _ => req.datalen,
    });
    Some((status, SetFacts { cas, size }))
}

fn get(req: &Request<'_>, out: &mut SendQueue<Pinned>, pool: &mut BufferPool, ctx: &Ctx<'_>) {
    let f = &req.flags;
    let read = MetaRead {
        bump: !f.no_bump,
        touch: f.set_ttl,
        vivify: f.vivify.map(|n| (n, f.new_cas)),
    };
    let found = ctx.store.meta_get(req.key(), read);
    if req.opaque_too_long() {
        // memcached notices only while composing the reply: the lookup has counted.
        let counter = match found {
            Some(_) if f.set_ttl.is_some() => &ctx.worker.cmd_touch,
            _ => &ctx.worker.cmd_get,
        };
        WorkerStats::bump(counter, 1);
        out.push_copy(pool, MetaError::OpaqueTooLong.reply());
        return;
    }
    let Some((item, created)) = found else {
        WorkerStats::bump(&ctx.worker.cmd_get, 1);
        if !f.quiet {
            if f.key || f.opaque.is_some() {
                let facts = Facts {
                    key: Some(req.key()),
                    binary_key: f.base64,
                    ..Facts::default()
                };
                compose(out, pool, |o| {
                    meta::write_status(o, Status::Miss, f, &facts)
                });
            } else {
                out.push_copy(pool, EN);
            }
        }
        return;
    };
    // memcached counts a hit with T as a touch.
    let counter = if f.set_ttl.is_some() {
        &ctx.worker.cmd_touch
    } else {
        &ctx.worker.cmd_get
    };
    WorkerStats::bump(counter, 1);
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
        if ctx.store.claim_win(&item) {
            won = true;
        } else {
            // Another client won between our read and our claim.
            already_won = true;
        }
    }
    let value_len = item.value().len();
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
        compose(out, pool, |o| {
            meta::write_status(o, Status::Stored, f, &facts)
        });
        return;
    }
    value(item, f, &facts, out, pool);
}

/// `R<n>` as memcached compares it: an exptime, so beyond 30 days an absolute time.
fn recache_window(r: i64) -> i64 {
    if r > RELATIVE_MAX {
        r - crate::stats::unix_now() as i64
    } else {
        r
    }
}

/// `VA <len> <flags>\r\n<data>\r\n`, small values copied, large ones pinned.
fn value(
    mut item: ItemRef<'static>,
    f: &meta::Flags<'_>,
    facts: &Facts<'_>,
    out: &mut SendQueue<Pinned>,
    pool: &mut BufferPool,
) {
    let len = item.value().len();
    if len <= COPY_MAX || !item.hold() {
        compose(out, pool, |o| {
            meta::write_status(o, Status::Value(len), f, facts);
            o.extend_from_slice(item.value());
            o.extend_from_slice(b"\r\n");
        });
    } else {
        compose(out, pool, |o| {
            meta::write_status(o, Status::Value(len), f, facts)
        });
        out.push_pinned(Pinned(item));
        out.push_copy(pool, b"\r\n");
    }
}

fn delete(req: &Request<'_>, out: &mut SendQueue<Pinned>, pool: &mut BufferPool, ctx: &Ctx<'_>) {
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
    let status = match ctx.store.meta_delete(req.key(), d) {
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
    compose(out, pool, |o| meta::write_status(o, status, f, &facts));
}

fn arithmetic(
    req: &Request<'_>,
    out: &mut SendQueue<Pinned>,
    pool: &mut BufferPool,
    ctx: &Ctx<'_>,
) {
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
    let outcome = ctx.store.meta_delta(req.key(), m);
    if req.opaque_too_long()
        && !matches!(
            outcome,
            MetaDeltaOutcome::NonNumeric | MetaDeltaOutcome::NoMemory
        )
    {
        // memcached notices only while composing the reply, after the arithmetic.
        out.push_copy(pool, MetaError::OpaqueTooLong.reply());
        return;
    }
    let status = match outcome {
        MetaDeltaOutcome::Value {
            value, cas, ttl, ..
        } => {
            if f.quiet {
                return;
            }
            facts.cas = Some(cas);
            facts.ttl = Some(ttl);
            if f.value {
                let digits = value.checked_ilog10().map_or(1, |d| d as usize + 1);
                compose(out, pool, |o| {
                    meta::write_status(o, Status::Value(digits), f, &facts);
                    // Writing to a Vec cannot fail.
                    let _ = write!(o, "{value}\r\n");
                });
                return;
            }
            Status::Stored
        }
        MetaDeltaOutcome::NotFound => Status::NotFound,
        MetaDeltaOutcome::Exists => Status::Exists,
        MetaDeltaOutcome::NonNumeric => return out.push_copy(pool, NON_NUMERIC),
        MetaDeltaOutcome::NoMemory => return out.push_copy(pool, OUT_OF_MEMORY),
    };
    compose(out, pool, |o| meta::write_status(o, status, f, &facts));
}

/// `me`: memcached's debug line. Corvid has no slab classes; `cls` is the class
/// memcached's default slab sizes would give an item of this size.
fn debug(req: &Request<'_>, out: &mut SendQueue<Pinned>, pool: &mut BufferPool, ctx: &Ctx<'_>) {
    WorkerStats::bump(&ctx.worker.cmd_meta, 1);
    let Some(item) = ctx.store.peek(req.key()) else {
        out.push_copy(pool, EN);
        return;
    };
    let ttl = item.ttl_remaining();
    let size = memcached_item_size(
        item.key().len(),
        item.value().len(),
        item.flags(),
        ctx.store.config().cas_enabled,
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
    compose(out, pool, |o| meta::write_debug(o, &d));
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
