//! The store's sections of the restart data: what `restart` captures at a clean stop and
//! takes back at start, with every consistency check on the way in, so that damaged data
//! is refused rather than trusted. The framing (header, checksums, lengths) is
//! `restart_data`'s.
//!
//! | tag | what |
//! | --- | --- |
//! | `SETG` | the settings that shape the heap, `key value` lines, compared one by one |
//! | `STAT` | the item clock's epoch, the index's hash seed, the next CAS, `flush_all` state, when it was saved |
//! | `SEGS` | every segment's bookkeeping and the CRC32C of its written bytes |
//! | `POOL` | free, sealed (in eviction order) and spare segments, each TTL bucket's open one |
//! | `INDX` | one per index shard: its slot table as it is (positions included) |
//! | others | `ExtraSection`s carried for someone else (`DISK` is the disk tier's) |

use crate::config::StoreConfig;
use crate::index::{self, Table};
use crate::restart_data::{
    tag_name, Dec, Enc, ExtraSection, Payload, Reader, Refusal, Writer, CLEAN, RUNNING, STORE_TAGS,
};
use crate::segments::{FREE, OPEN, SEALED};
use crate::ttl;
use std::io::{self, Read, Write};

const SETG: [u8; 4] = *b"SETG";
const STAT: [u8; 4] = *b"STAT";
const SEGS: [u8; 4] = *b"SEGS";
const POOL: [u8; 4] = *b"POOL";
const INDX: [u8; 4] = *b"INDX";
/// Each store section's own version (all 1: the file's format version covers them today).
const VERSION: u32 = 1;
const NONE: u32 = u32::MAX;
/// Bytes of an `INDX` payload after its slots: shard, padding, items, bytes. The slots come
/// first, so they are read back as they are, in place.
const INDX_TAIL: usize = 4 + 4 + 8 + 8;
/// Bytes of one segment record in `SEGS`.
const SEG_RECORD: usize = 1 + 1 + 4 + 8 * 5 + 4 + 8 + 4;

/// The settings a restart needs unchanged, named as memcached names them where it has
/// them (`maxbytes` is `-m`, `use_cas` is not `-C`), in the order a mismatch is reported.
pub(super) fn settings(
    cfg: &StoreConfig,
    seg_size: usize,
    nsegs: usize,
) -> Vec<(&'static str, String)> {
    vec![
        ("maxbytes", cfg.memory_limit.to_string()),
        ("item_size_max", cfg.item_size_max.to_string()),
        ("use_cas", cfg.cas_enabled.to_string()),
        ("segment_size", seg_size.to_string()),
        ("segments", nsegs.to_string()),
        ("index_shards", (1usize << index::SHARD_BITS).to_string()),
        ("ttl_buckets", ttl::OPEN_BUCKETS.to_string()),
    ]
}

/// What items depend on beyond their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct State {
    /// Item deadlines count seconds from here.
    pub(super) epoch: u64,
    /// The index's hash seed: slot positions depend on it.
    pub(super) seed: u64,
    pub(super) next_cas: u64,
    pub(super) oldest_live: u64,
    pub(super) oldest_cas: u64,
    /// The store's clock at the stop.
    pub(super) saved_at: u64,
}

/// One segment's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SegRecord {
    pub(super) state: u8,
    pub(super) warm: bool,
    pub(super) bucket: u32,
    pub(super) opened: u64,
    pub(super) write_off: usize,
    pub(super) max_deadline: u64,
    pub(super) last_write: u64,
    pub(super) max_cas: u64,
    pub(super) live: u32,
    pub(super) live_bytes: usize,
    /// CRC32C of the segment's first `write_off` bytes (0 for a free segment).
    pub(super) crc: u32,
}

/// Where each segment is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Lists {
    pub(super) free: Vec<u32>,
    /// Oldest first: the eviction order.
    pub(super) sealed: Vec<u32>,
    pub(super) spare: Option<u32>,
    /// (TTL bucket, its open segment).
    pub(super) open: Vec<(usize, u32)>,
}

