//! The ring's registered file table: sockets that operations name by index
//! (`IOSQE_FIXED_FILE`), so the kernel neither looks the descriptor up nor takes and
//! drops a reference to its file on each operation (in a process of several threads,
//! two atomic operations per receive or send).
//!
//! Session `slot`'s socket sits at index `slot`. The table holds a reference to each
//! file it has: a socket stays open until it is taken out again, so a session is
//! unregistered when it is freed, before its descriptor closes.

use io_uring::{squeue, types, IoUring};
use std::os::fd::RawFd;

/// Most entries a table has (slots past it use plain descriptors). The kernel refuses
/// a table larger than the descriptor limit, and keeps 8 bytes per entry.
const MOST: u32 = 1 << 16;

/// The descriptor an operation names: the socket's own, or its index in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum File {
    Fd(RawFd),
    Fixed(u32),
}

impl File {
    /// The number to put in the submission's descriptor field.
    pub(super) fn fd(self) -> types::Fd {
        match self {
            File::Fd(fd) => types::Fd(fd),
            // An index below MOST, so it fits.
            File::Fixed(index) => types::Fd(index as RawFd),
        }
    }

    /// The submission flag that says which of the two `fd()` is.
    pub(super) fn flags(self) -> squeue::Flags {
        match self {
            File::Fd(_) => squeue::Flags::empty(),
            File::Fixed(_) => squeue::Flags::FIXED_FILE,
        }
    }
}

/// A ring's table (sparse: every entry empty until a session registers).
pub(super) struct Files {
    size: u32,
}

impl Files {
    /// A table as large as the descriptor limit allows (at most `MOST`); None if the
    /// kernel refuses one.
    pub(super) fn new(ring: &IoUring) -> Option<Files> {
        // SAFETY: all-zero is a valid rlimit, and getrlimit only writes into it.
        let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY: a valid resource and a pointer to a live rlimit.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        let size = u32::try_from(limit.rlim_cur).unwrap_or(MOST).min(MOST);
        if size == 0 {
            return None;
        }
        ring.submitter().register_files_sparse(size).ok()?;
        Some(Files { size })
    }

    /// Puts `fd` at index `slot`, if the table reaches that far and the kernel takes it.
    pub(super) fn register(&mut self, ring: &IoUring, slot: u32, fd: RawFd) -> File {
        if slot < self.size && ring.submitter().register_files_update(slot, &[fd]).is_ok() {
            File::Fixed(slot)
        } else {
            File::Fd(fd)
        }
    }

    /// Empties `file`'s entry (nothing must be in flight on it).
    pub(super) fn unregister(&mut self, ring: &IoUring, file: File) {
        if let File::Fixed(index) = file {
            // -1 empties the entry. It cannot fail for an index in the table; if it did,
            // the socket would stay open until the ring is dropped.
            let _ = ring.submitter().register_files_update(index, &[-1]);
        }
    }
}
