//! Key dumps: `lru_crawler metadump <all|hash|classes>` and `stats cachedump <class>
//! <limit>`, in memcached 1.6.18's line formats, for a server with one slab class:
//!
//! ```text
//! lru_crawler metadump all
//! key=foo exp=-1 la=1796539009 cas=1 fetch=yes cls=1 size=63
//! key=b%2520c exp=1796539109 la=1796539009 cas=2 fetch=no cls=1 size=71
//! END
//! stats cachedump 1 0
//! ITEM foo [3 b; 0 s]
//! END
//! ```
//!
//! A dump walks the index a slice at a time ([`store::Store::walk_some`]) and pauses at
//! the output high watermark like a multi-get: its line stays at the head of the input
//! until `END` is queued, so a dump of millions of keys costs the worker one slice per
//! turn and its memory one watermark of output, however slowly the client reads. Other
//! connections of the worker are served between slices.

use super::log_line::uri_encode;
use super::slabs::strtoul;
use super::value::Pinned;
use crate::runtime::{Reply, Verdict};
use protocol::text::{self, Keys};
use store::{ItemRef, Store, WalkCursor};

/// Index slots walked per step of a dump, between checks of the output watermark.
const SLOTS_PER_STEP: usize = 1024;
/// Slab class ids memcached accepts (`MAX_NUMBER_OF_SLAB_CLASSES` is 64; 0 is the page
/// pool). Corvid's items are all in class 1; the others are valid and empty.
const LARGEST_CLASS: u32 = 63;

/// What a dump step did: answered (the verdict to give), or paused at the watermark
/// (the handler keeps the dump and answers `Continue`).
pub(crate) enum Progress {
    Answered(Verdict),
    Paused(Dump),
}

/// What a dump needs of the server.
#[derive(Clone, Copy)]
pub(crate) struct Limits<'a> {
    pub(crate) store: &'a Store,
    /// `-X` clears it.
    pub(crate) enabled: bool,
    /// `-o no_lru_crawler` clears it (memcached's metadump runs on its crawler).
    pub(crate) crawler: bool,
    /// The output high watermark.
    pub(crate) high: usize,
}

/// A dump in progress.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dump {
    format: Format,
    cursor: WalkCursor,
    /// Bytes of the command line, dropped once `END` is queued.
    consumed: usize,
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Metadump,
    /// `stats cachedump`: items left to list (`u32::MAX` for memcached's limit 0).
    Cachedump {
        left: u32,
    },
}

/// `lru_crawler <args>`: the metadump, its refusals, and `ERROR` for the crawler's other
/// subcommands (Corvid has no crawler to steer).
pub(crate) fn lru_crawler(
    mut args: Keys<'_>,
    consumed: usize,
    reply: &mut Reply<'_, Pinned>,
    limits: Limits<'_>,
) -> Progress {
    let answered = Progress::Answered(Verdict::Consumed(consumed));
    let (sub, what, extra) = (args.next(), args.next(), args.next());
    let (Some(b"metadump"), Some(what), None) = (sub, what, extra) else {
        reply.line(text::ERROR);
        return answered;
    };
    if !limits.crawler {
        reply.line(text::CLIENT_ERROR_LRU_CRAWLER_DISABLED);
        return answered;
    }
    if !limits.enabled {
        reply.line(text::ERROR_METADUMP_NOT_ALLOWED);
        return answered;
    }
    // memcached refuses a dump behind replies not yet sent in the same batch.
    if reply.pending() > 0 {
        reply.line(text::ERROR_METADUMP_PIPELINED);
        return answered;
    }
    let everything = match what {
        b"all" | b"hash" => true,
        classes => match listed_classes(classes) {
            Some(has_class_one) => has_class_one,
            None => {
                reply.line(text::BADCLASS_CLASS_ID);
                return answered;
            }
        },
    };
    if !everything {
        reply.line(text::END);
        return answered;
    }
    start(Format::Metadump, consumed, reply, limits)
}

/// `stats cachedump <class> <limit>` (extra arguments ignored, as memcached ignores them).
pub(crate) fn cachedump(
    mut args: Keys<'_>,
    consumed: usize,
    reply: &mut Reply<'_, Pinned>,
    limits: Limits<'_>,
) -> Progress {
    let answered = Progress::Answered(Verdict::Consumed(consumed));
    let (Some(class), Some(limit)) = (args.next(), args.next()) else {
        reply.line(text::CLIENT_ERROR_BAD_COMMAND_LINE);
        return answered;
    };
    let (Some(class), Some(limit)) = (strtoul(class), strtoul(limit)) else {
        reply.line(text::CLIENT_ERROR_BAD_FORMAT);
        return answered;
    };
    if class > LARGEST_CLASS {
        reply.line(text::CLIENT_ERROR_ILLEGAL_SLAB_ID);
        return answered;
    }
    if class != 1 {
        reply.line(text::END);
        return answered;
    }
    let left = if limit == 0 { u32::MAX } else { limit };
    start(Format::Cachedump { left }, consumed, reply, limits)
}