/// Everything read back.
pub(super) struct Image {
    pub(super) state: State,
    pub(super) segs: Vec<SegRecord>,
    pub(super) lists: Lists,
    pub(super) tables: Vec<Table>,
    pub(super) extra: Vec<ExtraSection>,
    /// Where the index points, as offsets within segments, grouped by segment (`entries`
    /// of segment i from `first[i]` to `first[i + 1]`): gathered while the tables were
    /// checked, for the heap check to look for an item at each.
    pub(super) entries: Entries,
}

/// Index entries grouped by segment, in one array sized from the segments' live counts.
pub(super) struct Entries {
    pub(super) at: Vec<u32>,
    pub(super) first: Vec<usize>,
    /// Where the next entry of each segment goes.
    next: Vec<usize>,
    /// Each segment's write offset if it holds items (open or sealed), else 0: no entry
    /// may point there.
    limit: Vec<usize>,
}

impl Entries {
    fn new(segs: &[SegRecord]) -> Entries {
        let mut first = Vec::with_capacity(segs.len() + 1);
        let mut n = 0usize;
        for r in segs {
            first.push(n);
            n += r.live as usize;
        }
        first.push(n);
        Entries {
            at: vec![0; n],
            next: first[..segs.len()].to_vec(),
            first,
            limit: segs
                .iter()
                .map(|r| match r.state {
                    OPEN | SEALED => r.write_off,
                    _ => 0,
                })
                .collect(),
        }
    }

    /// Records an entry at `at` of segment `s`; false when there is no room for it there
    /// (outside the written bytes, or more entries than the segment's live count).
    #[inline]
    fn push(&mut self, s: usize, at: usize) -> bool {
        match (self.limit.get(s), self.next.get(s)) {
            (Some(&lim), Some(&i)) if at < lim && i < self.first[s + 1] => {
                self.at[i] = at as u32;
                self.next[s] = i + 1;
                true
            }
            _ => false,
        }
    }

    /// The segment whose entries fell short of its live count, if any.
    fn short(&self) -> Option<usize> {
        (0..self.next.len()).find(|&s| self.next[s] != self.first[s + 1])
    }

    /// Segment `s`'s entries.
    pub(super) fn of(&self, s: usize) -> &[u32] {
        &self.at[self.first[s]..self.first[s + 1]]
    }
}

/// Writes a clean stop's restart data; returns the bytes written.
pub(super) fn write<W: Write>(
    w: W,
    settings: &[(&'static str, String)],
    state: &State,
    segs: &[SegRecord],
    lists: &Lists,
    tables: &[&Table],
    extra: &[ExtraSection],
) -> io::Result<u64> {
    let mut out = Writer::new(w, CLEAN)?;
    let lines: String = settings.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    out.section(SETG, true, VERSION, lines.as_bytes())?;
    let mut e = Enc::default();
    e.u64(state.epoch)
        .u64(state.seed)
        .u64(state.next_cas)
        .u64(state.oldest_live)
        .u64(state.oldest_cas)
        .u64(state.saved_at);
    out.section(STAT, true, VERSION, &e.0)?;
    let mut e = Enc(Vec::with_capacity(4 + segs.len() * SEG_RECORD));
    e.u32(segs.len() as u32);
    for r in segs {
        e.u8(r.state)
            .u8(u8::from(r.warm))
            .u32(r.bucket)
            .u64(r.opened)
            .u64(r.write_off as u64)
            .u64(r.max_deadline)
            .u64(r.last_write)
            .u64(r.max_cas)
            .u32(r.live)
            .u64(r.live_bytes as u64)
            .u32(r.crc);
    }
    out.section(SEGS, true, VERSION, &e.0)?;
    let mut e = Enc::default();
    for list in [&lists.free, &lists.sealed] {
        e.u32(list.len() as u32);
        for &s in list {
            e.u32(s);
        }
    }
    e.u32(lists.spare.unwrap_or(NONE));
    e.u32(lists.open.len() as u32);
    for &(b, s) in &lists.open {
        e.u32(b as u32).u32(s);
    }
    out.section(POOL, true, VERSION, &e.0)?;
    let mut e = Enc::default();
    for (i, t) in tables.iter().enumerate() {
        e.0.clear();
        e.0.reserve(t.capacity() * 8 + INDX_TAIL);
        for slot in t.raw() {
            e.u64(slot);
        }
        e.u32(i as u32)
            .u32(0)
            .u64(t.items as u64)
            .u64(t.bytes as u64);
        out.section(INDX, true, VERSION, &e.0)?;
    }
    for x in extra {
        out.section(x.tag, x.required, x.version, &x.payload)?;
    }
    Ok(out.finish()?.1)
}

/// What a reader expects: this run's settings and geometry, and the extra sections its
/// caller knows.
pub(super) struct Expect<'a> {
    pub(super) settings: &'a [(&'static str, String)],
    pub(super) seg_size: usize,
    pub(super) nsegs: usize,
    pub(super) known_extra: &'a [[u8; 4]],
}

