//! One object as it lies on disk: a 12-byte header, the key, the owner's metadata, the
//! value, zero padding to 8 bytes.
//!
//! ```
//! use disk::{record_len, Record};
//! let len = record_len(3, 4, 5);
//! assert_eq!(len, 24); // 12 + 3 + 4 + 5 = 24, already a multiple of 8
//! let mut buf = vec![0u8; len as usize];
//! Record::encode(&mut buf, b"key", b"meta", b"value");
//! let rec = Record::verify(&buf).unwrap();
//! assert_eq!((rec.key(), rec.meta(), rec.value()), (&b"key"[..], &b"meta"[..], &b"value"[..]));
//! buf[20] ^= 1;
//! assert!(Record::verify(&buf).is_err()); // a flipped bit fails the checksum
//! ```
//!
//! Header, little-endian:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..4 | CRC32C of bytes 4.. to the end of the value (padding excluded) |
//! | 4 | marker `0xD1`: a zero here ends a write buffer's records (the tail is zeroed) |
//! | 5 | key length, 1..=255 |
//! | 6 | metadata length, 0..=255 (opaque to the engine: the owner's flags, TTL, CAS) |
//! | 7 | record format, 0 |
//! | 8..12 | value length |
//!
//! The key is on disk so that compaction can ask the owner whether the record is still
//! the live one for its key, and so that a restart can rebuild an index from the pages.

use crate::location::RECORD_ALIGN;

/// Bytes of the record header.
pub const RECORD_HEADER: usize = 12;
/// First header byte after the checksum; zero means "no record here".
const MARKER: u8 = 0xD1;
const FORMAT: u8 = 0;

/// The record length (header, key, metadata, value, padding) of an object.
pub fn record_len(key_len: usize, meta_len: usize, value_len: usize) -> u64 {
    let raw = (RECORD_HEADER + key_len + meta_len) as u64 + value_len as u64;
    raw.div_ceil(RECORD_ALIGN) * RECORD_ALIGN
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// The header does not describe a record that fits (or no record starts here).
    Malformed,
    /// The record is whole but its checksum does not match.
    Checksum,
}

/// A verified record, borrowed from the buffer it was read into.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    bytes: &'a [u8],
    key_len: usize,
    meta_len: usize,
    value_len: usize,
}

impl<'a> Record<'a> {
    /// Writes a record into `dst`, which must be exactly
    /// `record_len(key.len(), meta.len(), value.len())` bytes. Keys are 1..=255 bytes,
    /// metadata at most 255 (callers check; see [`Record::fits`]).
    pub fn encode(dst: &mut [u8], key: &[u8], meta: &[u8], value: &[u8]) {
        debug_assert!(Record::fits(key, meta));
        debug_assert_eq!(
            dst.len() as u64,
            record_len(key.len(), meta.len(), value.len())
        );
        dst[4] = MARKER;
        dst[5] = key.len() as u8;
        dst[6] = meta.len() as u8;
        dst[7] = FORMAT;
        dst[8..12].copy_from_slice(&(value.len() as u32).to_le_bytes());
        let mut at = RECORD_HEADER;
        for part in [key, meta, value] {
            dst[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        dst[at..].fill(0);
        let crc = crc32c::crc32c(&dst[4..at]);
        dst[..4].copy_from_slice(&crc.to_le_bytes());
    }

    /// True when a key and metadata of these lengths can be stored.
    pub fn fits(key: &[u8], meta: &[u8]) -> bool {
        (1..=255).contains(&key.len()) && meta.len() <= 255
    }

    /// Checks that `buf` starts with a whole record with a good checksum. `buf` may be
    /// longer (a region being scanned).
    pub fn verify(buf: &'a [u8]) -> Result<Record<'a>, RecordError> {
        let rec = Record::frame(buf)?;
        let stored = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if crc32c::crc32c(&buf[4..rec.unpadded_len()]) != stored {
            return Err(RecordError::Checksum);
        }
        Ok(rec)
    }

    /// Reads the header only: lengths, no checksum.
    fn frame(buf: &'a [u8]) -> Result<Record<'a>, RecordError> {
        if buf.len() < RECORD_HEADER || buf[4] != MARKER || buf[7] != FORMAT || buf[5] == 0 {
            return Err(RecordError::Malformed);
        }
        let key_len = usize::from(buf[5]);
        let meta_len = usize::from(buf[6]);
        let value_len = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
        let len = record_len(key_len, meta_len, value_len);
        if len > buf.len() as u64 {
            return Err(RecordError::Malformed);
        }
        Ok(Record {
            bytes: &buf[..len as usize],
            key_len,
            meta_len,
            value_len,
        })
    }

    /// True if no record starts at `buf` (zeroed tail of a write buffer, or its end).
    pub fn is_end(buf: &[u8]) -> bool {
        buf.len() < RECORD_HEADER || buf[4] == 0
    }

    /// The key.
    pub fn key(&self) -> &'a [u8] {
        &self.bytes[RECORD_HEADER..RECORD_HEADER + self.key_len]
    }

    /// The owner's metadata.
    pub fn meta(&self) -> &'a [u8] {
        let at = RECORD_HEADER + self.key_len;
        &self.bytes[at..at + self.meta_len]
    }

    /// The value.
    pub fn value(&self) -> &'a [u8] {
        let at = RECORD_HEADER + self.key_len + self.meta_len;
        &self.bytes[at..at + self.value_len]
    }

    /// The whole record, padding included (what a rewrite copies).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The record length, padding included.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Never true: a record has at least a header and a key.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn unpadded_len(&self) -> usize {
        RECORD_HEADER + self.key_len + self.meta_len + self.value_len
    }

