//! The cache's [`Handler`]: picks the protocol from a connection's first byte, hands each
//! request to the text (and meta) or binary half, and finishes values the session read
//! into their reservation.

use super::binary;
use super::command_kind::CommandKind;
use super::dump;
use super::log::streams;
use super::log_writer;
use super::login;
use super::meta;
use super::sasl;
use super::service::Cache;
use super::state::{CacheHandler, Cx, Dialect, Finish, State};
use super::text;
use super::tier::DiskDone;
use super::value::Pinned;
use super::waiting::Then;
use super::watch::Watching;
use crate::runtime::{bump, CloseReason, Handler, Reply, Verdict};

impl Handler for CacheHandler {
    type Service = Cache;
    /// A disk read done: the value of a key whose value is on disk.
    type Completion = DiskDone;
    type Payload = Pinned;

    #[inline]
    fn step(&mut self, input: &[u8], reply: &mut Reply<'_, Pinned>, cx: &mut Cx<'_>) -> Verdict {
        if cx.service().log.wants(!0) {
            cx.local().cfd = self.peer.cfd;
        }
        match self.state {
            State::Idle => {}
            State::Value { .. } => return self.value_arrived(input, reply, cx),
            State::Lookups { resume } => {
                return text::resume(input, resume, Some(reply), &mut self.state, cx)
            }
            State::Dump(dump) => {
                let progress = dump::step(dump, reply, State::dump_limits(cx));
                return self.state.after_dump(progress);
            }
            // Parked sessions are resumed, not stepped; should one be, it stays parked.
            State::Disk(_) => return Verdict::Park { consumed: 0 },
            State::Watching(_) => return Watching::step(input),
        }
        match self.dialect {
            Dialect::Text if !self.login.authenticated => {
                login::step(input, reply, &mut self.login.authenticated, cx)
            }
            Dialect::Text => text::step(input, reply, &mut self.state, cx),
            Dialect::Binary if cx.config().sasl.is_some() => {
                match sasl::step(input, reply, &mut self.login, cx) {
                    Some(verdict) => verdict,
                    None => {
                        let kind = CommandKind::of_opcode(input.get(1).copied().unwrap_or(0));
                        text::answered(kind, binary::step(input, reply, &mut self.state, cx), cx)
                    }
                }
            }
            Dialect::Binary => {
                let kind = CommandKind::of_opcode(input.get(1).copied().unwrap_or(0));
                text::answered(kind, binary::step(input, reply, &mut self.state, cx), cx)
            }
            Dialect::Undecided => {
                let Some(&first) = input.first() else {
                    return Verdict::NeedBytes(1);
                };
                // memcached's -B auto: 0x80 is a binary request magic.
                self.dialect = if first == protocol::binary::REQUEST_MAGIC {
                    Dialect::Binary
                } else {
                    Dialect::Text
                };
                self.step(input, reply, cx)
            }
        }
    }

    /// A disk read is done: answer what is ready, in order; once everything is, finish
    /// the request (or run it again, its value now in RAM).
    fn resume(
        &mut self,
        done: DiskDone,
        input: &[u8],
        reply: &mut Reply<'_, Pinned>,
        cx: &mut Cx<'_>,
    ) -> Verdict {
        let cache = cx.service();
        if cache.log.wants(!0) {
            cx.local().cfd = self.peer.cfd;
        }
        let (State::Disk(waiting), Some(tier)) = (&mut self.state, cache.tier.as_ref()) else {
            return Verdict::Continue;
        };
        if !waiting.arrived(done, tier, cache.store, || cx.ticket()) {
            return Verdict::Park { consumed: 0 };
        }
        if !waiting.flush(reply, tier, cache.store, text::queue_hit) {
            return Verdict::Park { consumed: 0 };
        }
        let then = waiting.then;
        self.state = State::Idle;
        match then {
            Then::Done | Then::Again => Verdict::Continue,
            Then::TextGet {
                consumed,
                resume: None,
            } => {
                reply.line(protocol::text::END);
                Verdict::Consumed(consumed)
            }
            Then::TextGet {
                resume: Some(at), ..
            } => text::resume(input, at, Some(reply), &mut self.state, cx),
        }
    }

    #[inline]
    fn target(&mut self) -> &mut [u8] {
        match &mut self.state {
            State::Value { reservation, .. } => reservation.value_mut(),
            _ => &mut [],
        }
    }

    /// A watcher's pump is due; nothing else of the cache sets deadlines.
    fn expired(
        &mut self,
        _input: &[u8],
        reply: &mut Reply<'_, Pinned>,
        cx: &mut Cx<'_>,
    ) -> Verdict {
        match &mut self.state {
            State::Watching(w) => {
                let next = w.wake(&cx.service().log, reply);
                cx.set_deadline(next);
                Verdict::Continue
            }
            _ => Verdict::Close,
        }
    }

