//! Handing reply bytes on to the client waiting for them (one copy, into a pooled
//! chunk), and counting a reply that is complete (responses, in-flight, latency).

use std::time::Instant;

use server::runtime::{ConnId, Outbox};

use crate::serve::chunk::ChunkPool;
use crate::serve::message::{Message, Piece, Sink, Unit};

/// What a [`Piece`] is, besides its bytes and who gets it.
pub(super) struct Shape {
    pub(super) head: u32,
    pub(super) trailer: u8,
    pub(super) unit: Unit,
    pub(super) unit_end: bool,
    pub(super) last: bool,
}

/// Hands `bytes` of a reply to the client waiting for it (`sink`; a probe's reply goes
/// nowhere), copied into a pooled buffer: the one copy a reply's bytes make. `from` is
/// the backend session and its link's key.
pub(super) fn pass_on(
    out: &mut Outbox<'_, Message>,
    pool: &ChunkPool,
    sink: Sink,
    from: (ConnId, usize),
    bytes: &[u8],
    shape: Shape,
) {
    let Sink::Client { id, seq, sub } = sink else {
        return;
    };
    let mut buf = pool.take();
    buf.extend_from_slice(bytes);
    out.complete(
        id,
        Message::Piece(Piece {
            seq,
            sub,
            from: from.0,
            link: from.1,
            bytes: buf,
            head: shape.head,
            trailer: shape.trailer,
            unit: shape.unit,
            unit_end: shape.unit_end,
            last: shape.last,
        }),
    );
}

/// A request's reply is complete: stats and latency.
pub(super) fn finish(
    pending: Option<crate::serve::link::Pending>,
    stats: &crate::serve::stats::BackendStats,
    worker: usize,
    now: Instant,
) {
    let Some(pending) = pending else {
        return;
    };
    let w = stats.worker(worker);
    w.add(|c| &c.responses, 1);
    w.sub(|c| &c.in_flight, 1);
    w.sub(|c| &c.in_flight_bytes, u64::from(pending.bytes));
    let us = now.saturating_duration_since(pending.sent).as_micros() as u64;
    stats.latency(worker).record(us);
}
