//! The files of `-e FILE`: the memory file itself (opened, locked against a second
//! process, sized), what filesystem it is on, and the restart data next to it
//! (`FILE.meta`), always replaced whole (written aside, synced, renamed), so a reader
//! sees the old version or the new one, never half of one.
//!
//! All of this runs at start and at stop, never on a request path.

use crate::config::StoreError;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What kind of filesystem the memory file is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filesystem {
    /// tmpfs, ramfs or hugetlbfs: the file's pages are memory, writes cost nothing more.
    Memory,
    /// Mounted with `dax`: the mapping reaches persistent memory directly.
    Dax,
    /// Anything else (the name from /proc/self/mountinfo, or the magic number): the
    /// kernel writes dirty pages back to a disk while the cache runs.
    Other(String),
}

impl Filesystem {
    /// Whether Corvid should warn about it.
    pub fn is_slow(&self) -> bool {
        matches!(self, Filesystem::Other(_))
    }
}

/// `FILE.meta`.
pub(crate) fn meta_path(file: &Path) -> PathBuf {
    with_suffix(file, ".meta")
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(file.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

fn file_error(path: &Path, what: &str, e: io::Error) -> StoreError {
    StoreError::MemoryFile(format!("{what} {}: {e}", path.display()))
}

/// Opens (creating it, mode 0600) and locks the memory file. A second process given the
/// same file is refused instead of sharing the heap behind the first one's back.
pub(crate) fn open(path: &Path) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_error(path, "cannot open the memory file", e))?;
    // SAFETY: flock on a descriptor we own; it only takes an advisory lock, released when
    // the file is closed (or the process dies, kill -9 included).
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(if e.kind() == io::ErrorKind::WouldBlock {
            StoreError::MemoryFile(format!(
                "the memory file {} is in use by another process",
                path.display()
            ))
        } else {
            file_error(path, "cannot lock the memory file", e)
        });
    }
    Ok(file)
}

/// Empties the memory file and gives it `len` bytes of holes: the pages of an old heap go
/// back to the system (on tmpfs they are memory), and new ones appear as they are written.
pub(crate) fn reset(file: &File, path: &Path, len: usize) -> Result<(), StoreError> {
    file.set_len(0)
        .and_then(|()| file.set_len(len as u64))
        .map_err(|e| file_error(path, "cannot size the memory file", e))
}

/// Whether the filesystem under `path` can hold `len` more bytes than the file holds now:
/// writing into a hole of a full tmpfs kills the process with SIGBUS, so that is checked
/// once, at start.
pub(crate) fn check_room(file: &File, path: &Path, len: usize) -> Result<(), StoreError> {
    let meta = file
        .metadata()
        .map_err(|e| file_error(path, "cannot stat the memory file", e))?;
    let held = std::os::unix::fs::MetadataExt::blocks(&meta).saturating_mul(512);
    // SAFETY: statvfs is plain old data; zeroed is a valid value that fstatvfs overwrites.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor we own and a pointer to a live struct of the right type.
    if unsafe { libc::fstatvfs(file.as_raw_fd(), &mut st) } != 0 {
        return Err(file_error(
            path,
            "cannot stat the memory file's filesystem",
            io::Error::last_os_error(),
        ));
    }
    let free = st.f_bavail.saturating_mul(st.f_frsize);
    let need = (len as u64).saturating_sub(held);
    if need > free {
        return Err(StoreError::MemoryFile(format!(
            "the filesystem of {} has {} MiB free, the memory file needs {} MiB more \
             (a full tmpfs kills the process on write)",
            path.display(),
            free >> 20,
            need >> 20
        )));
    }
    Ok(())
}

/// The filesystem the memory file is on.
pub(crate) fn filesystem(file: &File, path: &Path) -> Filesystem {
    const TMPFS: i64 = 0x0102_1994;
    const RAMFS: i64 = 0x8584_58f6;
    const HUGETLBFS: i64 = 0x9584_58f6;
    // SAFETY: statfs is plain old data; zeroed is a valid value that fstatfs overwrites.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor we own and a pointer to a live struct of the right type.
    let magic = if unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) } == 0 {
        #[allow(clippy::unnecessary_cast)] // f_type's width differs between libcs
        Some(st.f_type as i64)
    } else {
        None
    };
    if matches!(magic, Some(TMPFS | RAMFS | HUGETLBFS)) {
        return Filesystem::Memory;
    }
    let mount = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| mount_of(&p, &std::fs::read_to_string("/proc/self/mountinfo").ok()?));
    match mount {
        Some(m)
            if m.options
                .split(',')
                .any(|o| o == "dax" || o.starts_with("dax=")) =>
        {
            if m.options.split(',').any(|o| o == "dax=never") {
                Filesystem::Other(m.fstype)
            } else {
                Filesystem::Dax
            }
        }
        Some(m) => Filesystem::Other(m.fstype),
        None => Filesystem::Other(magic.map_or("unknown".into(), |m| format!("{m:#x}"))),
    }
}

