//! Text clients: classic commands (meta lines go to `meta`). A well-formed request is
//! forwarded as the client wrote it, so the backend's reply is what one memcached would
//! send; a malformed one gets the error the server's own parser gives, without a
//! backend. Multi-gets whose keys live on several servers are split ([`MultiGet`]).

use protocol::text::{self, GetKind, Keys, Request, StoreCommand};
use server::runtime::{ConnId, Reply, Verdict};

use super::super::chunk::Chunk;
use super::super::forward::Format;
use super::super::link::{Expect, Pending};
use super::super::message::{Failure, Message, Sink};
use super::super::multiget::MultiGet;
use super::super::slots::SlotState;
use super::send::{self, read_errors, sent, with_data, Outgoing, NOOP};
use super::{local, meta, ClientHandler, Cx};
use crate::pool::{ReadErrors, ServerRef};
use crate::route::{Decision, Operation};

pub(super) fn step(
    client: &mut ClientHandler,
    input: &[u8],
    reply: &mut Reply<'_, Chunk>,
    cx: &mut Cx<'_>,
) -> Verdict {
    if let Some((line, consumed)) = protocol::meta::meta_line(input) {
        return meta::step(client, line, consumed, input, reply, cx);
    }
    match text::parse(input) {
        text::Parse::Request { request, consumed } => {
            execute(client, request, consumed, input, reply, cx)
        }
        text::Parse::Incomplete { close: false } => Verdict::NeedBytes(1),
        // An over-long line or an HTTP request: memcached closes.
        text::Parse::Incomplete { close: true } => Verdict::Broken,
        text::Parse::Error {
            error,
            consumed,
            attempted,
        } => {
            let line = if attempted == text::Attempt::Flush
                && error != text::ProtocolError::Silenced
                && !local::flush_allowed(client, cx)
            {
                text::CLIENT_ERROR_FLUSH_NOT_ALLOWED
            } else {
                error.reply()
            };
            client.local_reply(line, reply, cx);
            Verdict::Consumed(consumed)
        }
    }
}

fn execute(
    client: &mut ClientHandler,
    request: Request<'_>,
    consumed: usize,
    input: &[u8],
    reply: &mut Reply<'_, Chunk>,
    cx: &mut Cx<'_>,
) -> Verdict {
    let worker = cx.worker();
    let stats = &cx.service().stats;
    match request {
        Request::Get { kind, keys } => {
            retrieval(client, kind, None, keys, consumed, input, reply, cx)
        }
        Request::Gat {
            kind,
            exptime,
            keys,
        } => retrieval(
            client,
            kind,
            Some(exptime),
            keys,
            consumed,
            input,
            reply,
            cx,
        ),
        Request::Store {
            command,
            key,
            bytes,
            noreply,
            ..
        } => {
            stats.worker(worker).add(|c| &c.cmd_set, 1);
            let op = match command {
                StoreCommand::Cas => Operation::CompareAndSwap,
                _ => Operation::Write,
            };
            with_data(
                client,
                key,
                op,
                consumed,
                bytes.saturating_add(2),
                noreply,
                false,
                input,
                cx,
            )
        }
        Request::Delete { key, noreply } => {
            stats.worker(worker).add(|c| &c.cmd_other, 1);
            line(client, key, Operation::Delete, consumed, noreply, input, cx)
        }
        Request::Delta { key, noreply, .. } => {
            stats.worker(worker).add(|c| &c.cmd_other, 1);
            line(
                client,
                key,
                Operation::Arithmetic,
                consumed,
                noreply,
                input,
                cx,
            )
        }
        Request::Touch { key, noreply, .. } => {
            stats.worker(worker).add(|c| &c.cmd_other, 1);
            line(client, key, Operation::Touch, consumed, noreply, input, cx)
        }
        Request::FlushAll { noreply, .. } => {
            local::flush_all(client, &input[..consumed], noreply, None, reply, cx);
            Verdict::Consumed(consumed)
        }
        Request::Version => {
            client.local_reply(&local::version_line(), reply, cx);
            Verdict::Consumed(consumed)
        }
        Request::Verbosity { noreply } => {
            if !noreply {
                client.local_reply(text::OK, reply, cx);
            }
            Verdict::Consumed(consumed)
        }
        Request::Quit => {
            client.quitting = true;
            if client.slots.is_empty() {
                Verdict::Close
            } else {
                Verdict::Park { consumed }
            }
        }
        // The proxy is not stopped by its clients.
        Request::Shutdown { .. } => {
            client.local_reply(text::SHUTDOWN_NOT_ENABLED, reply, cx);
            Verdict::Consumed(consumed)
        }
        Request::Stats { args } => {
            let text = local::stats_text(args, cx);
            client.local_reply(&text, reply, cx);
            Verdict::Consumed(consumed)
        }
        // Per-server administration; the proxy has no cache of its own.
        Request::Watch { .. }
        | Request::LruCrawler { .. }
        | Request::Slabs { .. }
        | Request::Extstore { .. }
        | Request::RefreshCerts => {
            client.local_reply(text::ERROR, reply, cx);
            Verdict::Consumed(consumed)
        }
    }
}

