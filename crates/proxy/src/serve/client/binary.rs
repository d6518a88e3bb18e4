//! Binary clients. Backends are spoken to in text and meta, so each binary request is
//! judged as memcached judges it (its header first: `protocol::binary::check`), then
//! turned into the meta request that does the same thing, and the meta reply into the
//! binary response ([`BinaryReply`]). Keys a text line cannot carry (spaces, control
//! bytes) travel base64-encoded (`b`). Values stream through like text values.
//!
//! | binary | meta |
//! |---|---|
//! | GET, GETK, GAT, GATK (and quiet) | `mg <key> [T<exptime>] v f c` |
//! | TOUCH | `mg <key> T<exptime> f c` |
//! | SET, ADD, REPLACE | `ms <key> <len> F<flags> T<exptime> c M<S/E/R> [C<cas>]` |
//! | APPEND, PREPEND | `ms <key> <len> c M<A/P> [C<cas>]` |
//! | DELETE | `md <key> [C<cas>]` |
//! | INCREMENT, DECREMENT | `ma <key> M<I/D> D<delta> v c [N<exptime> J<initial>] [C<cas>]` |
//!
//! Quiet forms are sent as their loud meta twin; the proxy drops what memcached drops
//! (successes, and misses of quiet gets). NOOP, VERSION, STAT and QUIT are answered by
//! the proxy, FLUSH goes to every server like `flush_all`.

use std::io::Write as _;

use protocol::binary::{
    self, Command, Extras, Frame, Header, Request, Status, StoreKind, HEADER_LEN,
};
use protocol::text;
use server::runtime::{Reply, Verdict};

use super::super::backend::STREAM_AT;
use super::super::binary_reply::{BinaryKind, BinaryReply};
use super::super::chunk::Chunk;
use super::super::forward::Format;
use super::super::link::Expect;
use super::send::{self, Outgoing, Sent};
use super::{local, ClientHandler, Cx};
use crate::pool::ReadErrors;
use crate::route::Operation;

pub(super) fn step(
    client: &mut ClientHandler,
    input: &[u8],
    reply: &mut Reply<'_, Chunk>,
    cx: &mut Cx<'_>,
) -> Verdict {
    let Some(header) = Header::parse(input) else {
        return Verdict::NeedBytes(HEADER_LEN - input.len());
    };
    let head = header.head_len();
    match binary::check(&header) {
        Frame::Command(command) => match binary::decode(&header, command, input) {
            Some(request) => execute(client, &request, head, input, reply, cx),
            None => Verdict::NeedBytes(head.saturating_sub(input.len()).max(1)),
        },
        // Not a request: memcached closes at once, losing this read's replies.
        Frame::Drop => {
            client.drop_read();
            client.pump(reply);
            Verdict::Broken
        }
        Frame::Fatal(status) => {
            let mut buf = Vec::new();
            binary::write_error(&mut buf, header.opcode, status, header.opaque);
            client.local_reply(&buf, reply, cx);
            client.quitting = true;
            if client.slots.is_empty() {
                Verdict::Close
            } else {
                Verdict::Park {
                    consumed: input.len(),
                }
            }
        }
        Frame::Unknown { swallow } => {
            let mut buf = Vec::new();
            binary::write_error(
                &mut buf,
                header.opcode,
                Status::UnknownCommand,
                header.opaque,
            );
            client.local_reply(&buf, reply, cx);
            Verdict::Swallow(head.saturating_add(swallow))
        }
    }
}

