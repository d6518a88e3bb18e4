//! The restart data (`FILE.meta`, next to the memory file of `-e FILE`): what a clean stop
//! writes so that the next start can take the heap back, and the marker a running store
//! leaves there so that a crash is never mistaken for a clean stop. Only the encoding lives
//! here: what goes into the sections is `store::restart`'s business.
//!
//! ```text
//! magic     8 B   "CORVIDRD"
//! format    u32   FORMAT_VERSION
//! state     u32   RUNNING (a store has the heap and may be changing it) or CLEAN
//! crc       u32   CRC32C of the 16 bytes above
//! sections, each:
//!   tag       4 B   ASCII, e.g. "SETG"
//!   flags     u32   bit 0: required (a reader that does not know the tag must refuse)
//!   version   u32   the section's own format version
//!   len       u64   payload bytes
//!   payload   len B
//!   crc       u32   CRC32C of tag, flags, version, len and payload
//! the last section is "END " (len 0)
//! ```
//!
//! Everything is little endian. A reader never trusts a length beyond the bytes the file
//! has, so a damaged file costs a refusal, never a huge allocation or a panic.

use std::fmt;
use std::io::{self, Read, Write};

const MAGIC: &[u8; 8] = b"CORVIDRD";
/// Bumped whenever the meaning of any section or of the heap's bytes changes. 2: an index
/// slot's bit 54 is the active bit (eviction's "read since linked here"), no longer the
/// low bit of the tag.
pub(crate) const FORMAT_VERSION: u32 = 2;
pub(crate) const RUNNING: u32 = 1;
pub(crate) const CLEAN: u32 = 2;
const REQUIRED: u32 = 1;
const END: [u8; 4] = *b"END ";
const HEADER_LEN: u64 = 20;
const SECTION_OVERHEAD: u64 = 4 + 4 + 4 + 8 + 4;

/// Why the restart data could not be used: the store then starts empty, and the caller
/// logs this (its `Display` is the whole log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// There is no restart data next to the memory file (first start, or it was removed).
    Missing,
    /// The restart data is a running store's marker: the last run ended without a clean
    /// stop (crash, `kill -9`, power loss), so the heap may be half-written.
    Unclean,
    /// A setting that shapes the heap differs from the run that wrote the data.
    Incompatible {
        /// memcached's name for it where it has one (`maxbytes`, `item_size_max`,
        /// `use_cas`), else ours (`segment_size`, `version`, ...).
        setting: String,
        old: String,
        new: String,
    },
    /// The data (or the memory file) does not match its checksums or is inconsistent.
    Corrupt(String),
    /// The data (or the memory file) is shorter than it says.
    Truncated(String),
    /// The data could not be read at all.
    Unreadable(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const EMPTY: &str = "starting with an empty cache";
        match self {
            Refusal::Missing => write!(f, "[restart] no restart data: {EMPTY}"),
            Refusal::Unclean => write!(
                f,
                "[restart] the last run did not stop cleanly (crash or kill), its memory \
                 may be half-written: {EMPTY}"
            ),
            Refusal::Incompatible { setting, old, new } => write!(
                f,
                "[restart] restart incompatible due to setting for [{setting}] [old value: \
                 {old}] [new value: {new}]: {EMPTY}"
            ),
            Refusal::Corrupt(what) => {
                write!(
                    f,
                    "[restart] warning: restart data corrupt ({what}): {EMPTY}"
                )
            }
            Refusal::Truncated(what) => {
                write!(
                    f,
                    "[restart] warning: restart data truncated ({what}): {EMPTY}"
                )
            }
            Refusal::Unreadable(what) => {
                write!(
                    f,
                    "[restart] warning: restart data unreadable ({what}): {EMPTY}"
                )
            }
        }
    }
}

/// A section of the restart data that the store carries for someone else: the hook for
/// the disk tier's page index (tag `DISK`, reserved), or anything else that must survive
/// a restart with the heap. The store writes it at a clean stop and hands it back after a
/// restart; what is inside is the owner's business, including its own version checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraSection {
    /// Four ASCII bytes. The store's own tags (`SETG`, `STAT`, `SEGS`, `POOL`, `INDX`,
    /// `END `) are refused.
    pub tag: [u8; 4],
    /// The owner's format version of the payload.
    pub version: u32,
    /// A build that does not know this tag must refuse the whole restart rather than come
    /// back without it (e.g. items that point into it).
    pub required: bool,
    pub payload: Vec<u8>,
}

/// The tag of the cold tier's (the disk tier's) section. When the restart data carries
/// it and the caller of `open_memory_file` takes it, the restored external items are kept
/// for the tier's verdict (`Store::adopt_external` / `Store::drop_external`) instead of
/// being dropped.
pub const COLD_TIER_SECTION: [u8; 4] = *b"DISK";