/// A one-line request for one key (`delete`, `incr`, `decr`, `touch`).
fn line(
    client: &mut ClientHandler,
    key: &[u8],
    op: Operation,
    consumed: usize,
    noreply: bool,
    input: &[u8],
    cx: &mut Cx<'_>,
) -> Verdict {
    let parts: &[&[u8]] = if noreply {
        &[&input[..consumed], NOOP]
    } else {
        &[&input[..consumed]]
    };
    let expect = if noreply {
        Expect::UntilNoop { meta: false }
    } else {
        Expect::Line
    };
    let out = Outgoing {
        key,
        op,
        parts,
        streamed: 0,
        expect,
        format: Format::Verbatim { miss: None },
    };
    sent(send::forward(client, out, cx), consumed)
}

/// `get`, `gets`, `gat`, `gats`: forwarded as they are when every key lives on one
/// server, else split.
#[allow(clippy::too_many_arguments)]
fn retrieval(
    client: &mut ClientHandler,
    kind: GetKind,
    exptime: Option<i64>,
    keys: Keys<'_>,
    consumed: usize,
    input: &[u8],
    reply: &mut Reply<'_, Chunk>,
    cx: &mut Cx<'_>,
) -> Verdict {
    let op = if exptime.is_some() {
        Operation::Touch
    } else {
        Operation::Read
    };
    let worker = cx.worker();
    let route = client.route(cx);
    let mut first = None;
    let mut count = 0u64;
    let mut one_server = true;
    let mut simple = true;
    {
        let local = cx.local();
        for key in keys {
            count += 1;
            let entropy = local.entropy();
            let decision = local
                .loaded
                .config
                .route(route, &local.health, key, op, entropy);
            let server = match decision {
                Decision::Forward(f) => {
                    simple &= f.targets.len() == 1 && f.shadow.is_none();
                    Some(f.targets[0])
                }
                Decision::Refuse(_) => None,
            };
            match first {
                None => first = Some(server),
                Some(s) if s == server => {}
                Some(_) => {
                    one_server = false;
                    break;
                }
            }
        }
    }
    cx.service().stats.worker(worker).add(|c| &c.cmd_get, count);
    let Some(first_key) = keys.clone().next() else {
        // `gat 10` with no key: memcached answers END.
        client.local_reply(text::END, reply, cx);
        return Verdict::Consumed(consumed);
    };
    let errors = read_errors(client, cx);
    let miss = match errors {
        ReadErrors::Miss => Some(text::END),
        ReadErrors::Error => None,
    };
    if count == 1 || (one_server && simple) {
        let out = Outgoing {
            key: first_key,
            op,
            parts: &[&input[..consumed]],
            streamed: 0,
            expect: Expect::Retrieval,
            format: Format::Verbatim { miss },
        };
        return sent(send::forward(client, out, cx), consumed);
    }
    split(client, kind, exptime, keys, errors, consumed, cx)
}