fn execute(
    client: &mut ClientHandler,
    r: &Request<'_>,
    head: usize,
    input: &[u8],
    reply: &mut Reply<'_, Chunk>,
    cx: &mut Cx<'_>,
) -> Verdict {
    let worker = cx.worker();
    let stats = &cx.service().stats;
    let mut line = cx.local().pool.take();
    let (kind, op) = match r.command {
        Command::Get { with_key, quiet } => {
            stats.worker(worker).add(|c| &c.cmd_get, 1);
            meta_line(&mut line, b"mg", r.key, None);
            line.extend_from_slice(b" v f c\r\n");
            (BinaryKind::Get { with_key, quiet }, Operation::Read)
        }
        Command::GetAndTouch { with_key, quiet } => {
            stats.worker(worker).add(|c| &c.cmd_get, 1);
            meta_line(&mut line, b"mg", r.key, None);
            let _ = write!(line, " T{} v f c\r\n", exptime(r));
            (BinaryKind::Get { with_key, quiet }, Operation::Touch)
        }
        Command::Touch => {
            stats.worker(worker).add(|c| &c.cmd_other, 1);
            meta_line(&mut line, b"mg", r.key, None);
            let _ = write!(line, " T{} f c\r\n", exptime(r));
            (BinaryKind::Touch, Operation::Touch)
        }
        Command::Store { kind, quiet } => {
            stats.worker(worker).add(|c| &c.cmd_set, 1);
            meta_line(&mut line, b"ms", r.key, Some(r.value_len));
            let (binary_kind, mode) = match kind {
                StoreKind::Set => (
                    BinaryKind::Store {
                        add: false,
                        replace: false,
                        quiet,
                    },
                    b'S',
                ),
                StoreKind::Add => (
                    BinaryKind::Store {
                        add: true,
                        replace: false,
                        quiet,
                    },
                    b'E',
                ),
                StoreKind::Replace => (
                    BinaryKind::Store {
                        add: false,
                        replace: true,
                        quiet,
                    },
                    b'R',
                ),
                StoreKind::Append => (BinaryKind::Concat { quiet }, b'A'),
                StoreKind::Prepend => (BinaryKind::Concat { quiet }, b'P'),
            };
            if let Extras::Store { flags, exptime } = r.extras {
                let _ = write!(line, " F{flags} T{}", meta_exptime(exptime));
            }
            // As memcached's binary protocol: a CAS turns set, add and replace into a
            // compare-and-swap (a missing key is "Not found", not stored by an add).
            let mode = match kind {
                StoreKind::Set | StoreKind::Add | StoreKind::Replace if r.cas != 0 => b'S',
                _ => mode,
            };
            let _ = write!(line, " c M{}", mode as char);
            if r.cas != 0 {
                let _ = write!(line, " C{}", r.cas);
            }
            line.extend_from_slice(b"\r\n");
            let op = if r.cas != 0 {
                Operation::CompareAndSwap
            } else {
                Operation::Write
            };
            return store(client, r, binary_kind, op, line, head, input, cx);
        }
        Command::Delete { quiet } => {
            stats.worker(worker).add(|c| &c.cmd_other, 1);
            meta_line(&mut line, b"md", r.key, None);
            if r.cas != 0 {
                let _ = write!(line, " C{}", r.cas);
            }
            line.extend_from_slice(b"\r\n");
            (BinaryKind::Delete { quiet }, Operation::Delete)
        }
        Command::Delta { incr, quiet } => {
            stats.worker(worker).add(|c| &c.cmd_other, 1);
            meta_line(&mut line, b"ma", r.key, None);
            let Extras::Delta {
                delta,
                initial,
                exptime,
            } = r.extras
            else {
                cx.local().pool.give(line);
                let mut buf = Vec::new();
                binary::write_error(&mut buf, r.opcode, Status::InvalidArguments, r.opaque);
                client.local_reply(&buf, reply, cx);
                return Verdict::Consumed(head);
            };
            let _ = write!(line, " M{} D{delta} v c", if incr { 'I' } else { 'D' });
            if exptime != u32::MAX {
                let _ = write!(line, " N{} J{initial}", meta_exptime(exptime));
            }
            if r.cas != 0 {
                let _ = write!(line, " C{}", r.cas);
            }
            line.extend_from_slice(b"\r\n");
            (BinaryKind::Delta { quiet }, Operation::Arithmetic)
        }
        Command::Flush { quiet } => {
            cx.local().pool.give(line);
            let mut flush = Vec::with_capacity(24);
            flush.extend_from_slice(b"flush_all");
            if let Extras::Flush(Some(delay)) = r.extras {
                let _ = write!(flush, " {delay}");
            }
            flush.extend_from_slice(b"\r\n");
            local::flush_all(
                client,
                &flush,
                false,
                Some((r.opcode, r.opaque, quiet)),
                reply,
                cx,
            );
            return Verdict::Consumed(head);
        }
        Command::Noop => {
            cx.local().pool.give(line);
            local_success(client, r, &[], reply, cx);
            client.flushed();
            return Verdict::Consumed(head);
        }
        Command::Version => {
            cx.local().pool.give(line);
            local_success(client, r, local::version(), reply, cx);
            return Verdict::Consumed(head);
        }
        Command::Quit { quiet } => {
            cx.local().pool.give(line);
            if !quiet {
                local_success(client, r, &[], reply, cx);
            }
            client.quitting = true;
            return if client.slots.is_empty() {
                Verdict::Close
            } else {
                Verdict::Park { consumed: head }
            };
        }
        Command::Stat => {
            cx.local().pool.give(line);
            stat(client, r, reply, cx);
            return Verdict::Consumed(head);
        }
    };
    let mut binary_reply = BinaryReply::new(r.opcode, r.opaque, kind);
    if matches!(kind, BinaryKind::Get { with_key: true, .. }) {
        binary_reply.key = r.key.to_vec();
    }
    let miss = text_read_errors(client, cx) == ReadErrors::Miss;
    let out = Outgoing {
        key: r.key,
        op,
        parts: &[&line],
        streamed: 0,
        expect: Expect::Meta,
        format: Format::Binary {
            reply: Box::new(binary_reply),
            miss,
        },
    };
    let result = send::forward(client, out, cx);
    cx.local().pool.give(line);
    match result {
        Sent::Slot => Verdict::Consumed(head),
        Sent::Park => Verdict::Park { consumed: 0 },
    }
}