/// The store's own section tags.
pub(crate) const STORE_TAGS: [[u8; 4]; 5] = [*b"SETG", *b"STAT", *b"SEGS", *b"POOL", *b"INDX"];

/// One section as read back.
pub(crate) struct Section {
    pub(crate) tag: [u8; 4],
    pub(crate) required: bool,
    pub(crate) version: u32,
    pub(crate) payload: Payload,
}

/// A section's bytes, kept in 8-byte words: a payload that is mostly little-endian u64s
/// (an index table: 512 KiB to a few MiB per shard) is taken as it is, with no second
/// buffer and no conversion pass (10 million items: 128 MiB less to allocate and copy).
pub(crate) struct Payload {
    words: Vec<u64>,
    len: usize,
}

impl Payload {
    fn zeroed(len: usize) -> Payload {
        Payload {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the words own at least `len` initialised bytes (len.div_ceil(8) words),
        // and u8 has no alignment or validity requirement.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `bytes`, and every bit pattern is a valid u64, so whatever is
        // written through the byte view leaves the words valid.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }

    /// The first `n` words of the payload as little-endian u64s, taken as they are (the
    /// rest is dropped); None when the payload is shorter.
    pub(crate) fn into_u64s(mut self, n: usize) -> Option<Vec<u64>> {
        if n.checked_mul(8)? > self.len {
            return None;
        }
        self.words.truncate(n);
        if cfg!(target_endian = "big") {
            for w in &mut self.words {
                *w = u64::from_le(*w);
            }
        }
        Some(self.words)
    }
}

pub(crate) fn tag_name(tag: [u8; 4]) -> String {
    String::from_utf8_lossy(&tag).trim_end().to_string()
}

/// Writes the restart data: a header, then sections, then `finish`.
pub(crate) struct Writer<W: Write> {
    w: W,
    written: u64,
}

impl<W: Write> Writer<W> {
    pub(crate) fn new(mut w: W, state: u32) -> io::Result<Writer<W>> {
        let mut h = Vec::with_capacity(HEADER_LEN as usize);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        h.extend_from_slice(&state.to_le_bytes());
        let crc = crc32c::crc32c(&h);
        h.extend_from_slice(&crc.to_le_bytes());
        w.write_all(&h)?;
        Ok(Writer {
            w,
            written: HEADER_LEN,
        })
    }

    pub(crate) fn section(
        &mut self,
        tag: [u8; 4],
        required: bool,
        version: u32,
        payload: &[u8],
    ) -> io::Result<()> {
        let mut head = [0u8; 20];
        head[..4].copy_from_slice(&tag);
        head[4..8].copy_from_slice(&u32::from(required).to_le_bytes());
        head[8..12].copy_from_slice(&version.to_le_bytes());
        head[12..20].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&head), payload);
        self.w.write_all(&head)?;
        self.w.write_all(payload)?;
        self.w.write_all(&crc.to_le_bytes())?;
        self.written += SECTION_OVERHEAD + payload.len() as u64;
        Ok(())
    }

    /// Writes the end marker; returns the writer and the bytes written in all.
    pub(crate) fn finish(mut self) -> io::Result<(W, u64)> {
        self.section(END, true, 0, &[])?;
        Ok((self.w, self.written))
    }
}

/// Reads restart data written by `Writer`, checking every checksum and length.
pub(crate) struct Reader<R: Read> {
    r: R,
    /// Bytes of the file not read yet: no length read from the file may exceed it.
    left: u64,
}