/// A multi-get over several servers: one part per server, reassembled in key order.
#[allow(clippy::too_many_arguments)]
fn split(
    client: &mut ClientHandler,
    kind: GetKind,
    exptime: Option<i64>,
    keys: Keys<'_>,
    errors: ReadErrors,
    consumed: usize,
    cx: &mut Cx<'_>,
) -> Verdict {
    let me = cx.id().unwrap_or(ConnId::new(0, 0));
    let route = client.route(cx);
    let mut command = [0u8; 32];
    let command_len = command_prefix(kind, exptime, &mut command);
    let command = &command[..command_len];
    let op = if exptime.is_some() {
        Operation::Touch
    } else {
        Operation::Read
    };
    let line = cx.local().pool.take();
    let mut m = MultiGet::new(command, line, errors == ReadErrors::Error);
    let mut servers: Vec<ServerRef> = Vec::new();
    {
        let local = cx.local();
        for key in keys {
            let entropy = local.entropy();
            match local
                .loaded
                .config
                .route(route, &local.health, key, op, entropy)
            {
                Decision::Forward(f) => {
                    let server = f.targets[0];
                    let part = match servers.iter().position(|&s| s == server) {
                        Some(p) => p,
                        None => {
                            servers.push(server);
                            servers.len() - 1
                        }
                    };
                    m.add_key(key, part as u16);
                }
                Decision::Refuse(_) => m.add_refused(key, Failure::Down),
            }
        }
    }
    // Every connection first: a part that must wait leaves nothing sent.
    let mut links = Vec::with_capacity(servers.len());
    for &server in &servers {
        links.push(match send::link_for(server, me, true, cx) {
            Ok(key) => Ok(key),
            Err(None) => return Verdict::Park { consumed: 0 },
            Err(Some(f)) => Err(f),
        });
    }
    let failed_now = m.failed_keys;
    let seq = client.slots.push(SlotState::MultiGet(Box::new(m)));
    let (local, mut out) = cx.local_and_outbox();
    let now = local.now;
    let parts = servers.len();
    if let Some(slot) = client.slots.get_mut(seq) {
        let SlotState::MultiGet(m) = &mut slot.state else {
            unreachable!("just pushed");
        };
        for (part, link) in links.iter().enumerate() {
            let part = part as u16;
            match *link {
                Ok(key) => {
                    let pending = Pending {
                        sink: Sink::Client {
                            id: me,
                            seq,
                            sub: part,
                        },
                        expect: Expect::Retrieval,
                        sent: now,
                        bytes: 0,
                    };
                    local.send_with(key, |buf| m.write_part(part, buf), pending, &mut out);
                }
                Err(why) => out.complete(
                    me,
                    Message::Failed {
                        seq,
                        sub: part,
                        why,
                    },
                ),
            }
        }
        if parts == 0 {
            // Every key was refused: the reply is complete already.
            let pool = local.pool.clone();
            slot.done = m.emit(&mut slot.out, &pool);
        }
    }
    let worker = local.index;
    if let Some(p) = send::route_pool(&local.loaded.config, route) {
        local.pool_stats[p]
            .worker(worker)
            .add(|c| &c.fragments, parts as u64);
    }
    if failed_now > 0 {
        cx.service()
            .stats
            .worker(worker)
            .add(|c| &c.failed_keys, failed_now);
    }
    Verdict::Consumed(consumed)
}

/// `get`, `gets`, `gat <exptime>` or `gats <exptime>` into `out`; its length.
fn command_prefix(kind: GetKind, exptime: Option<i64>, out: &mut [u8; 32]) -> usize {
    let name: &[u8] = match (kind, exptime) {
        (GetKind::Get, None) => b"get",
        (GetKind::Gets, None) => b"gets",
        (GetKind::Get, Some(_)) => b"gat",
        (GetKind::Gets, Some(_)) => b"gats",
    };
    out[..name.len()].copy_from_slice(name);
    let mut n = name.len();
    if let Some(e) = exptime {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(e).as_bytes();
        out[n] = b' ';
        out[n + 1..n + 1 + digits.len()].copy_from_slice(digits);
        n += 1 + digits.len();
    }
    n
}