/// A storage request: the meta line, then the binary value and "\r\n".
#[allow(clippy::too_many_arguments)]
fn store(
    client: &mut ClientHandler,
    r: &Request<'_>,
    kind: BinaryKind,
    op: Operation,
    line: Vec<u8>,
    head: usize,
    input: &[u8],
    cx: &mut Cx<'_>,
) -> Verdict {
    let total = head.saturating_add(r.value_len);
    let format = Format::Binary {
        reply: Box::new(BinaryReply::new(r.opcode, r.opaque, kind)),
        miss: false,
    };
    if input.len() < total && total <= STREAM_AT {
        cx.local().pool.give(line);
        return Verdict::NeedBytes(total - input.len());
    }
    let whole = input.len() >= total;
    let value = &input[head..total.min(input.len())];
    let parts: [&[u8]; 3] = [&line, value, b"\r\n"];
    let out = Outgoing {
        key: r.key,
        op,
        parts: if whole { &parts } else { &parts[..2] },
        streamed: if whole { 0 } else { total - input.len() },
        expect: Expect::Meta,
        format,
    };
    let result = send::forward(client, out, cx);
    cx.local().pool.give(line);
    match result {
        Sent::Slot => {
            if !whole {
                if let Some(streaming) = &mut client.streaming {
                    streaming.tail = b"\r\n";
                }
                return Verdict::Consumed(input.len());
            }
            Verdict::Consumed(total)
        }
        Sent::Park => Verdict::Park { consumed: 0 },
    }
}

/// `<command> <key>[ <len>]`, the key base64-encoded (`b`) unless a text line can carry
/// it as it is.
fn meta_line(out: &mut Vec<u8>, command: &[u8], key: &[u8], len: Option<usize>) {
    out.extend_from_slice(command);
    out.push(b' ');
    let plain = !key.is_empty() && key.iter().all(|&b| b > b' ' && b != 0x7f);
    if plain {
        out.extend_from_slice(key);
    } else {
        protocol::meta::client::encode_key(key, out);
    }
    if let Some(len) = len {
        let _ = write!(out, " {len}");
    }
    if !plain {
        out.extend_from_slice(b" b");
    }
}

fn exptime(r: &Request<'_>) -> u32 {
    match r.extras {
        Extras::Expiry(e) => meta_exptime(e),
        _ => 0,
    }
}

/// A binary expiry as a meta token can carry it. Binary expiries are unsigned 32-bit,
/// meta's signed: above `i32::MAX` (absolute times after January 2038) memcached's meta
/// parser refuses the token, so the latest time it takes stands in: still far future.
fn meta_exptime(e: u32) -> u32 {
    e.min(i32::MAX as u32)
}

fn text_read_errors(client: &ClientHandler, cx: &mut Cx<'_>) -> ReadErrors {
    super::send::read_errors(client, cx)
}

/// A success the proxy answers itself (NOOP, VERSION, QUIT).
fn local_success(
    client: &mut ClientHandler,
    r: &Request<'_>,
    body: &[u8],
    reply: &mut Reply<'_, Chunk>,
    cx: &mut Cx<'_>,
) {
    let mut buf = Vec::with_capacity(HEADER_LEN + body.len());
    binary::write_header(
        &mut buf,
        &binary::ResponseHeader {
            opcode: r.opcode,
            status: Status::Success,
            extras_len: 0,
            key_len: 0,
            body_len: body.len() as u32,
            opaque: r.opaque,
            cas: 0,
        },
    );
    buf.extend_from_slice(body);
    client.local_reply(&buf, reply, cx);
}

/// STAT: the proxy's stats as stat frames, then the empty one that ends them.
fn stat(
    client: &mut ClientHandler,
    r: &Request<'_>,
    reply: &mut Reply<'_, Chunk>,
    cx: &mut Cx<'_>,
) {
    let args = protocol::text::Keys::new(r.key);
    let listing = local::stats_text(args, cx);
    let mut buf = Vec::new();
    if !listing.starts_with(b"STAT ") && listing != text::END {
        binary::write_error(&mut buf, r.opcode, Status::KeyNotFound, r.opaque);
        client.local_reply(&buf, reply, cx);
        return;
    }
    for line in listing.split(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(b"STAT ") else {
            continue;
        };
        let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
        let split = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let value = rest.get(split + 1..).unwrap_or(&[]);
        binary::write_stat(&mut buf, r.opaque, &rest[..split], value);
    }
    binary::write_stat(&mut buf, r.opaque, b"", b"");
    client.local_reply(&buf, reply, cx);
}
