//! The item heap: one mapping of `-m` bytes, reserved up front and touched lazily. Private
//! and anonymous normally; with `-e FILE`, a shared mapping of FILE, so the bytes outlive
//! the process (warm restart, docs/restart.md).

use crate::config::StoreError;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// The kernel hands out pages only when first written, so a fresh 1 GiB heap costs no RSS
/// until items arrive (for a file: a sparse file, whose pages appear as they are written).
pub(crate) struct Heap {
    base: NonNull<u8>,
    len: usize,
    /// The mapped file, for a shared heap. Kept open for as long as the mapping lives.
    file: Option<File>,
}

// SAFETY: the heap is plain memory; who may read or write which bytes is decided by the
// store's protocol (pins, reservations, index locks), not by the thread that mapped it.
unsafe impl Send for Heap {}
// SAFETY: as above; `Heap` itself only hands out raw pointers.
unsafe impl Sync for Heap {}

impl Heap {
    /// A private anonymous heap.
    pub(crate) fn new(len: usize) -> Result<Heap, StoreError> {
        Heap::map(len, None)
    }

    /// A heap that is a shared mapping of `file`, which must be `len` bytes long already.
    pub(crate) fn shared(file: File, len: usize) -> Result<Heap, StoreError> {
        Heap::map(len, Some(file))
    }

