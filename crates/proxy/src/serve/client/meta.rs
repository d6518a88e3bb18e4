//! Meta commands (`mg ms md ma me mn`) from text clients: forwarded as written (keys
//! route by their decoded bytes under `b`); `mn` is answered by the proxy in order;
//! malformed lines get memcached's errors from the server's own parser. A quiet request
//! (`q`) is followed by an `mn` the proxy adds and removes again, so it knows whether
//! the backend sent anything for it.

use protocol::meta::{self, Command};
use protocol::text;
use server::runtime::{Reply, Verdict};

use super::super::chunk::Chunk;
use super::super::forward::Format;
use super::super::link::Expect;
use super::send::{self, Outgoing, Sent};
use super::send::{with_data, NOOP};
use super::{ClientHandler, Cx};
use crate::route::Operation;

pub(super) fn step(
    client: &mut ClientHandler,
    line: &[u8],
    consumed: usize,
    input: &[u8],
    reply: &mut Reply<'_, Chunk>,
    cx: &mut Cx<'_>,
) -> Verdict {
    let req = match meta::parse(line) {
        Ok(req) => req,
        Err(rejected) => {
            client.local_reply(rejected.error.reply(), reply, cx);
            return match rejected.swallow {
                0 => Verdict::Consumed(consumed),
                n => Verdict::Swallow(consumed.saturating_add(n)),
            };
        }
    };
    let worker = cx.worker();
    let stats = &cx.service().stats;
    let quiet = req.flags.quiet;
    let op = match req.command {
        Command::NoOp => {
            client.local_reply(text::MN, reply, cx);
            return Verdict::Consumed(consumed);
        }
        Command::Set => {
            stats.worker(worker).add(|c| &c.cmd_set, 1);
            let op = if req.flags.compare_cas.is_some() {
                Operation::CompareAndSwap
            } else {
                Operation::Write
            };
            let block = req.datalen.saturating_add(2);
            return with_data(
                client,
                req.key(),
                op,
                consumed,
                block,
                quiet,
                true,
                input,
                cx,
            );
        }
        Command::Get => {
            stats.worker(worker).add(|c| &c.cmd_get, 1);
            if req.flags.set_ttl.is_some() || req.flags.vivify.is_some() {
                Operation::Touch
            } else {
                Operation::Read
            }
        }
        Command::Debug => Operation::Read,
        Command::Delete => Operation::Delete,
        Command::Arithmetic => Operation::Arithmetic,
    };
    if !matches!(req.command, Command::Get) {
        stats.worker(worker).add(|c| &c.cmd_other, 1);
    }
    let parts: &[&[u8]] = if quiet {
        &[&input[..consumed], NOOP]
    } else {
        &[&input[..consumed]]
    };
    let out = Outgoing {
        key: req.key(),
        op,
        parts,
        streamed: 0,
        expect: if quiet {
            Expect::UntilNoop { meta: true }
        } else {
            Expect::Meta
        },
        format: Format::Verbatim { miss: None },
    };
    match send::forward(client, out, cx) {
        Sent::Slot => Verdict::Consumed(consumed),
        Sent::Park => Verdict::Park { consumed: 0 },
    }
}