impl<R: Read> Reader<R> {
    /// Reads the header; returns the reader and the state (`RUNNING` or `CLEAN`).
    pub(crate) fn new(r: R, file_len: u64) -> Result<(Reader<R>, u32), Refusal> {
        let mut rd = Reader { r, left: file_len };
        let mut h = [0u8; HEADER_LEN as usize];
        rd.fill(&mut h, "the header")?;
        if &h[..8] != MAGIC {
            return Err(Refusal::Corrupt(
                "not Corvid restart data: bad magic".to_string(),
            ));
        }
        if crc32c::crc32c(&h[..16]) != le32(&h[16..20]) {
            return Err(Refusal::Corrupt("header checksum mismatch".to_string()));
        }
        let version = le32(&h[8..12]);
        if version != FORMAT_VERSION {
            return Err(Refusal::Incompatible {
                setting: "version".to_string(),
                old: version.to_string(),
                new: FORMAT_VERSION.to_string(),
            });
        }
        let state = le32(&h[12..16]);
        if state != RUNNING && state != CLEAN {
            return Err(Refusal::Corrupt(format!("unknown state {state}")));
        }
        Ok((rd, state))
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), Refusal> {
        if (buf.len() as u64) > self.left {
            return Err(Refusal::Truncated(format!("ends inside {what}")));
        }
        self.r.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Refusal::Truncated(format!("ends inside {what}")),
            _ => Refusal::Unreadable(e.to_string()),
        })?;
        self.left -= buf.len() as u64;
        Ok(())
    }

    /// The next section, or None at the end marker.
    pub(crate) fn next(&mut self) -> Result<Option<Section>, Refusal> {
        let mut head = [0u8; 20];
        self.fill(&mut head, "a section header (no end marker)")?;
        let tag = [head[0], head[1], head[2], head[3]];
        let name = tag_name(tag);
        let flags = le32(&head[4..8]);
        let version = le32(&head[8..12]);
        let len = u64::from_le_bytes([
            head[12], head[13], head[14], head[15], head[16], head[17], head[18], head[19],
        ]);
        if len.saturating_add(4) > self.left {
            return Err(Refusal::Truncated(format!(
                "section {name} says {len} bytes, {} are left",
                self.left.saturating_sub(4)
            )));
        }
        let mut payload = Payload::zeroed(len as usize);
        self.fill(payload.bytes_mut(), &format!("section {name}"))?;
        let mut crc = [0u8; 4];
        self.fill(&mut crc, &format!("section {name}'s checksum"))?;
        if crc32c::crc32c_append(crc32c::crc32c(&head), payload.bytes()) != u32::from_le_bytes(crc)
        {
            return Err(Refusal::Corrupt(format!(
                "section {name} checksum mismatch"
            )));
        }
        if tag == END {
            if self.left != 0 {
                return Err(Refusal::Corrupt(format!(
                    "{} bytes after the end marker",
                    self.left
                )));
            }
            return Ok(None);
        }
        Ok(Some(Section {
            tag,
            required: flags & REQUIRED != 0,
            version,
            payload,
        }))
    }
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Appends little-endian fields to a section payload.
#[derive(Default)]
pub(crate) struct Enc(pub(crate) Vec<u8>);

impl Enc {
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
}

