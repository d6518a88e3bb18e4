//! What the engine is asked to be: files, page and write-buffer sizes, threads, and the
//! compaction tunables, checked before anything is opened.
//!
//! ```
//! use disk::{Bucket, FileSpec};
//! let spec = FileSpec::parse("/var/cache/corvid/ext:4g").unwrap();
//! assert_eq!(spec.size, 4 << 30);
//! assert_eq!(spec.free_bucket, Bucket::Default);
//! assert!(FileSpec::parse("/var/cache/corvid/ext").is_err()); // no size
//! ```
//!
//! Error messages are memcached's where memcached has one, so an operator's scripts
//! that grep for them keep working.

use std::path::PathBuf;
use std::time::Duration;

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// Pages and write buffers are multiples of this (memcached's rule, kept so that
/// configurations move between the two servers unchanged).
pub const SIZE_ALIGN: u64 = 2 * MIB;

/// The largest page: a [`crate::Location`] addresses 2^28 eight-byte units in a page.
pub const PAGE_SIZE_MAX: u64 = 2048 * MIB;

/// A page id is 16 bits: at most this many pages over all files.
pub const PAGE_COUNT_MAX: u64 = u16::MAX as u64;

/// IO threads when `ext_threads` is not given. Measured in docs/disk.md: reads that
/// reach the device overlap on several threads (a single thread waits for each one in
/// turn), and reads served from the page cache do not get slower with more threads.
pub const DEFAULT_IO_THREADS: usize = 4;

/// Groups of pages. Objects written to the same bucket share pages, so pages fill with
/// objects of a like fate: rewritten survivors of compaction together, short-lived
/// objects together (their pages empty all at once and are reclaimed without a copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Everything not sent elsewhere.
    Default = 0,
    /// Objects rewritten by compaction.
    Compact = 1,
    /// Large objects (memcached's "chunked" bucket).
    Large = 2,
    /// Objects whose TTL is under `ext_low_ttl`. Never compacted.
    LowTtl = 3,
}

impl Bucket {
    /// Every bucket, by index.
    pub const ALL: [Bucket; 4] = [
        Bucket::Default,
        Bucket::Compact,
        Bucket::Large,
        Bucket::LowTtl,
    ];

    /// The bucket's number (as `stats extstore` prints it).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The bucket with this number.
    pub fn from_index(index: usize) -> Option<Bucket> {
        Bucket::ALL.get(index).copied()
    }

    /// The name used in `ext_path=FILE:SIZE:NAME`.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Default => "default",
            Bucket::Compact => "compact",
            Bucket::Large => "chunked",
            Bucket::LowTtl => "lowttl",
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `ext_path` without a usable `:SIZE` (missing, zero, no number, or a suffix other
    /// than m, g, t, p).
    #[error("must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)")]
    BadSize,
    /// `ext_path=FILE:SIZE:NAME` with a NAME that is not a bucket.
    #[error("Unknown extstore bucket: {0}")]
    UnknownBucket(String),
    /// No `ext_path` at all.
    #[error("no ext_path given")]
    NoFiles,
    /// The page size is not a multiple of the write-buffer size.
    #[error("page_size must be divisible by wbuf_size")]
    WbufNotDivisor,
    /// A size that is not a multiple of 2 MiB.
    #[error("page_size and wbuf_size must be divisible by 1024*1024*2")]
    Alignment,
    /// Pages larger than a location can address.
    #[error("ext_page_size must be at most 2048 (megabytes)")]
    PageTooLarge,
    /// More pages than a 16-bit page id can name.
    #[error("page_count must total to < 65536. Increase page_size or lower path sizes")]
    TooManyPages,
    /// A file smaller than one page.
    #[error("ext_path {0} is smaller than one page (ext_page_size)")]
    FileTooSmall(String),
    /// `ext_threads=0`.
    #[error("ext_threads must be at least 1")]
    NoThreads,
    /// A negative `ext_max_frag`.
    #[error("ext_max_frag must not be negative")]
    MaxFrag,
    /// `ext_read_mem` smaller than the buffer the largest record needs.
    #[error("ext_read_mem must be at least {0} (megabytes): the largest read buffer")]
    ReadMemTooSmall(u64),
}

/// One `ext_path=FILE:SIZE[:BUCKET]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// The file (or block device).
    pub path: PathBuf,
    /// Bytes of it to use.
    pub size: u64,
    /// The bucket whose writes take this file's pages first.
    pub free_bucket: Bucket,
}

