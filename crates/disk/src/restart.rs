//! The engine's side of a warm restart (`-e FILE` with `ext_path`): at a clean stop the
//! page table goes into the restart data as the `DISK` section
//! ([`crate::Disk::restart_section`]); at the next start [`crate::Opening::restore`]
//! takes it back if nothing it describes changed, and the locations the owner kept in
//! RAM are valid again.
//!
//! ```text
//! clean stop:  Disk::shutdown (write buffers flushed, files synced) -> restart_section()
//!              -> bytes the store writes into FILE.meta as the DISK section
//! next start:  Opening::new(config)        files stat'ed before they are opened, locked
//!              opening.restore(&bytes)?    settings, files and page headers checked
//!              opening.count_live(loc, n)  once per location the owner kept
//!              opening.start(owner)        pages nothing points at are free again
//! ```
//!
//! Section format 1, little-endian, CRC32C at the end (the store checks its own framing
//! too; this one makes the payload self-checking wherever it travels):
//!
//! | field | bytes |
//! | --- | --- |
//! | format | u16 ([`SECTION_VERSION`]) |
//! | run id, page size, write-buffer size, next allocation number | 4 x u64 |
//! | files | u16, then per file: path (u16 length + bytes), size u64, free bucket u8, kind u8 (1 regular, 2 block device, 0 other), device u64, inode u64, length u64, modified (i64 s + u32 ns) |
//! | pages in use | u32, then per page: id u16, allocation number u64, bucket u8 |
//! | CRC32C of all the above | u32 |
//!
//! What must match, or the whole section is refused ([`Refused`]; the owner then drops
//! the items it kept): the section itself (framing, checksum, format); `ext_page_size`,
//! `ext_wbuf_size`, and each `ext_path` (same order, path, size and bucket); each file as
//! it was at the stop (same device and inode, same length, and for a regular file the
//! same modification time: a file truncated, replaced or written to since is refused
//! before anything reads it); and the 64-byte header of every page in use (magic,
//! checksum, page id, file, allocation number, sizes, bucket, run id). Live counts are
//! not saved: the owner's index is the truth, and items that expired while the server
//! was down may leave it before the engine is back ([`crate::Opening::count_live`]).
//!
//! A restored engine continues the run it restored: new pages carry the same run id and
//! allocation numbers go on from where they stopped, so a location taken before the
//! restart never matches a page allocated after it.

use crate::config::{Bucket, DiskConfig, PAGE_COUNT_MAX};
use crate::page_header::{PageHeader, PAGE_HEADER};
use channel::{FileChannel, Outcome};
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// The tag of the disk tier's section in the restart data.
pub const SECTION_TAG: [u8; 4] = *b"DISK";
/// The section's format version.
pub const SECTION_VERSION: u16 = 1;

/// Why a saved page table was not taken back. Its `Display` is the reason a log line
/// gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The section ends before its contents do.
    #[error("the DISK section is truncated")]
    Truncated,
    /// The section fails its checksum or does not make sense.
    #[error("the DISK section is corrupt ({0})")]
    Corrupt(String),
    /// Written by another format of the engine.
    #[error("the DISK section has format {0}; this build reads format {SECTION_VERSION}")]
    Version(u16),
    /// A setting that shapes the files differs from the run that saved them.
    #[error("{setting} changed since the last clean stop (was {old}, now {new})")]
    Setting {
        setting: String,
        old: String,
        new: String,
    },
    /// A file is not as the clean stop left it.
    #[error("{path} {what} since the last clean stop")]
    FileChanged { path: String, what: &'static str },
    /// A page header does not say what the section says.
    #[error("page {page} (in {path}): {what}")]
    Page {
        page: u16,
        path: String,
        what: String,
    },
}

/// A file as `fstat` saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    kind: u8,
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_ns: u32,
}

const REGULAR: u8 = 1;
const BLOCK: u8 = 2;

impl Stamp {
    pub(crate) fn of(meta: &Metadata) -> Stamp {
        let ft = meta.file_type();
        Stamp {
            kind: if ft.is_file() {
                REGULAR
            } else if ft.is_block_device() {
                BLOCK
            } else {
                0
            },
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: meta.mtime(),
            mtime_ns: meta.mtime_nsec().clamp(0, 999_999_999) as u32,
        }
    }

    /// How `now` differs from this stamp, if it does. A block device's length and time
    /// say nothing (writes through the device do not move them): its page headers are
    /// the check.
    fn change(&self, now: &Stamp) -> Option<&'static str> {
        if (self.kind, self.dev, self.ino) != (now.kind, now.dev, now.ino) {
            return Some("was replaced");
        }
        if self.kind != REGULAR {
            return None;
        }
        if self.len != now.len {
            return Some("changed length");
        }
        ((self.mtime, self.mtime_ns) != (now.mtime, now.mtime_ns)).then_some("was written to")
    }
}

