//! The file channel: positioned reads and writes on a file of fixed size that one server
//! holds for itself.
//!
//! ```
//! use channel::{FileChannel, Outcome};
//! let dir = std::env::temp_dir().join(format!("corvid-file-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let file = FileChannel::open(&dir.join("f"), 4096).unwrap();
//! assert_eq!(file.write_all_at(b"hello", 100), Outcome::Done(5));
//! let mut buf = [0u8; 5];
//! assert_eq!(file.read_exact_at(&mut buf, 100), Outcome::Done(5));
//! assert_eq!(&buf, b"hello");
//! # drop(file); std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! Reads and writes are `pread` and `pwrite`: no shared file position, so any number of
//! threads may use one channel at once. As for sockets, each call answers an [`Outcome`]:
//! EINTR is retried here; a read at or past the end of the file is `Abort(Closed)`; any
//! other error is `Abort(Failed(kind))`. A regular file never answers `Retry`.
//!
//! Opening takes an exclusive lock on the whole file, so a second server pointed at the
//! same path is refused ([`OpenError::Locked`]) instead of silently overwriting the first
//! one's data. It is an open-file-description lock (`fcntl(F_OFD_SETLK)`): it conflicts
//! with the POSIX record lock memcached's extstore takes (a Corvid and a memcached cannot
//! share a file, either way round) and, unlike that one, with a second open of the same
//! path in this process. It is released when the channel drops.

use crate::outcome::{classify, once, Outcome};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Why a file could not be opened as a channel.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (or another channel of this one) holds the file's lock.
    #[error("{path}: file is locked by another process")]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The operating system refused to open, lock or size the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

impl OpenError {
    /// The operating system's error, when there is one (for messages that print it the
    /// way memcached prints `perror`).
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            OpenError::Locked { .. } => None,
            OpenError::Io { source, .. } => Some(source),
        }
    }
}

/// A locked file read and written at explicit offsets.
#[derive(Debug)]
pub struct FileChannel {
    file: File,
    path: PathBuf,
}