/// Whether a comma-separated class list (`1,2`) names class 1; None if an id is not a
/// class (memcached: `BADCLASS invalid class id`).
fn listed_classes(list: &[u8]) -> Option<bool> {
    let mut one = false;
    for id in list.split(|&b| b == b',') {
        let id = strtoul(id).filter(|id| (1..=LARGEST_CLASS).contains(id))?;
        one |= id == 1;
    }
    Some(one)
}

fn start(
    format: Format,
    consumed: usize,
    reply: &mut Reply<'_, Pinned>,
    limits: Limits<'_>,
) -> Progress {
    let dump = Dump {
        format,
        cursor: WalkCursor::default(),
        consumed,
    };
    step(dump, reply, limits)
}

/// Dumps until the output reaches its watermark (then `Continue`: called again once it
/// drains) or the walk ends (`END`, and the line is consumed).
pub(crate) fn step(mut dump: Dump, reply: &mut Reply<'_, Pinned>, limits: Limits<'_>) -> Progress {
    let Limits { store, high, .. } = limits;
    let cas = store.config().cas_enabled;
    let mut line = Vec::with_capacity(128);
    loop {
        if reply.pending() >= high {
            return Progress::Paused(dump);
        }
        let next = store.walk_some(dump.cursor, SLOTS_PER_STEP, |item| {
            line.clear();
            match &mut dump.format {
                Format::Metadump => metadump_line(&mut line, item, cas),
                Format::Cachedump { left: 0 } => return,
                Format::Cachedump { left } => {
                    *left -= 1;
                    cachedump_line(&mut line, item);
                }
            }
            reply.line(&line);
        });
        let done = matches!(dump.format, Format::Cachedump { left: 0 });
        match next {
            Some(cursor) if !done => dump.cursor = cursor,
            _ => {
                reply.line(text::END);
                return Progress::Answered(Verdict::Consumed(dump.consumed));
            }
        }
    }
}

/// `key=<key, URI-encoded> exp=<-1 or Unix time> la=<Unix time> cas=<n> fetch=<yes|no>
/// cls=1 size=<memcached's item size>` and a bare `\n`, as memcached ends these lines.
fn metadump_line(out: &mut Vec<u8>, item: &ItemRef<'_>, cas: bool) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"key=");
    uri_encode(out, item.key());
    out.extend_from_slice(b" exp=");
    match item.expires_at() {
        Some(at) => out.extend_from_slice(n.format(at).as_bytes()),
        None => out.extend_from_slice(b"-1"),
    }
    out.extend_from_slice(b" la=");
    out.extend_from_slice(n.format(item.last_access()).as_bytes());
    out.extend_from_slice(b" cas=");
    out.extend_from_slice(n.format(item.cas()).as_bytes());
    out.extend_from_slice(if item.fetched_before() {
        b" fetch=yes"
    } else {
        b" fetch=no"
    });
    out.extend_from_slice(b" cls=1 size=");
    let size = store::memcached_item_size(item.key().len(), item.value_len(), item.flags(), cas);
    out.extend_from_slice(n.format(size).as_bytes());
    out.push(b'\n');
}

/// `ITEM <key> [<value bytes> b; <expiry as Unix time, 0 for never> s]`.
fn cachedump_line(out: &mut Vec<u8>, item: &ItemRef<'_>) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"ITEM ");
    out.extend_from_slice(item.key());
    out.extend_from_slice(b" [");
    out.extend_from_slice(n.format(item.value_len()).as_bytes());
    out.extend_from_slice(b" b; ");
    out.extend_from_slice(n.format(item.expires_at().unwrap_or(0)).as_bytes());
    out.extend_from_slice(b" s]\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_lists() {
        assert_eq!(listed_classes(b"1"), Some(true));
        assert_eq!(listed_classes(b"2,1"), Some(true));
        assert_eq!(listed_classes(b"12"), Some(false));
        assert_eq!(listed_classes(b"63"), Some(false));
        assert_eq!(listed_classes(b"0"), None);
        assert_eq!(listed_classes(b"64"), None);
        assert_eq!(listed_classes(b"x"), None);
        assert_eq!(listed_classes(b"1,x"), None);
    }
}
