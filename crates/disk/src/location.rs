//! Where an object lives on disk, in the 8 bytes the owner keeps in RAM per object.
//!
//! ```
//! use disk::Location;
//! let loc = Location::from_bits(0x0003_00001_0000040);
//! assert_eq!(loc.page(), 3);
//! assert_eq!(loc.version(), 1);
//! assert_eq!(loc.offset(), 0x40 * 8);
//! assert_eq!(Location::from_bits(loc.to_bits()), loc);
//! ```
//!
//! Layout of the 64 bits, high to low:
//!
//! | bits | field | why this width |
//! | --- | --- | --- |
//! | 16 | page id | memcached's limit: fewer than 65,536 pages (4 TiB of 64 MiB pages) |
//! | 20 | page version | the low bits of the page's allocation number: a location taken before the page was reused is refused (stale) unless exactly a multiple of 2^20 allocations happened in between, and then the key and checksum in the record catch it |
//! | 28 | offset / 8 | records start on 8-byte boundaries, so 2^28 units cover pages up to 2 GiB |
//!
//! The object's length is not here: the owner already keeps the key and value lengths
//! (it must, to answer `VALUE k f n`), and [`crate::record_len`] turns them into the
//! record length a read or a release needs. memcached's equivalent (`item_hdr`) is 12
//! bytes; one `u64` fits where the value's bytes would otherwise start.

use std::fmt;

const OFFSET_BITS: u32 = 28;
const VERSION_BITS: u32 = 20;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;
const VERSION_MASK: u64 = (1 << VERSION_BITS) - 1;

/// Records start on multiples of this.
pub const RECORD_ALIGN: u64 = 8;

/// A record's place: page id, page version, byte offset in the page.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location(u64);

impl Location {
    /// Bytes a location takes in RAM.
    pub const BYTES: usize = 8;

    /// A location. `offset` must be a multiple of [`RECORD_ALIGN`] under 2 GiB; only
    /// the low 20 bits of `seq` (the page's allocation number) are kept.
    pub(crate) fn new(page: u16, seq: u64, offset: u64) -> Location {
        debug_assert_eq!(offset % RECORD_ALIGN, 0);
        debug_assert!(offset / RECORD_ALIGN <= OFFSET_MASK);
        Location(
            (u64::from(page) << (VERSION_BITS + OFFSET_BITS))
                | ((seq & VERSION_MASK) << OFFSET_BITS)
                | ((offset / RECORD_ALIGN) & OFFSET_MASK),
        )
    }

    /// The page id.
    pub fn page(self) -> u16 {
        (self.0 >> (VERSION_BITS + OFFSET_BITS)) as u16
    }

    /// The page version: the low 20 bits of the page's allocation number.
    pub fn version(self) -> u32 {
        ((self.0 >> OFFSET_BITS) & VERSION_MASK) as u32
    }

    /// Byte offset of the record in its page.
    pub fn offset(self) -> u64 {
        (self.0 & OFFSET_MASK) * RECORD_ALIGN
    }

    /// The bits to keep in RAM.
    pub fn to_bits(self) -> u64 {
        self.0
    }

    /// A location from kept bits. Any bits are accepted: the engine checks the page id,
    /// version and bounds before it reads anything.
    pub fn from_bits(bits: u64) -> Location {
        Location(bits)
    }

    /// True if this location was taken while the page had allocation number `seq`.
    pub(crate) fn matches(self, seq: u64) -> bool {
        u64::from(self.version()) == seq & VERSION_MASK
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Location(page {} v{} @{})",
            self.page(),
            self.version(),
            self.offset()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_at_their_limits() {
        let loc = Location::new(u16::MAX, (1 << 20) - 1, (2 << 30) - 8);
        assert_eq!(loc.page(), u16::MAX);
        assert_eq!(loc.version(), (1 << 20) - 1);
        assert_eq!(loc.offset(), (2 << 30) - 8);
        let zero = Location::new(0, 0, 0);
        assert_eq!((zero.page(), zero.version(), zero.offset()), (0, 0, 0));
    }

    #[test]
    fn version_keeps_the_low_bits_of_the_allocation_number() {
        let loc = Location::new(7, (5 << 20) + 9, 64);
        assert_eq!(loc.version(), 9);
        assert!(loc.matches(9));
        assert!(loc.matches((1 << 20) + 9));
        assert!(!loc.matches(10));
        assert_eq!(loc.page(), 7);
        assert_eq!(loc.offset(), 64);
    }
}