/// Reads and checks restart data of `file_len` bytes.
pub(super) fn read<R: Read>(r: R, file_len: u64, x: &Expect<'_>) -> Result<Image, Refusal> {
    let (mut rd, state) = Reader::new(r, file_len)?;
    if state == RUNNING {
        return Err(Refusal::Unclean);
    }
    let mut st = None;
    let mut segs: Option<Vec<SegRecord>> = None;
    let mut lists = None;
    let mut tables: Vec<Option<Table>> = (0..1usize << index::SHARD_BITS).map(|_| None).collect();
    let mut entries: Option<Entries> = None;
    let mut extra = Vec::new();
    let mut first = true;
    while let Some(s) = rd.next()? {
        let is_first = std::mem::replace(&mut first, false);
        let name = tag_name(s.tag);
        if STORE_TAGS.contains(&s.tag) && s.version != VERSION {
            return Err(Refusal::Incompatible {
                setting: format!("section {name} version"),
                old: s.version.to_string(),
                new: VERSION.to_string(),
            });
        }
        match s.tag {
            SETG if is_first => compare_settings(s.payload.bytes(), x.settings)?,
            _ if is_first => return Err(corrupt("the settings do not come first")),
            SETG => return Err(corrupt("a second SETG section")),
            STAT if st.is_none() => st = Some(read_state(s.payload.bytes())?),
            SEGS if segs.is_none() => segs = Some(read_segs(s.payload.bytes(), x)?),
            POOL => {
                let Some(segs) = segs.as_deref().filter(|_| lists.is_none()) else {
                    return Err(corrupt("POOL out of place"));
                };
                lists = Some(read_lists(s.payload.bytes(), segs)?);
            }
            INDX => {
                let Some(segs) = segs.as_deref() else {
                    return Err(corrupt("INDX before SEGS"));
                };
                let entries = entries.get_or_insert_with(|| Entries::new(segs));
                let (i, t) = read_table(s.payload, x.seg_size, entries)?;
                if tables[i].replace(t).is_some() {
                    return Err(corrupt(&format!("index shard {i} twice")));
                }
            }
            tag if STORE_TAGS.contains(&tag) => return Err(corrupt(&format!("a second {name}"))),
            tag => {
                if s.required && !x.known_extra.contains(&tag) {
                    return Err(Refusal::Incompatible {
                        setting: format!("section {name}"),
                        old: "required".to_string(),
                        new: "unknown to this build".to_string(),
                    });
                }
                extra.push(ExtraSection {
                    tag,
                    version: s.version,
                    required: s.required,
                    payload: s.payload.bytes().to_vec(),
                });
            }
        }
    }
    let (Some(state), Some(segs), Some(lists)) = (st, segs, lists) else {
        return Err(corrupt("a STAT, SEGS or POOL section is missing"));
    };
    let tables = tables
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.ok_or_else(|| corrupt(&format!("index shard {i} is missing"))))
        .collect::<Result<Vec<_>, _>>()?;
    let entries = entries.unwrap_or_else(|| Entries::new(&segs));
    if let Some(i) = entries.short() {
        return Err(corrupt(&format!(
            "segment {i} counts {} live items, the index fewer",
            segs[i].live
        )));
    }
    // The index counts items' sizes, segments the room they occupy (a large item's span
    // is rounded up to whole granules): never less. The heap check compares them exactly.
    let linked: usize = tables.iter().map(|t| t.bytes).sum();
    let live: usize = segs.iter().map(|r| r.live_bytes).sum();
    if linked > live {
        return Err(corrupt(&format!(
            "the index counts {linked} bytes of items, the segments {live}"
        )));
    }
    Ok(Image {
        state,
        segs,
        lists,
        tables,
        extra,
        entries,
    })
}

