//! A stream socket's reads and writes as bare system calls.
//!
//! glibc's `recv`, `send`, `readv` and `writev` (what `std` calls) are thread
//! cancellation points: each one turns asynchronous cancellation on before the system
//! call and off after it, two atomic read-modify-writes on the thread's cancellation
//! word. Corvid never cancels a thread, so that bookkeeping buys nothing, and a locked
//! instruction right after a large copy into a value's reservation waits for the copy's
//! stores to drain: in `perf` of the 64 KiB 1:1 load it was 2.0% of the server's CPU
//! (docs/io.md, "64 KiB values, measured again"). `syscall(2)` is not a cancellation point.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::RawFd;

/// Turns a system call's return into a result.
fn result(n: libc::c_long) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `recv(fd, buf, 0)`.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable memory of `buf.len()` bytes for the whole call; no
    // address is asked for (null pointers). The kernel writes at most `buf.len()` bytes.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            libc::c_long::from(fd),
            buf.as_mut_ptr(),
            buf.len(),
            0 as libc::c_long,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    result(n)
}

/// `readv(fd, bufs)`.
pub fn readv(fd: RawFd, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    // SAFETY: `IoSliceMut` is ABI-compatible with `struct iovec` (guaranteed by std on
    // Unix); each points at writable memory that outlives the call. The count is capped
    // at `IOV_MAX`'s floor, 1024: `std` callers pass at most `IOVECS_PER_CALL`.
    let n = unsafe {
        libc::syscall(
            libc::SYS_readv,
            libc::c_long::from(fd),
            bufs.as_mut_ptr(),
            bufs.len().min(1024),
        )
    };
    result(n)
}

/// `send(fd, buf, MSG_NOSIGNAL)`: a peer that is gone is an error, not a SIGPIPE.
pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is readable memory of `buf.len()` bytes for the whole call; no
    // address is given (null, 0).
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            libc::c_long::from(fd),
            buf.as_ptr(),
            buf.len(),
            libc::c_long::from(libc::MSG_NOSIGNAL),
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::c_long,
        )
    };
    result(n)
}

/// `writev(fd, bufs)`. As with `std`'s, a peer that is gone raises SIGPIPE, which the
/// Rust runtime ignores at startup: the call then fails with `EPIPE`.
pub fn writev(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: `IoSlice` is ABI-compatible with `struct iovec` (guaranteed by std on
    // Unix); each points at readable memory that outlives the call.
    let n = unsafe {
        libc::syscall(
            libc::SYS_writev,
            libc::c_long::from(fd),
            bufs.as_ptr(),
            bufs.len().min(1024),
        )
    };
    result(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn each_call_moves_bytes_and_reports_errors() {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let fd = a.as_raw_fd();
        let mut buf = [0u8; 8];
        // Nothing there: EAGAIN, as an error.
        let e = recv(fd, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);

        b.write_all(b"0123456789").unwrap();
        assert_eq!(recv(fd, &mut buf).unwrap(), 8);
        assert_eq!(&buf, b"01234567");
        let (mut x, mut y) = ([0u8; 1], [0u8; 4]);
        let mut parts = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
        assert_eq!(readv(fd, &mut parts).unwrap(), 2);
        assert_eq!((&x, &y[..1]), (b"8", &b"9"[..]));

        assert_eq!(send(fd, b"hello").unwrap(), 5);
        let parts = [IoSlice::new(b" wor"), IoSlice::new(b"ld")];
        assert_eq!(writev(fd, &parts).unwrap(), 6);
        let mut got = [0u8; 11];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello world");

        // The peer gone: an error (EPIPE), not a signal, from both writes.
        drop(b);
        assert!(send(fd, b"x").is_err());
        assert!(writev(fd, &[IoSlice::new(b"x")]).is_err());
        // And a read sees the end.
        assert_eq!(recv(fd, &mut buf).unwrap(), 0);
    }
}
