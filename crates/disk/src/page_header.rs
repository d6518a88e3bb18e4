//! The 64 bytes at the start of every page: what a restart needs to find its pages again.
//!
//! ```
//! use disk::PageHeader;
//! let header = PageHeader { page: 3, file: 0, seq: 42, page_size: 64 << 20,
//!                           wbuf_size: 4 << 20, bucket: 0, run: 7 };
//! let bytes = header.encode();
//! assert_eq!(PageHeader::decode(&bytes), Some(header));
//! let mut torn = bytes;
//! torn[20] ^= 1;
//! assert_eq!(PageHeader::decode(&torn), None); // checksum
//! ```
//!
//! Format version 1, little-endian:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..8 | magic `CRVDPAGE` |
//! | 8..10 | format version (1) |
//! | 10..12 | header length (64) |
//! | 12..14 | page id |
//! | 14..16 | file index (position in the `ext_path` list) |
//! | 16..24 | page allocation number (its low 20 bits are the version in locations) |
//! | 24..32 | page size |
//! | 32..36 | write-buffer size |
//! | 36 | bucket |
//! | 37..40 | zero |
//! | 40..48 | run id: which start of the engine wrote the page |
//! | 48..60 | zero (room for later fields; a reader of version 1 ignores them) |
//! | 60..64 | CRC32C of bytes 0..60 |
//!
//! # Warm restart
//!
//! Records follow the header in the page's first write-buffer region, and start each
//! later region; each region ends at its first zero marker ([`crate::Records`]). A warm
//! restart ([`crate::restart`]) reads back the header of every page the saved page table
//! lists and takes the table back only if each one is exactly the header it expects
//! (page id, file, allocation number, sizes, bucket, run id). [`scan_headers`] finds
//! every header of a file, for tools.
//! A change to this layout must bump [`PAGE_FORMAT`].

use channel::{FileChannel, Outcome};

/// Bytes of the page header.
pub const PAGE_HEADER: usize = 64;
/// The page format this engine writes and reads.
pub const PAGE_FORMAT: u16 = 1;
const MAGIC: [u8; 8] = *b"CRVDPAGE";

/// What a page header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    /// Page id (what locations carry).
    pub page: u16,
    /// Index of the file in the configuration.
    pub file: u16,
    /// The page's allocation number.
    pub seq: u64,
    /// Page size the engine ran with.
    pub page_size: u64,
    /// Write-buffer size the engine ran with.
    pub wbuf_size: u32,
    /// The bucket the page was written for.
    pub bucket: u8,
    /// The run that wrote it.
    pub run: u64,
}

impl PageHeader {
    /// The 64 header bytes.
    pub fn encode(&self) -> [u8; PAGE_HEADER] {
        let mut b = [0u8; PAGE_HEADER];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&PAGE_FORMAT.to_le_bytes());
        b[10..12].copy_from_slice(&(PAGE_HEADER as u16).to_le_bytes());
        b[12..14].copy_from_slice(&self.page.to_le_bytes());
        b[14..16].copy_from_slice(&self.file.to_le_bytes());
        b[16..24].copy_from_slice(&self.seq.to_le_bytes());
        b[24..32].copy_from_slice(&self.page_size.to_le_bytes());
        b[32..36].copy_from_slice(&self.wbuf_size.to_le_bytes());
        b[36] = self.bucket;
        b[40..48].copy_from_slice(&self.run.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// The header in `bytes`, if they hold one of a format this engine reads.
    pub fn decode(bytes: &[u8]) -> Option<PageHeader> {
        let b = bytes.get(..PAGE_HEADER)?;
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        if b[0..8] != MAGIC
            || u16_at(8) != PAGE_FORMAT
            || usize::from(u16_at(10)) != PAGE_HEADER
            || crc32c::crc32c(&b[..60]) != u32_at(60)
        {
            return None;
        }
        Some(PageHeader {
            page: u16_at(12),
            file: u16_at(14),
            seq: u64_at(16),
            page_size: u64_at(24),
            wbuf_size: u32_at(32),
            bucket: b[36],
            run: u64_at(40),
        })
    }
}

/// Reads the first bytes of every page of `file` (`pages` pages of `page_size`) and
/// returns the page headers found, with the page's position in the file. Blocking IO:
/// for start-up, before any worker runs.
pub fn scan_headers(file: &FileChannel, page_size: u64, pages: u64) -> Vec<(u64, PageHeader)> {
    let mut found = Vec::new();
    let mut buf = [0u8; PAGE_HEADER];
    for i in 0..pages {
        let pos = i * page_size;
        if let Outcome::Done(_) = file.read_exact_at(&mut buf, pos) {
            if let Some(header) = PageHeader::decode(&buf) {
                found.push((pos, header));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroes_and_other_formats_are_not_headers() {
        assert_eq!(PageHeader::decode(&[0u8; 64]), None);
        assert_eq!(PageHeader::decode(&[0u8; 10]), None);
        let h = PageHeader {
            page: 1,
            file: 2,
            seq: 3,
            page_size: 4,
            wbuf_size: 5,
            bucket: 1,
            run: 6,
        };
        let mut b = h.encode();
        b[8] = 2; // format 2, checksum fixed up: still refused
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(PageHeader::decode(&b), None);
    }
}