/// Reads little-endian fields from a section payload; running out is a refusal.
pub(crate) struct Dec<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Dec<'a> {
    pub(crate) fn new(b: &'a [u8], what: &'static str) -> Dec<'a> {
        Dec { b, what }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], Refusal> {
        let Some((head, rest)) = self.b.split_first_chunk::<N>() else {
            return Err(Refusal::Corrupt(format!("section {} too short", self.what)));
        };
        self.b = rest;
        Ok(*head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Refusal> {
        Ok(self.take::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Refusal> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, Refusal> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    /// A u64 that must fit a usize and be at most `max`.
    pub(crate) fn usize_max(&mut self, max: usize) -> Result<usize, Refusal> {
        let v = self.u64()?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v <= max)
            .ok_or_else(|| Refusal::Corrupt(format!("section {}: {v} out of range", self.what)))
    }
    /// Bytes left.
    pub(crate) fn rest(&self) -> usize {
        self.b.len()
    }
    /// Refuses trailing bytes.
    pub(crate) fn end(&self) -> Result<(), Refusal> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Corrupt(format!(
                "section {}: {} unexpected trailing bytes",
                self.what,
                self.b.len()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), CLEAN).unwrap();
        w.section(*b"SETG", true, 1, b"maxbytes 67108864\n")
            .unwrap();
        w.section(*b"DISK", false, 3, &[1, 2, 3, 4, 5]).unwrap();
        let (bytes, n) = w.finish().unwrap();
        assert_eq!(n, bytes.len() as u64);
        bytes
    }

    fn read_all(b: &[u8]) -> Result<(u32, Vec<Section>), Refusal> {
        let (mut r, state) = Reader::new(b, b.len() as u64)?;
        let mut out = Vec::new();
        while let Some(s) = r.next()? {
            out.push(s);
        }
        Ok((state, out))
    }

    #[test]
    fn round_trip() {
        let (state, s) = read_all(&sample()).unwrap();
        assert_eq!(state, CLEAN);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].tag, s[0].required, s[0].version), (*b"SETG", true, 1));
        assert_eq!(s[0].payload.bytes(), b"maxbytes 67108864\n");
        assert_eq!(
            (s[1].tag, s[1].required, s[1].version),
            (*b"DISK", false, 3)
        );
        assert_eq!(s[1].payload.bytes(), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn every_truncation_is_refused_as_truncated() {
        let b = sample();
        for cut in 0..b.len() {
            match read_all(&b[..cut]) {
                Err(Refusal::Truncated(_)) => {}
                other => panic!("cut at {cut}: {other:?}", other = other.map(|_| ())),
            }
        }
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let b = sample();
        for i in 0..b.len() {
            for bit in [0x01u8, 0x80] {
                let mut c = b.clone();
                c[i] ^= bit;
                // A flipped length byte may also read as truncation; a flipped version
                // as another format; never as success and never a panic.
                match read_all(&c) {
                    Err(Refusal::Corrupt(_) | Refusal::Truncated(_)) => {}
                    Err(Refusal::Incompatible { setting, .. }) if setting == "version" => {}
                    other => panic!("byte {i} ^ {bit:#x}: {other:?}", other = other.map(|_| ())),
                }
            }
        }
    }

    #[test]
    fn a_length_beyond_the_file_allocates_nothing() {
        let mut b = Writer::new(Vec::new(), CLEAN).unwrap().finish().unwrap().0;
        // Rewrite the end marker's length as 2^62.
        let at = HEADER_LEN as usize + 12;
        b[at..at + 8].copy_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(matches!(read_all(&b), Err(Refusal::Truncated(_))));
    }

    #[test]
    fn garbage_after_the_end_marker_is_refused() {
        let mut b = sample();
        b.push(0);
        assert!(matches!(read_all(&b), Err(Refusal::Corrupt(_))));
    }

    #[test]
    fn another_format_version_is_an_incompatible_setting() {
        let mut b = sample();
        b[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let crc = crc32c::crc32c(&b[..16]);
        b[16..20].copy_from_slice(&crc.to_le_bytes());
        match read_all(&b) {
            Err(Refusal::Incompatible { setting, old, new }) => {
                assert_eq!(setting, "version");
                assert_eq!(
                    (old, new),
                    ((FORMAT_VERSION + 1).to_string(), FORMAT_VERSION.to_string())
                );
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn a_running_marker_reads_as_running() {
        let b = Writer::new(Vec::new(), RUNNING)
            .unwrap()
            .finish()
            .unwrap()
            .0;
        assert_eq!(read_all(&b).unwrap().0, RUNNING);
    }

    #[test]
    fn refusals_read_as_one_log_line_naming_the_reason() {
        let r = Refusal::Incompatible {
            setting: "maxbytes".into(),
            old: "67108864".into(),
            new: "134217728".into(),
        };
        let line = r.to_string();
        assert!(line.starts_with(
            "[restart] restart incompatible due to setting for [maxbytes] [old value: 67108864]"
        ));
        for r in [
            Refusal::Missing,
            Refusal::Unclean,
            r,
            Refusal::Corrupt("x".into()),
            Refusal::Truncated("y".into()),
            Refusal::Unreadable("z".into()),
        ] {
            let s = r.to_string();
            assert!(
                !s.contains('\n') && s.ends_with("starting with an empty cache"),
                "{s}"
            );
        }
    }

    #[test]
    fn payloads_of_words_come_out_as_u64s() {
        let mut w = Writer::new(Vec::new(), CLEAN).unwrap();
        let mut p = vec![7u8, 0, 0, 0, 0, 0, 0, 0];
        for v in [1u64, u64::MAX, 0x0102_0304_0506_0708] {
            p.extend_from_slice(&v.to_le_bytes());
        }
        w.section(*b"INDX", true, 1, &p).unwrap();
        w.section(*b"ODD ", true, 1, &p[..13]).unwrap();
        let b = w.finish().unwrap().0;
        let (_, s) = read_all(&b).unwrap();
        assert_eq!(s[0].payload.bytes(), &p[..]);
        assert_eq!(s[1].payload.bytes(), &p[..13]);
        let mut it = s.into_iter();
        let words = it.next().unwrap().payload;
        assert_eq!(
            words.into_u64s(3).unwrap(),
            vec![7, 1, u64::MAX],
            "the first words, the rest dropped"
        );
        let odd = it.next().unwrap().payload;
        assert!(odd.into_u64s(2).is_none(), "13 bytes hold one word");
    }

    #[test]
    fn dec_refuses_short_and_trailing_payloads() {
        let mut d = Dec::new(&[1, 0, 0], "T");
        assert!(d.u32().is_err());
        let mut d = Dec::new(&[7, 0, 0, 0, 9], "T");
        assert_eq!(d.u32().unwrap(), 7);
        assert!(d.end().is_err());
        assert_eq!(d.u8().unwrap(), 9);
        assert!(d.end().is_ok());
        let max = u64::MAX.to_le_bytes();
        let mut d = Dec::new(&max, "T");
        assert!(d.usize_max(10).is_err());
    }
}