impl FileChannel {
    /// Opens (creating if needed) `path` for reading and writing, locks it, and makes a
    /// regular file `size` bytes long (sparse: nothing is written). Existing contents are
    /// kept, so a later start can find what an earlier one wrote.
    pub fn open(path: &Path, size: u64) -> Result<FileChannel, OpenError> {
        let io_err = |source| OpenError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err)?;
        lock_exclusive(&file).map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                OpenError::Locked {
                    path: path.to_path_buf(),
                }
            } else {
                io_err(e)
            }
        })?;
        let meta = file.metadata().map_err(io_err)?;
        // A block device has its own size; only a regular file is sized to fit.
        if meta.is_file() && meta.len() != size {
            file.set_len(size).map_err(io_err)?;
        }
        Ok(FileChannel {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The path the channel was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file is now (`fstat`): a warm restart notes its identity, length and
    /// modification time at a clean stop to tell, at the next start, whether anything
    /// wrote to it in between.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.file.metadata()
    }

    /// One `pread` of up to `buf.len()` bytes at `offset`. `Done(n)` may be short.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Outcome {
        once(!buf.is_empty(), || self.file.read_at(buf, offset))
    }

    /// One `pwrite` of up to `buf.len()` bytes at `offset`. `Done(n)` may be short.
    pub fn write_at(&self, buf: &[u8], offset: u64) -> Outcome {
        once(!buf.is_empty(), || self.file.write_at(buf, offset))
    }

    /// Reads until `buf` is full. `Done(buf.len())`, or `Abort(Closed)` when the file
    /// ends first (a short read), or the error that stopped it.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Outcome {
        let mut done = 0;
        while done < buf.len() {
            match self.read_at(&mut buf[done..], offset + done as u64) {
                Outcome::Done(n) => done += n,
                other => return other,
            }
        }
        Outcome::Done(done)
    }

    /// Writes all of `buf`. `Done(buf.len())` or the error that stopped it.
    pub fn write_all_at(&self, buf: &[u8], offset: u64) -> Outcome {
        let mut done = 0;
        while done < buf.len() {
            match self.write_at(&buf[done..], offset + done as u64) {
                Outcome::Done(n) => done += n,
                other => return other,
            }
        }
        Outcome::Done(done)
    }

    /// Asks the kernel to write this file's dirty pages out and wait for them
    /// (`fdatasync`).
    pub fn sync_data(&self) -> Outcome {
        loop {
            match self.file.sync_data() {
                Ok(()) => return Outcome::Done(0),
                Err(e) => {
                    if let Some(outcome) = classify(&e) {
                        return outcome;
                    }
                }
            }
        }
    }

    /// Tells the kernel the cached pages of this file are not needed again
    /// (`posix_fadvise(DONTNEED)`): benchmarks use it to measure reads that reach the
    /// device.
    pub fn drop_cache(&self) -> Outcome {
        // SAFETY: fadvise takes a valid descriptor (ours, open for the channel's
        // lifetime) and plain integers; it touches no memory of ours.
        let rc =
            unsafe { libc::posix_fadvise(self.file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc == 0 {
            return Outcome::Done(0);
        }
        let err = io::Error::from_raw_os_error(rc);
        classify(&err).unwrap_or(Outcome::Abort(crate::Abort::Failed(err.kind())))
    }
}

/// A write lock over the whole file, held by the open file description
/// (`fcntl(F_OFD_SETLK)`, not waiting): a second open of the same path, in this process
/// or another, is refused, and so is a memcached whose extstore locks the file with
/// `fcntl(F_SETLK)` (the two kinds of lock conflict). It goes away with the descriptor,
/// even if the process dies. A conflict answers `WouldBlock`.
fn lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: `flock` is a plain C struct of integers, for which all zeroes is valid.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // l_start 0, l_len 0: the whole file, however long it grows; l_pid must be 0.
    loop {
        // SAFETY: fcntl takes a descriptor that stays open for the call (we borrow
        // `file`), the command, and a pointer to a live `flock` it only reads.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            // POSIX allows either for a lock held elsewhere.
            Some(libc::EAGAIN) | Some(libc::EACCES) => {
                return Err(io::Error::from_raw_os_error(libc::EAGAIN))
            }
            _ => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Abort;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("corvid-file-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trip_and_end_of_file() {
        let dir = temp_dir("rt");
        let file = FileChannel::open(&dir.join("f"), 8192).unwrap();
        assert_eq!(file.write_all_at(&[7u8; 100], 8000), Outcome::Done(100));
        let mut buf = [0u8; 100];
        assert_eq!(file.read_exact_at(&mut buf, 8000), Outcome::Done(100));
        assert_eq!(buf, [7u8; 100]);
        // The file is 8192 bytes: a read running past the end is short, then closed.
        let mut big = [0u8; 300];
        assert_eq!(file.read_at(&mut big, 8000), Outcome::Done(192));
        assert_eq!(
            file.read_exact_at(&mut big, 8000),
            Outcome::Abort(Abort::Closed)
        );
        assert_eq!(file.sync_data(), Outcome::Done(0));
        assert_eq!(file.drop_cache(), Outcome::Done(0));
        drop(file);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let dir = temp_dir("lock");
        let path = dir.join("f");
        let first = FileChannel::open(&path, 4096).unwrap();
        let second = FileChannel::open(&path, 4096);
        assert!(
            matches!(second, Err(OpenError::Locked { .. })),
            "{second:?}"
        );
        drop(first);
        let third = FileChannel::open(&path, 4096);
        assert!(third.is_ok(), "the lock goes with the first channel");
        drop(third);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn contents_survive_reopening() {
        let dir = temp_dir("keep");
        let path = dir.join("f");
        let file = FileChannel::open(&path, 4096).unwrap();
        assert_eq!(file.write_all_at(b"kept", 10), Outcome::Done(4));
        drop(file);
        let file = FileChannel::open(&path, 4096).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(file.read_exact_at(&mut buf, 10), Outcome::Done(4));
        assert_eq!(&buf, b"kept");
        drop(file);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_directory_is_an_io_error() {
        let err = FileChannel::open(Path::new("/nonexistent-corvid-dir/f"), 4096).unwrap_err();
        assert_eq!(
            err.io_error().map(io::Error::kind),
            Some(io::ErrorKind::NotFound)
        );
    }
}