/// One `ext_path` as saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedFile {
    pub(crate) path: Vec<u8>,
    pub(crate) size: u64,
    pub(crate) free_bucket: u8,
    pub(crate) stamp: Stamp,
}

/// A page in use at the stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SavedPage {
    pub(crate) id: u16,
    pub(crate) seq: u64,
    pub(crate) bucket: Bucket,
}

/// The page table as a clean stop left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedTable {
    pub(crate) run: u64,
    pub(crate) page_size: u64,
    pub(crate) wbuf_size: u64,
    pub(crate) next_seq: u64,
    pub(crate) files: Vec<SavedFile>,
    pub(crate) pages: Vec<SavedPage>,
}

const FILE_FIXED: usize = 2 + 8 + 1 + 1 + 8 + 8 + 8 + 8 + 4;
const PAGE_BYTES: usize = 2 + 8 + 1;

impl SavedTable {
    /// The section's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + self.pages.len() * PAGE_BYTES);
        b.extend_from_slice(&SECTION_VERSION.to_le_bytes());
        for n in [self.run, self.page_size, self.wbuf_size, self.next_seq] {
            b.extend_from_slice(&n.to_le_bytes());
        }
        b.extend_from_slice(&(self.files.len() as u16).to_le_bytes());
        for f in &self.files {
            b.extend_from_slice(&(f.path.len() as u16).to_le_bytes());
            b.extend_from_slice(&f.path);
            b.extend_from_slice(&f.size.to_le_bytes());
            b.push(f.free_bucket);
            let s = &f.stamp;
            b.push(s.kind);
            for n in [s.dev, s.ino, s.len] {
                b.extend_from_slice(&n.to_le_bytes());
            }
            b.extend_from_slice(&s.mtime.to_le_bytes());
            b.extend_from_slice(&s.mtime_ns.to_le_bytes());
        }
        b.extend_from_slice(&(self.pages.len() as u32).to_le_bytes());
        for p in &self.pages {
            b.extend_from_slice(&p.id.to_le_bytes());
            b.extend_from_slice(&p.seq.to_le_bytes());
            b.push(p.bucket as u8);
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// The table in `bytes`, checked for framing and sense (not yet against anything).
    pub(crate) fn decode(bytes: &[u8]) -> Result<SavedTable, Refused> {
        let corrupt = |what: &str| Refused::Corrupt(what.to_string());
        let mut r = Reader(bytes);
        let version = r.u16()?;
        if version != SECTION_VERSION {
            return Err(Refused::Version(version));
        }
        let body = bytes.len().checked_sub(4).ok_or(Refused::Truncated)?;
        let (run, page_size, wbuf_size, next_seq) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
        let nfiles = usize::from(r.u16()?);
        if nfiles == 0 {
            return Err(corrupt("no files"));
        }
        // Never allocate beyond what the bytes can hold.
        let mut files = Vec::with_capacity(nfiles.min(r.0.len() / FILE_FIXED));
        for _ in 0..nfiles {
            let len = usize::from(r.u16()?);
            let path = r.take(len)?.to_vec();
            let size = r.u64()?;
            let free_bucket = r.u8()?;
            let kind = r.u8()?;
            let (dev, ino, flen) = (r.u64()?, r.u64()?, r.u64()?);
            let (mtime, mtime_ns) = (r.u64()? as i64, r.u32()?);
            if Bucket::from_index(usize::from(free_bucket)).is_none() {
                return Err(corrupt("a file's bucket"));
            }
            files.push(SavedFile {
                path,
                size,
                free_bucket,
                stamp: Stamp {
                    kind,
                    dev,
                    ino,
                    len: flen,
                    mtime,
                    mtime_ns,
                },
            });
        }
        let npages = r.u32()? as usize;
        if npages as u64 > PAGE_COUNT_MAX {
            return Err(corrupt("more pages than page ids"));
        }
        if r.0.len() < npages * PAGE_BYTES {
            return Err(Refused::Truncated);
        }
        let mut pages = Vec::with_capacity(npages);
        let mut seen = vec![false; PAGE_COUNT_MAX as usize + 1];
        for _ in 0..npages {
            let (id, seq, bucket) = (r.u16()?, r.u64()?, r.u8()?);
            let bucket = Bucket::from_index(usize::from(bucket))
                .ok_or_else(|| corrupt("a page's bucket"))?;
            if std::mem::replace(&mut seen[usize::from(id)], true) {
                return Err(corrupt("a page listed twice"));
            }
            if seq == 0 || seq >= next_seq {
                return Err(corrupt("a page's allocation number"));
            }
            pages.push(SavedPage { id, seq, bucket });
        }
        let crc = r.u32()?;
        if !r.0.is_empty() {
            return Err(corrupt("bytes after the end"));
        }
        if crc32c::crc32c(&bytes[..body]) != crc {
            return Err(corrupt("checksum"));
        }
        Ok(SavedTable {
            run,
            page_size,
            wbuf_size,
            next_seq,
            files,
            pages,
        })
    }

    /// Refuses the table unless `config` has the same sizes and files, and each file is
    /// as the stop left it (`before`: its stamp before this start opened it, `None` if it
    /// did not exist).
    pub(crate) fn check_config(
        &self,
        config: &DiskConfig,
        before: &[Option<Stamp>],
    ) -> Result<(), Refused> {
        let setting = |setting: &str, old: String, new: String| Refused::Setting {
            setting: setting.to_string(),
            old,
            new,
        };
        if self.page_size != config.page_size {
            let (old, new) = (self.page_size.to_string(), config.page_size.to_string());
            return Err(setting("ext_page_size", old, new));
        }
        if self.wbuf_size != config.wbuf_size {
            let (old, new) = (self.wbuf_size.to_string(), config.wbuf_size.to_string());
            return Err(setting("ext_wbuf_size", old, new));
        }
        // Each file as `FILE:SIZE:BUCKET`: what must be the same, and what a log shows.
        let saved: Vec<String> = self
            .files
            .iter()
            .map(|f| {
                let bucket =
                    Bucket::from_index(usize::from(f.free_bucket)).map_or("?", Bucket::name);
                format!("{}:{}:{bucket}", String::from_utf8_lossy(&f.path), f.size)
            })
            .collect();
        let now: Vec<String> = config
            .files
            .iter()
            .map(|f| {
                let path = String::from_utf8_lossy(f.path.as_os_str().as_bytes());
                format!("{path}:{}:{}", f.size, f.free_bucket.name())
            })
            .collect();
        let same_paths = self
            .files
            .iter()
            .zip(&config.files)
            .all(|(a, b)| a.path == b.path.as_os_str().as_bytes());
        if saved != now || !same_paths {
            return Err(setting("ext_path", saved.join(","), now.join(",")));
        }
        for (saved, found) in self.files.iter().zip(before) {
            let path = String::from_utf8_lossy(&saved.path).into_owned();
            let what = match found {
                None => Some("is missing"),
                Some(found) => saved.stamp.change(found),
            };
            if let Some(what) = what {
                return Err(Refused::FileChanged { path, what });
            }
        }
        Ok(())
    }

    /// Refuses the table unless every page in use has the header this table expects.
    /// `place`: a page's file and position in it. Blocking reads: at start-up only.
    pub(crate) fn check_headers(
        &self,
        files: &[FileChannel],
        place: impl Fn(u16) -> Option<(u16, u64)>,
    ) -> Result<(), Refused> {
        let mut buf = [0u8; PAGE_HEADER];
        for p in &self.pages {
            let Some((file, pos)) = place(p.id) else {
                return Err(Refused::Corrupt(format!("page {} does not exist", p.id)));
            };
            let channel = &files[usize::from(file)];
            let fail = |what: String| Refused::Page {
                page: p.id,
                path: channel.path().display().to_string(),
                what,
            };
            if !matches!(channel.read_exact_at(&mut buf, pos), Outcome::Done(_)) {
                return Err(fail("its header cannot be read".to_string()));
            }
            let Some(found) = PageHeader::decode(&buf) else {
                return Err(fail("no valid page header".to_string()));
            };
            let expect = PageHeader {
                page: p.id,
                file,
                seq: p.seq,
                page_size: self.page_size,
                wbuf_size: self.wbuf_size as u32,
                bucket: p.bucket as u8,
                run: self.run,
            };
            if found != expect {
                return Err(fail(format!(
                    "the header says {found:?}, the restart data {expect:?}"
                )));
            }
        }
        Ok(())
    }
}

/// Little-endian fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Refused> {
        if self.0.len() < n {
            return Err(Refused::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Refused> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Refused> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Refused> {
        let mut w = [0u8; 4];
        w.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(w))
    }

    fn u64(&mut self) -> Result<u64, Refused> {
        let mut w = [0u8; 8];
        w.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(w))
    }
}

#[cfg(test)]
#[path = "restart_tests.rs"]
mod tests;