impl FileSpec {
    /// Parses memcached's `FILE:SIZE[:BUCKET]`, SIZE a whole number with a suffix of
    /// m, g, t or p (either case).
    pub fn parse(arg: &str) -> Result<FileSpec, ConfigError> {
        let mut parts = arg.splitn(3, ':');
        let path = parts
            .next()
            .filter(|p| !p.is_empty())
            .ok_or(ConfigError::BadSize)?;
        let size = parse_size(parts.next().ok_or(ConfigError::BadSize)?)?;
        let free_bucket = match parts.next() {
            None => Bucket::Default,
            Some(name) => Bucket::ALL
                .into_iter()
                .find(|b| b.name() == name)
                .ok_or_else(|| ConfigError::UnknownBucket(name.to_string()))?,
        };
        Ok(FileSpec {
            path: PathBuf::from(path),
            size,
            free_bucket,
        })
    }
}

/// `64m`, `4G`, `1t`: a positive whole number and a unit. memcached silently takes a
/// missing or unknown unit as zero bytes and then stores nothing; refusing is kinder.
fn parse_size(text: &str) -> Result<u64, ConfigError> {
    let unit = text.chars().last().ok_or(ConfigError::BadSize)?;
    let shift = match unit.to_ascii_lowercase() {
        'm' => 20,
        'g' => 30,
        't' => 40,
        'p' => 50,
        _ => return Err(ConfigError::BadSize),
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConfigError::BadSize);
    }
    let n: u64 = digits.parse().map_err(|_| ConfigError::BadSize)?;
    if n == 0 {
        return Err(ConfigError::BadSize);
    }
    n.checked_mul(1 << shift).ok_or(ConfigError::BadSize)
}

/// The whole engine configuration. Sizes in bytes.
#[derive(Debug, Clone)]
pub struct DiskConfig {
    /// The files, in `ext_path` order.
    pub files: Vec<FileSpec>,
    /// `ext_page_size` (64 MiB).
    pub page_size: u64,
    /// `ext_wbuf_size` (4 MiB).
    pub wbuf_size: u64,
    /// `ext_threads`: IO threads serving reads.
    pub io_threads: usize,
    /// Write buffers each bucket may have at once (the open one and those being written
    /// out). Two lets writes continue while the previous buffer is on its way.
    pub wbufs_per_bucket: usize,
    /// `ext_compact_under`: compact when fewer pages than this are free. `None`: a
    /// quarter of the pages, as memcached.
    pub compact_under: Option<u32>,
    /// `ext_drop_under`: with `drop_unread`, compact dropping unread objects when fewer
    /// pages than this are free. `None`: a quarter of the pages.
    pub drop_under: Option<u32>,
    /// `ext_max_frag`: pages whose live share is under this are compacted (0.8).
    pub max_frag: f64,
    /// `ext_drop_unread`: compaction drops live objects the owner calls unread.
    pub drop_unread: bool,
    /// `ext_max_sleep`: how long the maintenance thread sleeps when it has nothing to
    /// do (1 s).
    pub max_sleep: Duration,
    /// `ext_read_mem`: bytes of read buffers (lent to reads in flight or waiting to be
    /// sent, and spare) the engine holds at most; a read that would need more is refused
    /// (`get_oom_extstore`). 64 MiB.
    pub read_mem: u64,
}

/// `ext_read_mem` when not given: 2,048 reads of 16 KiB values in flight at once.
pub const DEFAULT_READ_MEM: u64 = 64 * MIB;

impl DiskConfig {
    /// memcached 1.6's defaults for `files`.
    pub fn new(files: Vec<FileSpec>) -> DiskConfig {
        DiskConfig {
            files,
            page_size: 64 * MIB,
            wbuf_size: 4 * MIB,
            io_threads: DEFAULT_IO_THREADS,
            wbufs_per_bucket: 2,
            compact_under: None,
            drop_under: None,
            max_frag: 0.8,
            drop_unread: false,
            max_sleep: Duration::from_secs(1),
            read_mem: DEFAULT_READ_MEM,
        }
    }

    /// Pages each file holds (its size rounded down to whole pages).
    pub fn pages_per_file(&self) -> Vec<u64> {
        self.files.iter().map(|f| f.size / self.page_size).collect()
    }