struct Mount {
    fstype: String,
    /// Per-mount and per-superblock options, joined.
    options: String,
}

/// The mount holding `path`: the entry of /proc/self/mountinfo with the longest mount point
/// that is a prefix of it (the last one wins among equals: it is mounted on top).
fn mount_of(path: &Path, mountinfo: &str) -> Option<Mount> {
    let mut best: Option<(usize, Mount)> = None;
    for line in mountinfo.lines() {
        // id parent major:minor root mountpoint options [optional...] - fstype source super
        let (left, right) = line.split_once(" - ")?;
        let f: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        let (Some(mp), Some(opts), Some(fstype)) = (f.get(4), f.get(5), r.first()) else {
            continue;
        };
        let mp = unescape(mp);
        if !path.starts_with(&mp) {
            continue;
        }
        let depth = mp.components().count();
        if best.as_ref().is_none_or(|(d, _)| depth >= *d) {
            let options = format!("{opts},{}", r.get(2).copied().unwrap_or(""));
            best = Some((
                depth,
                Mount {
                    fstype: (*fstype).to_string(),
                    options,
                },
            ));
        }
    }
    best.map(|(_, m)| m)
}

/// mountinfo escapes space, tab, newline and backslash as \ooo octal.
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(<OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// Replaces `path` whole: writes a temporary file next to it with `fill`, syncs it,
/// renames it over `path` and syncs the directory. A crash at any point leaves the old
/// file or the new one. Returns the bytes written.
pub(crate) fn replace(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<u64>,
) -> io::Result<u64> {
    let tmp = with_suffix(path, ".tmp");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let n = fill(&mut w).and_then(|n| {
        w.flush()?;
        w.get_ref().sync_all()?;
        Ok(n)
    });
    let n = match n {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_is_the_longest_matching_mount_point() {
        let info = "\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 22 0:25 / /dev/shm rw,nosuid - tmpfs tmpfs rw,size=100k
31 22 259:1 / /mnt/pmem rw - xfs /dev/pmem0 rw,dax=always
32 22 259:2 / /mnt/with\\040space rw - ext4 /dev/x rw,dax
33 22 259:3 / /mnt/never rw - ext4 /dev/y rw,dax=never
";
        let m = |p: &str| mount_of(Path::new(p), info).map(|m| (m.fstype, m.options));
        assert_eq!(m("/var/x").unwrap().0, "ext4");
        assert_eq!(m("/dev/shm/corvid").unwrap().0, "tmpfs");
        assert!(m("/mnt/pmem/f").unwrap().1.contains("dax=always"));
        assert!(m("/mnt/with space/f").unwrap().1.contains(",dax"));
        assert!(m("/mnt/never/f").unwrap().1.contains("dax=never"));
        assert_eq!(
            m("/dev/shmx").unwrap().0,
            "ext4",
            "a prefix of the name is not a parent"
        );
    }

    #[test]
    fn a_second_open_of_a_locked_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mem");
        let first = open(&p).unwrap();
        let Err(StoreError::MemoryFile(msg)) = open(&p) else {
            panic!("second open of a locked memory file succeeded");
        };
        assert!(msg.contains("in use by another process"), "{msg}");
        drop(first);
        assert!(open(&p).is_ok(), "the lock goes with the file");
    }

    #[test]
    fn replace_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mem.meta");
        assert_eq!(replace(&p, |w| w.write_all(b"old").map(|()| 3)).unwrap(), 3);
        let failed = replace(&p, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert!(
            !with_suffix(&p, ".tmp").exists(),
            "no temporary left behind"
        );
        replace(&p, |w| w.write_all(b"new").map(|()| 3)).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }

    #[test]
    fn filesystems_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mem");
        let f = open(&p).unwrap();
        // Whatever the temp dir is on, the answer is consistent with is_slow.
        let fs = filesystem(&f, &p);
        assert_eq!(fs.is_slow(), matches!(fs, Filesystem::Other(_)));
        if Path::new("/dev/shm").is_dir() {
            let d = tempfile::tempdir_in("/dev/shm").unwrap();
            let p = d.path().join("mem");
            let f = open(&p).unwrap();
            assert_eq!(filesystem(&f, &p), Filesystem::Memory);
        }
    }

    #[test]
    fn room_is_checked_against_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mem");
        let f = open(&p).unwrap();
        assert!(check_room(&f, &p, 1 << 20).is_ok());
        let Err(StoreError::MemoryFile(msg)) = check_room(&f, &p, usize::MAX >> 1) else {
            panic!("an exabyte fitted");
        };
        assert!(msg.contains("MiB free"), "{msg}");
    }
}
