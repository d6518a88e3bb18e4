//! A request parked on disk reads: its replies in order, answered as reads arrive.
//!
//! Each entry is one reply: a RAM hit queued behind a value on disk (kept pinned), a
//! value on disk (header composed, value to come), or a read whose value must come back
//! to RAM before a command runs again. [`Waiting::flush`] answers entries from the front
//! as far as they are ready, so replies leave in request order however reads complete.
//!
//! A read that finds its page gone since the lookup (`Stale`) is usually a value lost
//! with a dropped page: a miss. But compaction may have moved the value meanwhile (it
//! rewrites a page's live records elsewhere and frees the page): then the key still holds
//! the same value, same CAS and length, at another location, and the read is issued
//! again there ([`Waiting::arrived`]) instead of answering a miss for a live value.

use super::tier::{DiskDone, Expect, Tier};
use super::value::{Pinned, COPY_MAX};
use crate::runtime::{Reply, Ticket};
use disk::{ReadBuf, ReadError, ReadResult};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use store::{External, ItemRef, Store};

/// Times one reply follows its value to a new location before it answers a miss: each
/// follow needs compaction to have moved the value again during the read.
const MAX_FOLLOWS: u8 = 3;

/// One reply waiting its turn.
pub(crate) enum Entry {
    /// A text multi-get's RAM hit after a disk one: answered in key order.
    Ram {
        item: ItemRef<'static>,
        with_cas: bool,
    },
    /// A value on disk: `head` is the reply before the value, `miss` what a miss
    /// answers, `trailer` what follows the value.
    Disk {
        id: u32,
        key: Box<[u8]>,
        head: Vec<u8>,
        miss: Vec<u8>,
        trailer: &'static [u8],
        expect: Expect,
        result: Option<ReadResult>,
        follows: u8,
    },
    /// A command that needs the value in RAM: read it, bring it back, run the command
    /// again.
    Recache {
        id: u32,
        key: Box<[u8]>,
        expect: Expect,
        done: bool,
        follows: u8,
    },
}

impl Entry {
    fn id(&self) -> Option<u32> {
        match self {
            Entry::Ram { .. } => None,
            Entry::Disk { id, .. } | Entry::Recache { id, .. } => Some(*id),
        }
    }

    fn ready(&self) -> bool {
        match self {
            Entry::Ram { .. } => true,
            Entry::Disk { result, .. } => result.is_some(),
            Entry::Recache { done, .. } => *done,
        }
    }
}

/// What to do once every entry is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// The request was consumed when the session parked: carry on.
    Done,
    /// A text retrieval whose line (`consumed` bytes) is still at the head of the input:
    /// `END`, or go on from the key `resume` bytes into the line (it paused).
    TextGet {
        consumed: usize,
        resume: Option<usize>,
    },
    /// A command whose value came back to RAM: run it again (it is still at the head of
    /// the input).
    Again,
}

/// A request parked on disk reads.
pub(crate) struct Waiting {
    entries: VecDeque<Entry>,
    next_id: u32,
    pending: usize,
    pub(crate) then: Then,
}

impl Waiting {
    pub(crate) fn new(then: Then) -> Waiting {
        Waiting {
            entries: VecDeque::new(),
            next_id: 0,
            pending: 0,
            then,
        }
    }

    /// Entries not yet answered.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Queues a RAM hit behind the disk entries.
    pub(crate) fn push_ram(&mut self, item: ItemRef<'static>, with_cas: bool) {
        self.entries.push_back(Entry::Ram { item, with_cas });
    }

    /// Issues a read under the next id and counts it pending; `None` (nothing counted)
    /// when the tier refused it for want of read buffers.
    fn issue(
        &mut self,
        tier: &Tier,
        ticket: Ticket<DiskDone>,
        ext: External,
        key_len: usize,
    ) -> Option<u32> {
        let id = self.next_id;
        if !tier.read(ticket, id, ext, key_len) {
            return None;
        }
        self.next_id += 1;
        self.pending += 1;
        Some(id)
    }