    fn map(len: usize, file: Option<File>) -> Result<Heap, StoreError> {
        if len == 0 {
            return Err(StoreError::Config("empty heap".into()));
        }
        let (flags, fd) = match &file {
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
            ),
            Some(f) => (libc::MAP_SHARED, f.as_raw_fd()),
        };
        // SAFETY: a fresh mapping with no address hint (anonymous, or of a file descriptor
        // we hold open); the result is checked against MAP_FAILED before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(StoreError::Config(format!(
                "cannot map a heap of {len} bytes: {}",
                std::io::Error::last_os_error()
            )));
        }
        let base = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| StoreError::Config("mmap returned null".into()))?;
        Ok(Heap { base, len, file })
    }

    /// Unmaps the heap and hands back its file, if it had one.
    pub(crate) fn into_file(mut self) -> Option<File> {
        self.file.take()
    }

    /// Pointer to byte `off` of the heap. Callers keep `off < len`; the store checks this
    /// where offsets are formed (segment id * segment size + offset within segment).
    pub(crate) fn at(&self, off: usize) -> *mut u8 {
        debug_assert!(off < self.len);
        // SAFETY: `off` is within the mapping (debug-checked above, guaranteed by callers),
        // so the result stays inside one allocated object.
        unsafe { self.base.as_ptr().add(off) }
    }

    /// Faults in the pages of a range in one call, before items are written there: a
    /// segment of fresh memory otherwise takes a page fault every 4 KiB as it fills
    /// (measured: 44% of server CPU with 64 KiB values). Pages already present cost only
    /// a page-table walk. Advice only: on kernels without MADV_POPULATE_WRITE (before
    /// 5.14) the pages fault in one by one as before.
    pub(crate) fn populate(&self, off: usize, len: usize) {
        debug_assert!(off + len <= self.len);
        // SAFETY: the range lies inside our mapping; populating writes nothing visible
        // (fresh anonymous pages read as zero either way).
        unsafe {
            libc::madvise(
                self.base.as_ptr().add(off).cast(),
                len,
                libc::MADV_POPULATE_WRITE,
            );
        }
    }

    /// Gives the pages of a range back to the kernel (they read as zero afterwards), so that
    /// memory freed by a flush or a mass expiry stops counting in RSS. For a shared heap
    /// this punches a hole in the file (MADV_REMOVE): dropping only our page-table entries
    /// would leave the pages in the file, in memory on tmpfs.
    pub(crate) fn release(&self, off: usize, len: usize) {
        debug_assert!(off + len <= self.len);
        if self.file.is_some() {
            // SAFETY: the range lies inside our mapping and the caller guarantees nobody
            // reads it (the segment is free: no pins, no index entries). MADV_REMOVE frees
            // the file's pages in that range; they read as zero afterwards.
            let rc = unsafe {
                libc::madvise(self.base.as_ptr().add(off).cast(), len, libc::MADV_REMOVE)
            };
            if rc == 0 {
                return;
            }
            // A filesystem that cannot punch holes keeps the pages; at least unmap them.
        }
        // SAFETY: the range lies inside our mapping and the caller guarantees nobody reads it
        // (the segment is free: no pins, no index entries). MADV_DONTNEED on a private
        // anonymous mapping only zeroes the pages; on a shared one it drops our mappings of
        // them and the file keeps its bytes.
        unsafe {
            libc::madvise(self.base.as_ptr().add(off).cast(), len, libc::MADV_DONTNEED);
        }
    }

    /// The bytes of a range, for checksumming a segment at a clean stop or a restart.
    ///
    /// # Safety
    /// Nobody writes the range while the slice lives (the store is quiescent: stopping, or
    /// not yet serving).
    pub(crate) unsafe fn bytes(&self, off: usize, len: usize) -> &[u8] {
        assert!(
            off <= self.len && len <= self.len - off,
            "range inside the heap"
        );
        // SAFETY: inside the mapping (checked above), readable, and per the caller nobody
        // writes it meanwhile; u8 needs no alignment.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(off), len) }
    }

    /// Writes a shared heap's dirty pages back to its file and waits (a no-op for an
    /// anonymous heap; on tmpfs, where the pages are the file, almost free).
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        // SAFETY: exactly our mapping; msync reads page state and writes nothing we see.
        let rc = unsafe { libc::msync(self.base.as_ptr().cast(), self.len, libc::MS_SYNC) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        self.file.as_ref().map_or(Ok(()), File::sync_data)
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned; nothing borrows the heap once
        // the store that owns it is dropped (ItemRef and Reservation borrow the store).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_release() {
        let h = Heap::new(1 << 20).unwrap();
        // SAFETY: offsets inside the 1 MiB mapping; this test is the only user.
        unsafe {
            *h.at(0) = 7;
            *h.at((1 << 20) - 1) = 9;
            assert_eq!(*h.at(0), 7);
            assert_eq!(*h.at((1 << 20) - 1), 9);
        }
        h.release(0, 4096);
        // SAFETY: as above; released pages read back as zero.
        unsafe { assert_eq!(*h.at(0), 0) };
    }

    #[test]
    fn a_shared_heap_writes_through_to_its_file_and_release_punches_a_hole() {
        use std::io::{Read, Seek, SeekFrom};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heap");
        let len = 1 << 20;
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(len as u64).unwrap();
        let h = Heap::shared(f, len).unwrap();
        // SAFETY: offsets inside the mapping; this test is the only user.
        unsafe {
            *h.at(5) = 42;
            *h.at(8192) = 7;
        }
        h.sync().unwrap();
        let mut back = File::open(&path).unwrap();
        let mut b = [0u8; 6];
        back.read_exact(&mut b).unwrap();
        assert_eq!(b[5], 42, "the file holds what the mapping wrote");
        // SAFETY: nobody writes the heap while the slice lives.
        assert_eq!(unsafe { h.bytes(8190, 3) }, &[0, 0, 7]);
        h.release(0, 4096);
        // SAFETY: as above; a punched hole reads as zero through the mapping and the file.
        unsafe { assert_eq!(*h.at(5), 0) };
        back.seek(SeekFrom::Start(0)).unwrap();
        back.read_exact(&mut b).unwrap();
        assert_eq!(b[5], 0, "release removed the page from the file");
        // SAFETY: as above; the page after the hole is untouched.
        unsafe { assert_eq!(*h.at(8192), 7) };
    }
}