    /// `watch connevents` hears of it. memcached closes a watcher from its logger
    /// thread without a reason, which it logs as `error`.
    fn closing(&mut self, why: CloseReason, cx: &mut Cx<'_>) {
        if cx.service().log.wants(streams::CONNEVENTS) {
            let why = match self.state {
                State::Watching(_) => CloseReason::Error,
                _ => why,
            };
            log_writer::connection(cx.local(), &self.peer, Some(why));
        }
    }

    /// A reservation is dropped without a trace. A multi-get paused at the watermark
    /// still looks up (and counts) the rest of its keys, as memcached composes a whole
    /// multi-get before writing any of it.
    fn gone(&mut self, input: &[u8], cx: &mut Cx<'_>) {
        let resume = match std::mem::replace(&mut self.state, State::Idle) {
            State::Lookups { resume } => Some(resume),
            // Reads in flight complete to nobody (the runtime drops them); pins held for
            // the waiting replies go now.
            State::Disk(waiting) => {
                let resume = match waiting.then {
                    Then::TextGet { resume, .. } => resume,
                    _ => None,
                };
                if let Some(tier) = cx.service().tier.as_ref() {
                    waiting.abandon(tier);
                }
                resume
            }
            State::Watching(w) => {
                w.stop(&cx.service().log);
                None
            }
            _ => None,
        };
        if let Some(resume) = resume {
            text::resume(input, resume, None, &mut self.state, cx);
        }
        self.state = State::Idle;
    }

    /// Waiting for a command: like memcached, this includes a command line, or a binary
    /// header, extras and key, begun but not finished (a slowloris client), but not a
    /// value being waited for.
    fn idle(&self, input: &[u8]) -> bool {
        if !matches!(self.state, State::Idle) {
            return false;
        }
        let mid_command = match self.dialect {
            Dialect::Binary => {
                protocol::binary::Header::parse(input).is_some_and(|h| input.len() >= h.head_len())
            }
            Dialect::Text | Dialect::Undecided => input.contains(&b'\n'),
        };
        !mid_command
    }

    fn busy(&self) -> bool {
        matches!(self.state, State::Lookups { .. } | State::Dump(_))
    }
}

impl CacheHandler {
    /// The session filled the reservation: check the terminator (text and meta), commit,
    /// answer.
    fn value_arrived(
        &mut self,
        input: &[u8],
        reply: &mut Reply<'_, Pinned>,
        cx: &mut Cx<'_>,
    ) -> Verdict {
        let terminator = match &self.state {
            State::Value { finish, .. } => finish.terminator_len(),
            _ => 0,
        };
        if input.len() < terminator {
            return Verdict::NeedBytes(terminator - input.len());
        }
        let terminated = input[..terminator] == b"\r\n"[..terminator];
        let State::Value {
            reservation,
            finish,
        } = std::mem::replace(&mut self.state, State::Idle)
        else {
            return Verdict::Continue;
        };
        bump(&cx.service().counters(cx.worker()).cmd_set, 1);
        let kind = match &finish {
            Finish::Text { mode, .. } => CommandKind::of_store(*mode),
            Finish::Meta { .. } => CommandKind::Ms,
            Finish::Binary(commit) => CommandKind::of_opcode(commit.opcode),
        };
        cx.served(kind.index());
        match finish {
            Finish::Text {
                mode,
                noreply,
                exptime,
            } if terminated
                && cx
                    .service()
                    .log
                    .wants(streams::FETCHERS | streams::MUTATIONS) =>
            {
                let mut reservation = reservation;
                let size = reservation.value_mut().len();
                let key = log_writer::KeyCopy::of(reservation.key());
                let key = key.key();
                log_writer::before_store(key, cx);
                if let Some(outcome) = text::finish(reservation, mode, noreply, terminated, reply) {
                    let attempt = log_writer::Attempt {
                        key,
                        mode,
                        exptime,
                        size,
                    };
                    log_writer::after_store(
                        &attempt,
                        log_writer::status_of::<store::StoreError>(&Ok(outcome)),
                        cx,
                    );
                }
            }
            Finish::Text { mode, noreply, .. } => {
                text::finish(reservation, mode, noreply, terminated, reply);
            }
            Finish::Meta { line } => meta::finish(&line, reservation, terminated, reply, cx),
            Finish::Binary(commit) => binary::finish(reservation, commit, reply, cx),
        }
        Verdict::Consumed(terminator)
    }
}