    /// Adds a disk entry and issues its read. `head` and `miss` as [`Entry::Disk`].
    /// `Err(miss)`, nothing added, when the read was refused for want of read buffers
    /// ([`Tier::read`]): the caller answers the miss.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_disk(
        &mut self,
        tier: &Tier,
        ticket: Ticket<DiskDone>,
        key: &[u8],
        ext: External,
        expect: Expect,
        head: Vec<u8>,
        miss: Vec<u8>,
        trailer: &'static [u8],
    ) -> Result<(), Vec<u8>> {
        let Some(id) = self.issue(tier, ticket, ext, key.len()) else {
            return Err(miss);
        };
        self.entries.push_back(Entry::Disk {
            id,
            key: key.into(),
            head,
            miss,
            trailer,
            expect,
            result: None,
            follows: 0,
        });
        Ok(())
    }

    /// Adds a read whose value goes back to RAM before the command runs again. False
    /// (nothing added) when the read was refused for want of read buffers.
    pub(crate) fn push_recache(
        &mut self,
        tier: &Tier,
        ticket: Ticket<DiskDone>,
        key: &[u8],
        ext: External,
        expect: Expect,
    ) -> bool {
        let Some(id) = self.issue(tier, ticket, ext, key.len()) else {
            return false;
        };
        self.entries.push_back(Entry::Recache {
            id,
            key: key.into(),
            expect,
            done: false,
            follows: 0,
        });
        true
    }

    /// Records a finished read; false if it is none of ours (a stale id). A read that
    /// found its value moved by compaction is issued again at the new place (with a
    /// ticket from `ticket`) and stays pending.
    pub(crate) fn arrived(
        &mut self,
        done: DiskDone,
        tier: &Tier,
        store: &Store,
        ticket: impl FnOnce() -> Option<Ticket<DiskDone>>,
    ) -> bool {
        let Some(entry) = self.entries.iter_mut().find(|e| e.id() == Some(done.id)) else {
            return false;
        };
        if entry.ready() {
            return false;
        }
        if matches!(done.result, Err(ReadError::Stale)) && follow(entry, tier, store, ticket) {
            return true;
        }
        match entry {
            Entry::Disk { result, .. } => *result = Some(done.result),
            Entry::Recache {
                key,
                expect,
                done: d,
                ..
            } => {
                // Judged now: the value goes back to RAM, or the key is unlinked.
                if let Some(buf) = tier.settle(store, key, expect, done.result) {
                    if store
                        .recache(key, expect.location, buf.value())
                        .unwrap_or(false)
                    {
                        tier.counters.recache_from_extstore.fetch_add(1, Relaxed);
                    }
                }
                *d = true;
            }
            Entry::Ram { .. } => return false,
        }
        self.pending -= 1;
        true
    }

    /// Answers entries in order as far as they are ready; true when none is left.
    pub(crate) fn flush(
        &mut self,
        reply: &mut Reply<'_, Pinned>,
        tier: &Tier,
        store: &Store,
        compose_ram: impl Fn(&mut Reply<'_, Pinned>, ItemRef<'static>, bool),
    ) -> bool {
        while self.entries.front().is_some_and(Entry::ready) {
            let Some(entry) = self.entries.pop_front() else {
                break;
            };
            match entry {
                Entry::Ram { item, with_cas } => compose_ram(reply, item, with_cas),
                Entry::Disk {
                    key,
                    head,
                    miss,
                    trailer,
                    expect,
                    result: Some(result),
                    ..
                } => match tier.settle(store, &key, &expect, result) {
                    Some(buf) => queue_read(reply, &head, buf, trailer),
                    None => reply.line(&miss),
                },
                Entry::Disk { .. } | Entry::Recache { .. } => {}
            }
        }
        self.entries.is_empty()
    }

    /// The session left: reads not answered count as aborted.
    pub(crate) fn abandon(self, tier: &Tier) {
        tier.counters
            .get_aborted_extstore
            .fetch_add(self.pending as u64, Relaxed);
    }
}

/// After a `Stale` read: if compaction moved the value since the lookup (the key holds
/// the same CAS and length at another location), issues the read there and answers true
/// (the entry stays pending). False, and the read's result stands (a miss), when the
/// value is gone, changed, was followed [`MAX_FOLLOWS`] times already, or the read is
/// refused (no read buffer free).
fn follow(
    entry: &mut Entry,
    tier: &Tier,
    store: &Store,
    ticket: impl FnOnce() -> Option<Ticket<DiskDone>>,
) -> bool {
    let (Entry::Disk {
        id,
        key,
        expect,
        follows,
        ..
    }
    | Entry::Recache {
        id,
        key,
        expect,
        follows,
        ..
    }) = entry
    else {
        return false;
    };
    if *follows >= MAX_FOLLOWS {
        return false;
    }
    let Some(ext) = moved_to(store, key, expect) else {
        return false;
    };
    let Some(ticket) = ticket() else {
        return false;
    };
    if !tier.read(ticket, *id, ext, key.len()) {
        return false;
    }
    expect.location = ext.location;
    *follows += 1;
    true
}

/// Where the value `expect` describes is now, if it is still on disk, unchanged, and
/// somewhere else.
fn moved_to(store: &Store, key: &[u8], expect: &Expect) -> Option<External> {
    let item = store.peek(key)?;
    let ext = item.external()?;
    let moved = ext.location != expect.location
        && ext.value_len == expect.value_len
        && item.cas() == expect.cas;
    moved.then_some(ext)
}

/// Queues `head`, a value read from disk, `trailer`: a small value copied, a large one
/// sent from the read buffer by reference.
fn queue_read(reply: &mut Reply<'_, Pinned>, head: &[u8], buf: ReadBuf, trailer: &[u8]) {
    if buf.value().len() <= COPY_MAX {
        reply.compose(|out| {
            out.extend_from_slice(head);
            out.extend_from_slice(buf.value());
            out.extend_from_slice(trailer);
        });
    } else {
        reply.line(head);
        reply.pin(Pinned::Disk(buf));
        if !trailer.is_empty() {
            reply.line(trailer);
        }
    }
}
