//! What the proxy answers itself: `version`, `stats` (the proxy's own counters, and
//! `stats backends` for each backend), `flush_all` (sent to every server of the pools a
//! listener reaches, only when they all allow it).

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use protocol::binary::{self, ResponseHeader, Status};
use protocol::text::{self, Keys};
use server::runtime::{ConnId, Reply};

use super::super::chunk::{Chunk, ChunkPool};
use super::super::health_name;
use super::super::link::{Expect, Pending};
use super::super::message::{Message, Sink};
use super::super::slots::{Broadcast, SlotState};
use super::send;
use super::{ClientHandler, Cx};

/// The proxy's version, as `version` answers it.
pub(super) fn version_line() -> Vec<u8> {
    format!("VERSION {}\r\n", env!("CARGO_PKG_VERSION")).into_bytes()
}

/// The proxy's version string (binary VERSION's body).
pub(super) fn version() -> &'static [u8] {
    env!("CARGO_PKG_VERSION").as_bytes()
}

/// Whether `flush_all` may go to the servers the client's listener reaches.
pub(super) fn flush_allowed(client: &ClientHandler, cx: &mut Cx<'_>) -> bool {
    let route = client.route(cx);
    cx.local().loaded.config.flush_targets(route).is_some()
}

/// `flush_all`: `line` (the request as it goes to each server) to every server of the
/// listener's pools when they allow it; else memcached's refusal of a disabled flush.
pub(super) fn flush_all(
    client: &mut ClientHandler,
    line: &[u8],
    noreply: bool,
    binary: Option<(u8, u32, bool)>,
    reply: &mut Reply<'_, Chunk>,
    cx: &mut Cx<'_>,
) {
    let me = cx.id().unwrap_or(ConnId::new(0, 0));
    let route = client.route(cx);
    let Some(servers) = cx.local().loaded.config.flush_targets(route) else {
        match binary {
            Some((opcode, opaque, _)) => {
                let mut buf = Vec::new();
                binary::write_error(&mut buf, opcode, Status::AuthError, opaque);
                client.local_reply(&buf, reply, cx);
            }
            None => {
                if !noreply {
                    client.local_reply(text::CLIENT_ERROR_FLUSH_NOT_ALLOWED, reply, cx);
                }
            }
        }
        return;
    };
    let mut keys = Vec::with_capacity(servers.len());
    for &server in &servers {
        keys.push(send::link_for(server, me, false, cx));
    }
    let seq = client.slots.push(SlotState::Broadcast(Broadcast {
        waiting: servers.len() as u16,
        noreply,
        failure: None,
        binary,
    }));
    let now = Instant::now();
    let (local, mut out) = cx.local_and_outbox();
    let parts: &[&[u8]] = if noreply {
        &[line, super::send::NOOP]
    } else {
        &[line]
    };
    for (sub, key) in keys.into_iter().enumerate() {
        let sub = sub as u16;
        match key {
            Ok(key) => {
                let pending = Pending {
                    sink: Sink::Client { id: me, seq, sub },
                    expect: if noreply {
                        Expect::UntilNoop { meta: false }
                    } else {
                        Expect::Line
                    },
                    sent: now,
                    bytes: line.len() as u32,
                };
                local.send(key, parts, pending, &mut out);
            }
            Err(why) => out.complete(
                me,
                Message::Failed {
                    seq,
                    sub,
                    why: why.unwrap_or(super::super::message::Failure::Connect),
                },
            ),
        }
    }
}

/// One server answered a broadcast; once all have, the client gets `OK` (or the first
/// failure).
pub(super) fn broadcast_part_done(
    b: &mut Broadcast,
    out: &mut VecDeque<Chunk>,
    done: &mut bool,
    pool: &ChunkPool,
) {
    b.waiting = b.waiting.saturating_sub(1);
    if b.waiting > 0 {
        return;
    }
    *done = true;
    let mut buf = pool.take();
    match (b.binary, b.failure.take()) {
        (None, Some(line)) => buf.extend_from_slice(&line),
        (None, None) if !b.noreply => buf.extend_from_slice(text::OK),
        (None, None) => {}
        (Some((opcode, opaque, quiet)), failure) => {
            if failure.is_some() {
                let message = b"flush failed";
                binary::write_header(
                    &mut buf,
                    &ResponseHeader {
                        opcode,
                        status: Status::OutOfMemory,
                        extras_len: 0,
                        key_len: 0,
                        body_len: message.len() as u32,
                        opaque,
                        cas: 0,
                    },
                );
                buf.extend_from_slice(message);
            } else if !quiet {
                binary::write_header(
                    &mut buf,
                    &ResponseHeader {
                        opcode,
                        status: Status::Success,
                        extras_len: 0,
                        key_len: 0,
                        body_len: 0,
                        opaque,
                        cas: 0,
                    },
                );
            }
        }
    }
    if !buf.is_empty() {
        out.push_back(pool.chunk(buf, 0));
    }
}