    /// Where the key, metadata and value start and end in the record.
    pub(crate) fn ranges(&self) -> [std::ops::Range<usize>; 3] {
        let k = RECORD_HEADER..RECORD_HEADER + self.key_len;
        let m = k.end..k.end + self.meta_len;
        let v = m.end..m.end + self.value_len;
        [k, m, v]
    }
}

/// Walks the records of one write-buffer region, from `start` until the zeroed tail.
/// Yields each record's offset in the region and the record, or the offset of the first
/// record that does not verify (after which nothing in the region can be trusted: the
/// walk stops).
pub struct Records<'a> {
    region: &'a [u8],
    at: usize,
    done: bool,
}

impl<'a> Records<'a> {
    /// Records of `region` starting at byte `start` (past the page header in a page's
    /// first region).
    pub fn new(region: &'a [u8], start: usize) -> Records<'a> {
        Records {
            region,
            at: start,
            done: false,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = (usize, Result<Record<'a>, RecordError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || Record::is_end(&self.region[self.at.min(self.region.len())..]) {
            return None;
        }
        let at = self.at;
        match Record::verify(&self.region[at..]) {
            Ok(rec) => {
                self.at += rec.len() as usize;
                Some((at, Ok(rec)))
            }
            Err(e) => {
                self.done = true;
                Some((at, Err(e)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(key: &[u8], meta: &[u8], value: &[u8]) -> Vec<u8> {
        let mut buf = vec![0xAA; record_len(key.len(), meta.len(), value.len()) as usize];
        Record::encode(&mut buf, key, meta, value);
        buf
    }

    #[test]
    fn lengths_pad_to_eight() {
        assert_eq!(record_len(1, 0, 0), 16);
        assert_eq!(record_len(1, 0, 3), 16);
        assert_eq!(record_len(1, 0, 4), 24);
        assert_eq!(
            record_len(250, 20, 1 << 20),
            (12 + 250 + 20 + (1 << 20) + 6) as u64
        );
    }

    #[test]
    fn every_small_size_round_trips_and_pads_with_zeros() {
        for value_len in 0..64 {
            let value: Vec<u8> = (0..value_len as u8).collect();
            let buf = encoded(b"k", b"m", &value);
            let rec = Record::verify(&buf).unwrap();
            assert_eq!(rec.value(), &value[..]);
            assert_eq!(rec.len(), buf.len() as u64);
            let used = RECORD_HEADER + 2 + value_len;
            assert!(buf[used..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn any_flipped_bit_is_caught() {
        let buf = encoded(b"key", b"meta", b"some value bytes");
        for byte in 0..RECORD_HEADER + 3 + 4 + 16 {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                assert!(Record::verify(&bad).is_err(), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn truncated_or_empty_is_malformed() {
        let buf = encoded(b"key", b"", b"value");
        assert_eq!(
            Record::verify(&buf[..buf.len() - 1]).unwrap_err(),
            RecordError::Malformed
        );
        assert_eq!(
            Record::verify(&[0u8; 32]).unwrap_err(),
            RecordError::Malformed
        );
        assert!(Record::is_end(&[0u8; 32]));
        assert!(Record::is_end(&[0u8; 4]));
    }

    #[test]
    fn a_region_walk_stops_at_the_zeroed_tail() {
        let mut region = vec![0u8; 256];
        let a = encoded(b"a", b"", b"first");
        let b = encoded(b"bb", b"x", b"second");
        region[8..8 + a.len()].copy_from_slice(&a);
        region[8 + a.len()..8 + a.len() + b.len()].copy_from_slice(&b);
        let found: Vec<_> = Records::new(&region, 8)
            .map(|(at, r)| (at, r.unwrap().key().to_vec()))
            .collect();
        assert_eq!(
            found,
            vec![(8, b"a".to_vec()), (8 + a.len(), b"bb".to_vec())]
        );
        // A corrupted record ends the walk with its error.
        region[8 + a.len() + RECORD_HEADER] ^= 0xFF;
        let found: Vec<_> = Records::new(&region, 8).map(|(_, r)| r.is_ok()).collect();
        assert_eq!(found, vec![true, false]);
    }
}
