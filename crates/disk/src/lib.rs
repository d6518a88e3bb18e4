//! The disk tier's engine (memcached's extstore): values that leave RAM are kept in
//! large files, cut into pages, written through write buffers by a background thread
//! and read back by IO threads while the connection that asked waits elsewhere.
//!
//! The server glues it to the store (`server::disk_tier`, `server::cache::tier`): the
//! store keeps each on-disk item's key, metadata and 8-byte [`Location`]; this crate
//! keeps the bytes.
//!
//! What it does:
//! - files from `ext_path=FILE:SIZE` ([`FileSpec`]), several pooled, each its own
//!   [`channel::FileChannel`] (locked, so a second server cannot use it), cut into pages
//!   of `ext_page_size`;
//! - [`Disk::write`] copies an object into the open write buffer of its [`Bucket`] (one
//!   memcpy on the caller's thread, which must be a background thread, never a worker);
//!   full buffers go to disk with one `pwrite` on the flusher thread; objects still in
//!   a buffer are read from memory;
//! - [`Disk::read`] queues a read for the IO threads (`ext_threads`), which `pread` the
//!   record into a pooled [`ReadBuf`], check its CRC32C and run the request's
//!   [`Completion`] on the IO thread; the reply sends the value from that buffer by
//!   reference (the value is copied once, from the kernel); read buffers hold at most
//!   `ext_read_mem` ([`DiskConfig::read_mem`]): a read past it is refused at once (the
//!   completion is handed back);
//! - a short read, a checksum mismatch or a page reused since ([`ReadError`]) is
//!   reported as such, for the caller to turn into a miss;
//! - [`Disk::release`] (overwrite, delete, expiry) costs no IO: pages keep live-byte
//!   and live-object counts; empty pages are freed; the maintenance thread compacts
//!   pages whose live share is under `ext_max_frag` (asking the [`Owner`] which records
//!   are still live) and drops the oldest page when none is free;
//! - every `extstore_*` counter memcached reports ([`DiskStats`]) and per-page data for
//!   `stats extstore` ([`PageData`]);
//! - a versioned page header ([`PageHeader`]) on every page, and the page table saved at
//!   a clean stop and taken back at the next start ([`restart`], [`Opening`]) when the
//!   files and every page header still agree, so values on disk survive a warm restart.
//!
//! What it must never do: block a worker (every call a worker may make takes only short
//! locks; `pread`/`pwrite` happen on the engine's own threads), know about protocols or
//! the store's item layout (metadata is opaque bytes), or hand out bytes that did not
//! pass their checksum.
//!
//! Threads: `ext_threads` IO threads (`ext-io-N`), one flusher (`ext-flush`: writes do
//! not queue behind reads, nor reads behind 4 MiB writes), one maintenance thread
//! (`ext-maint`). Why each size and count is what it is: docs/disk.md.
//!
//! Hand-written rather than a crate: no crate offers a page-structured, checksummed
//! object log with owner-driven compaction; the parts that exist as crates (CRC32C,
//! locks) are used.

mod compaction;
mod config;
mod disk;
mod engine;
mod location;
mod page_header;
mod pages;
mod read_buf;
mod reader;
mod record;
pub mod restart;
mod stats;
mod tuning;
mod write_buffer;

pub use compaction::{Fate, Found, Mover, Owner};
pub use config::{
    Bucket, ConfigError, DiskConfig, FileSpec, DEFAULT_IO_THREADS, DEFAULT_READ_MEM, MIB,
    PAGE_COUNT_MAX, PAGE_SIZE_MAX, SIZE_ALIGN,
};
pub use disk::{Disk, DiskError, DiskHandle, Opening};
pub use engine::WriteError;
pub use location::{Location, RECORD_ALIGN};
pub use page_header::{scan_headers, PageHeader, PAGE_FORMAT, PAGE_HEADER};
pub use pages::PageData;
pub use read_buf::ReadBuf;
pub use reader::{Completion, ReadError, ReadResult};
pub use record::{record_len, Record, RecordError, Records, RECORD_HEADER};
pub use stats::DiskStats;
pub use tuning::Tuning;
