//! The two rules every protocol applies to values, in one place each: how a value goes
//! into a reply (copied, or pinned and sent by reference), and what a refused store does
//! (memcached's reply, and the old value unlinked).

use crate::runtime::Reply;
use channel::Payload;
use protocol::text;
use store::{ItemRef, Store, StoreError};

/// Values up to this size are copied into the reply scratch; larger ones are sent by
/// reference, pinned in the store until written. A copy of a few KiB costs less than
/// holding a pin and an extra iovec (measured: docs/io.md, `bench/thresholds`);
/// `CORVID_COPY_MAX` at build time overrides it for such measurements. A larger value is
/// copied too while half the store's segments hold queued replies (`ItemRef::hold`): a
/// pin holds its whole segment, and slow readers must not leave eviction no victim.
pub const COPY_MAX: usize = crate::config::build_size(option_env!("CORVID_COPY_MAX"), 4096);

/// Bytes a reply sends by reference: a cache item pinned while they wait in the send
/// queue, or a value read from the disk tier, in its read buffer.
pub enum Pinned {
    /// A value in RAM.
    Item(ItemRef<'static>),
    /// A value read back from disk.
    Disk(disk::ReadBuf),
}

impl Payload for Pinned {
    fn bytes(&self) -> &[u8] {
        match self {
            Pinned::Item(item) => item.value(),
            Pinned::Disk(buf) => buf.value(),
        }
    }
}

/// Queues `header`, then the item's value, then `trailer`: one copy into scratch for a
/// small value (or whenever pins are scarce), the value by reference otherwise.
#[inline]
pub(crate) fn queue_value(
    reply: &mut Reply<'_, Pinned>,
    mut item: ItemRef<'static>,
    trailer: &'static [u8],
    header: impl FnOnce(&mut Vec<u8>, &ItemRef<'static>),
) {
    if item.value().len() <= COPY_MAX || !item.hold() {
        reply.compose(|out| {
            header(out, &item);
            out.extend_from_slice(item.value());
            out.extend_from_slice(trailer);
        });
    } else {
        reply.compose(|out| header(out, &item));
        reply.pin(Pinned::Item(item));
        if !trailer.is_empty() {
            reply.line(trailer);
        }
    }
}

/// Why the store refused a value before any of it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No memory for it (and evictions are off, or nothing could be evicted).
    OutOfMemory,
    /// Larger than the item size limit.
    TooLarge,
}

impl Refused {
    /// The text and meta reply.
    pub(crate) fn line(self) -> &'static [u8] {
        match self {
            Refused::OutOfMemory => text::SERVER_ERROR_OUT_OF_MEMORY_STORING,
            Refused::TooLarge => text::SERVER_ERROR_TOO_LARGE,
        }
    }
}

/// A storage command the store refused. memcached then drops the key's old value
/// (`replaces`: the commands that would have replaced it), so that a client never reads
/// data older than what it just tried to write. The caller answers and swallows the data.
pub(crate) fn refuse(store: &Store, key: &[u8], error: StoreError, replaces: bool) -> Refused {
    if replaces {
        store.unlink(key);
    }
    match error {
        StoreError::OutOfMemory => Refused::OutOfMemory,
        _ => Refused::TooLarge,
    }
}