fn corrupt(what: &str) -> Refusal {
    Refusal::Corrupt(what.to_string())
}

fn compare_settings(payload: &[u8], ours: &[(&'static str, String)]) -> Result<(), Refusal> {
    let text = std::str::from_utf8(payload).map_err(|_| corrupt("settings are not text"))?;
    let mut theirs: Vec<(&str, &str)> = Vec::new();
    for line in text.lines() {
        let (k, v) = line
            .split_once(' ')
            .ok_or_else(|| corrupt("a settings line without a value"))?;
        theirs.push((k, v));
    }
    for (k, v) in ours {
        let old = theirs.iter().find(|(tk, _)| tk == k).map(|(_, tv)| *tv);
        if old != Some(v.as_str()) {
            return Err(Refusal::Incompatible {
                setting: (*k).to_string(),
                old: old.unwrap_or("(none)").to_string(),
                new: v.clone(),
            });
        }
    }
    if let Some((k, v)) = theirs
        .iter()
        .find(|(tk, _)| !ours.iter().any(|(k, _)| k == tk))
    {
        return Err(Refusal::Incompatible {
            setting: (*k).to_string(),
            old: (*v).to_string(),
            new: "(none)".to_string(),
        });
    }
    Ok(())
}

fn read_state(payload: &[u8]) -> Result<State, Refusal> {
    let mut d = Dec::new(payload, "STAT");
    let st = State {
        epoch: d.u64()?,
        seed: d.u64()?,
        next_cas: d.u64()?,
        oldest_live: d.u64()?,
        oldest_cas: d.u64()?,
        saved_at: d.u64()?,
    };
    d.end()?;
    Ok(st)
}

fn read_segs(payload: &[u8], x: &Expect<'_>) -> Result<Vec<SegRecord>, Refusal> {
    let mut d = Dec::new(payload, "SEGS");
    let n = d.u32()? as usize;
    if n != x.nsegs || d.rest() != n * SEG_RECORD {
        return Err(corrupt(&format!(
            "{n} segment records in {} bytes, {} expected",
            d.rest(),
            x.nsegs
        )));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let r = SegRecord {
            state: d.u8()?,
            warm: d.u8()? != 0,
            bucket: d.u32()?,
            opened: d.u64()?,
            write_off: d.usize_max(x.seg_size)?,
            max_deadline: d.u64()?,
            last_write: d.u64()?,
            max_cas: d.u64()?,
            live: d.u32()?,
            live_bytes: d.usize_max(x.seg_size)?,
            crc: d.u32()?,
        };
        let ok = matches!(r.state, FREE | OPEN | SEALED)
            && (r.bucket as usize) < ttl::OPEN_BUCKETS
            && r.live_bytes <= r.write_off
            // An item is at least 8 bytes (header, a 1-byte key, a 1-byte length).
            && r.live as usize * 8 <= r.live_bytes
            && (r.state != FREE || r.live == 0);
        if !ok {
            return Err(corrupt(&format!("segment {i}'s record is inconsistent")));
        }
        out.push(r);
    }
    d.end()?;
    Ok(out)
}

fn read_lists(payload: &[u8], segs: &[SegRecord]) -> Result<Lists, Refusal> {
    let mut d = Dec::new(payload, "POOL");
    let mut seen = vec![false; segs.len()];
    let mut place = |s: u32, state: u8, what: &str| -> Result<u32, Refusal> {
        let i = s as usize;
        match segs.get(i) {
            Some(r) if r.state == state && !std::mem::replace(&mut seen[i], true) => Ok(s),
            _ => Err(corrupt(&format!(
                "segment {s} misplaced in the {what} list"
            ))),
        }
    };
    let mut lists = Lists::default();
    for (state, what) in [(FREE, "free"), (SEALED, "sealed")] {
        let n = d.u32()? as usize;
        if n > segs.len() {
            return Err(corrupt(&format!("{n} segments in the {what} list")));
        }
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            list.push(place(d.u32()?, state, what)?);
        }
        if state == FREE {
            lists.free = list;
        } else {
            lists.sealed = list;
        }
    }
    lists.spare = match d.u32()? {
        NONE => None,
        s => Some(place(s, FREE, "spare")?),
    };
    let n = d.u32()? as usize;
    if n > ttl::OPEN_BUCKETS {
        return Err(corrupt(&format!("{n} open segments")));
    }
    let mut buckets = vec![false; ttl::OPEN_BUCKETS];
    for _ in 0..n {
        let b = d.u32()? as usize;
        let s = place(d.u32()?, OPEN, "open")?;
        if b >= ttl::OPEN_BUCKETS
            || std::mem::replace(&mut buckets[b], true)
            || segs[s as usize].bucket as usize != b
        {
            return Err(corrupt(&format!("segment {s} open for a wrong bucket {b}")));
        }
        lists.open.push((b, s));
    }
    d.end()?;
    if let Some(i) = seen.iter().position(|&s| !s) {
        return Err(corrupt(&format!("segment {i} is in no list")));
    }
    Ok(lists)
}

fn read_table(
    payload: Payload,
    seg_size: usize,
    entries: &mut Entries,
) -> Result<(usize, Table), Refusal> {
    let len = payload.bytes().len();
    let cap = len.saturating_sub(INDX_TAIL) / 8;
    if len < INDX_TAIL || cap * 8 + INDX_TAIL != len {
        return Err(corrupt(&format!("an index section of {len} bytes")));
    }
    let mut d = Dec::new(&payload.bytes()[cap * 8..], "INDX");
    let shard = d.u32()? as usize;
    if shard >= 1 << index::SHARD_BITS || d.u32()? != 0 {
        return Err(corrupt(&format!("index shard {shard}")));
    }
    let items = d.usize_max(usize::MAX)?;
    let bytes = d.usize_max(usize::MAX)?;
    d.end()?;
    let slots = payload
        .into_u64s(cap)
        .ok_or_else(|| corrupt(&format!("index shard {shard} is short")))?;
    // A shift instead of a division per item when the segment size allows (10 million
    // items: a tenth of a second on this machine).
    let shift = seg_size
        .is_power_of_two()
        .then(|| seg_size.trailing_zeros());
    let table = Table::from_raw(slots, items, bytes, |off| {
        let (s, at) = match shift {
            Some(sh) => (off >> sh, off & (seg_size - 1)),
            None => (off / seg_size, off % seg_size),
        };
        entries.push(s, at)
    })
    .map_err(|e| corrupt(&format!("index shard {shard}: {e}")))?;
    Ok((shard, table))
}

#[cfg(test)]
mod tests;