/// `stats [group]`: the proxy's own statistics as STAT lines and END.
pub(super) fn stats_text(args: Keys<'_>, cx: &mut Cx<'_>) -> Vec<u8> {
    let mut args = args;
    let mut out = Vec::with_capacity(2048);
    match args.next() {
        None => general(&mut out, cx),
        Some(b"backends") | Some(b"proxy") => backends(&mut out, cx),
        Some(b"reset") => return text::RESET.to_vec(),
        // memcached's answer while its size histogram is off (`-o track_sizes`), which
        // it is unless asked for; the proxy stores nothing to track.
        Some(b"sizes") => stat(&mut out, "sizes_status", "disabled"),
        // The proxy keeps no per-prefix counters: turning them on or off is accepted
        // (as memcached answers) and the dump is empty.
        Some(b"detail") => match args.next() {
            Some(b"on") | Some(b"off") => return text::OK.to_vec(),
            Some(b"dump") => {}
            _ => return text::ERROR.to_vec(),
        },
        Some(_) => return text::ERROR.to_vec(),
    }
    out.extend_from_slice(text::END);
    out
}

fn stat(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    let _ = write!(out, "STAT {name} {value}\r\n");
}

fn general(out: &mut Vec<u8>, cx: &mut Cx<'_>) {
    let service = cx.service();
    let runtime = cx.runtime();
    let totals = runtime.totals();
    let s = &service.stats;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    stat(out, "pid", std::process::id());
    stat(out, "uptime", service.started.elapsed().as_secs());
    stat(out, "time", now);
    stat(out, "version", env!("CARGO_PKG_VERSION"));
    stat(out, "proxy", "corvid");
    stat(out, "threads", cx.config().threads);
    stat(
        out,
        "curr_connections",
        runtime.curr_connections.load(Relaxed),
    );
    stat(out, "total_connections", totals.total_connections);
    stat(
        out,
        "rejected_connections",
        runtime.rejected_connections.load(Relaxed),
    );
    stat(out, "bytes_read", totals.bytes_read);
    stat(out, "bytes_written", totals.bytes_written);
    stat(out, "cmd_get", s.sum(|c| &c.cmd_get));
    stat(out, "cmd_set", s.sum(|c| &c.cmd_set));
    stat(out, "cmd_other", s.sum(|c| &c.cmd_other));
    stat(out, "cmd_local", s.sum(|c| &c.cmd_local));
    stat(out, "backend_errors", s.sum(|c| &c.backend_errors));
    stat(out, "failed_keys", s.sum(|c| &c.failed_keys));
    let local = cx.local();
    stat(out, "config_generation", local.loaded.generation);
    stat(out, "config_reloads", service.stats.reloads.load(Relaxed));
    stat(
        out,
        "config_reload_failures",
        service.stats.reload_failures.load(Relaxed),
    );
    stat(out, "pools", local.loaded.config.pools.len());
    stat(out, "backends", local.loaded.backends.len());
}

/// One block of lines per backend: `STAT <pool>:<server>:<field> <value>`.
fn backends(out: &mut Vec<u8>, cx: &mut Cx<'_>) {
    let local = cx.local();
    for (flat, backend) in local.loaded.backends.iter().enumerate() {
        let s = &local.backend_stats[flat];
        let name = &backend.key;
        let mut field = |f: &str, v: &dyn std::fmt::Display| {
            let _ = write!(out, "STAT {name}:{f} {v}\r\n");
        };
        let status = health_name(local.health.status(backend.server));
        field("address", &display_addr(&backend.addr));
        field("status", &status);
        field("requests", &s.sum(|c| &c.requests));
        field("request_bytes", &s.sum(|c| &c.request_bytes));
        field("responses", &s.sum(|c| &c.responses));
        field("response_bytes", &s.sum(|c| &c.response_bytes));
        field("errors", &s.sum(|c| &c.errors));
        field("eof", &s.sum(|c| &c.eof));
        field("timeouts", &s.sum(|c| &c.timeouts));
        field("ejections", &s.sum(|c| &c.ejections));
        field("ejected_at", &s.max(|c| &c.ejected_at));
        field("connections", &s.sum(|c| &c.connections));
        field("in_flight", &s.sum(|c| &c.in_flight));
        field("pauses", &s.sum(|c| &c.pauses));
        field("latency_p50_us", &s.percentile(50.0));
        field("latency_p90_us", &s.percentile(90.0));
        field("latency_p99_us", &s.percentile(99.0));
        field("latency_p999_us", &s.percentile(99.9));
    }
}

fn display_addr(addr: &super::super::loaded::BackendAddr) -> String {
    match addr {
        super::super::loaded::BackendAddr::Tcp(a) => a.to_string(),
        super::super::loaded::BackendAddr::Unix(p) => p.display().to_string(),
    }
}