    /// Pages over all files.
    pub fn page_count(&self) -> u64 {
        self.pages_per_file().iter().sum()
    }

    /// Refuses impossible combinations, in memcached's order of checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.files.is_empty() {
            return Err(ConfigError::NoFiles);
        }
        if self.wbuf_size == 0 || !self.page_size.is_multiple_of(self.wbuf_size) {
            return Err(ConfigError::WbufNotDivisor);
        }
        if !self.page_size.is_multiple_of(SIZE_ALIGN) || !self.wbuf_size.is_multiple_of(SIZE_ALIGN)
        {
            return Err(ConfigError::Alignment);
        }
        if self.page_size > PAGE_SIZE_MAX {
            return Err(ConfigError::PageTooLarge);
        }
        if let Some(small) = self.files.iter().find(|f| f.size < self.page_size) {
            return Err(ConfigError::FileTooSmall(small.path.display().to_string()));
        }
        if self.page_count() >= PAGE_COUNT_MAX {
            return Err(ConfigError::TooManyPages);
        }
        if self.io_threads == 0 {
            return Err(ConfigError::NoThreads);
        }
        if !self.max_frag.is_finite() || self.max_frag < 0.0 {
            return Err(ConfigError::MaxFrag);
        }
        // Every record must be readable: the largest fills a write buffer.
        let largest = crate::read_buf::capacity_for(self.wbuf_size as usize) as u64;
        if self.read_mem < largest {
            return Err(ConfigError::ReadMemTooSmall(largest.div_ceil(MIB)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_memcacheds_suffixes() {
        assert_eq!(parse_size("64m"), Ok(64 * MIB));
        assert_eq!(parse_size("64M"), Ok(64 * MIB));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1t"), Ok(1 << 40));
        assert_eq!(parse_size("1p"), Ok(1 << 50));
        for bad in ["", "m", "0m", "64", "64k", "6x4m", "-1m", "99999999999999p"] {
            assert_eq!(parse_size(bad), Err(ConfigError::BadSize), "{bad}");
        }
    }

    #[test]
    fn file_specs_with_and_without_bucket() {
        let f = FileSpec::parse("/d/f:1g:compact").unwrap();
        assert_eq!(f.path, PathBuf::from("/d/f"));
        assert_eq!(f.free_bucket, Bucket::Compact);
        assert_eq!(
            FileSpec::parse("/d/f:1g:bogus"),
            Err(ConfigError::UnknownBucket("bogus".into()))
        );
        assert_eq!(FileSpec::parse("/d/f"), Err(ConfigError::BadSize));
        assert_eq!(FileSpec::parse(":1g"), Err(ConfigError::BadSize));
        assert_eq!(
            ConfigError::BadSize.to_string(),
            "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)"
        );
    }

    #[test]
    fn impossible_combinations_are_refused() {
        let one = |size| vec![FileSpec::parse(&format!("/d/f:{size}")).unwrap()];
        assert_eq!(DiskConfig::new(one("64m")).validate(), Ok(()));
        let mut c = DiskConfig::new(one("64m"));
        c.wbuf_size = 6 * MIB;
        assert_eq!(c.validate(), Err(ConfigError::WbufNotDivisor));
        c.page_size = 3 * MIB;
        c.wbuf_size = 3 * MIB;
        assert_eq!(c.validate(), Err(ConfigError::Alignment));
        let c = DiskConfig::new(one("32m"));
        assert!(matches!(c.validate(), Err(ConfigError::FileTooSmall(_))));
        let mut c = DiskConfig::new(one("8t"));
        c.page_size = 64 * MIB;
        assert_eq!(c.validate(), Err(ConfigError::TooManyPages));
        let mut c = DiskConfig::new(one("64m"));
        c.io_threads = 0;
        assert_eq!(c.validate(), Err(ConfigError::NoThreads));
        let mut c = DiskConfig::new(one("64m"));
        c.max_frag = -0.5;
        assert_eq!(c.validate(), Err(ConfigError::MaxFrag));
        let mut c = DiskConfig::new(one("64m"));
        c.read_mem = 2 * MIB;
        assert_eq!(c.validate(), Err(ConfigError::ReadMemTooSmall(4)));
        c.read_mem = 4 * MIB;
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            DiskConfig::new(vec![]).validate(),
            Err(ConfigError::NoFiles)
        );
    }
}
