//! The three outcomes of an IO call, and the translation of `std::io` results into them.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};

/// What an IO call achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `n` bytes moved. For a read, `n > 0` always: end of stream is an [`Abort`].
    Done(usize),
    /// Nothing can move now; wait for readiness.
    Retry,
    /// The channel is finished; close it.
    Abort(Abort),
}

/// Why a channel is finished. Only for logging and counters: every reason means "close".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    /// The peer closed its side (read returned 0, or EPIPE on write).
    Closed,
    /// The peer reset the connection.
    Reset,
    /// Any other error, by kind.
    Failed(io::ErrorKind),
}

/// The outcome an error stands for; None for EINTR (call again).
pub(crate) fn classify(err: &io::Error) -> Option<Outcome> {
    match err.kind() {
        io::ErrorKind::Interrupted => None,
        io::ErrorKind::WouldBlock => Some(Outcome::Retry),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            Some(Outcome::Abort(Abort::Reset))
        }
        io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof => {
            Some(Outcome::Abort(Abort::Closed))
        }
        kind => Some(Outcome::Abort(Abort::Failed(kind))),
    }
}

/// Runs one IO call, again only on EINTR. `Ok(0)` means the peer closed unless nothing
/// was asked for (`wanted` false: an empty write is progress, not EOF).
pub(crate) fn once(wanted: bool, mut call: impl FnMut() -> io::Result<usize>) -> Outcome {
    loop {
        match call() {
            Ok(0) if wanted => return Outcome::Abort(Abort::Closed),
            Ok(n) => return Outcome::Done(n),
            Err(e) => {
                if let Some(outcome) = classify(&e) {
                    return outcome;
                }
            }
        }
    }
}

/// Reads once into `buf`, retrying only on EINTR. `buf` must not be empty.
pub fn read<R: Read + ?Sized>(source: &mut R, buf: &mut [u8]) -> Outcome {
    debug_assert!(
        !buf.is_empty(),
        "a zero-length read cannot tell EOF from progress"
    );
    once(true, || source.read(buf))
}

/// Reads once into a scatter list (`readv`), retrying only on EINTR. The parts must not
/// all be empty.
pub fn read_vectored<R: Read + ?Sized>(source: &mut R, bufs: &mut [IoSliceMut<'_>]) -> Outcome {
    debug_assert!(bufs.iter().any(|b| !b.is_empty()));
    once(true, || source.read_vectored(bufs))
}

/// Writes one buffer once (`send` on a TCP socket), retrying only on EINTR. A short
/// write is `Done(n)`, as for [`writev`].
pub fn write<W: Write + ?Sized>(sink: &mut W, buf: &[u8]) -> Outcome {
    once(!buf.is_empty(), || sink.write(buf))
}

/// Writes a gather list once, retrying only on EINTR. A short write is `Done(n)`: the
/// caller advances and asks again (the next call will usually say `Retry`).
pub fn writev<W: Write + ?Sized>(sink: &mut W, bufs: &[IoSlice<'_>]) -> Outcome {
    once(bufs.iter().any(|b| !b.is_empty()), || {
        sink.write_vectored(bufs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scripted(Vec<io::Result<usize>>);
    impl Read for Scripted {
        fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
            self.0.remove(0)
        }
    }
    impl Write for Scripted {
        fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
            self.0.remove(0)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn err(kind: io::ErrorKind) -> io::Result<usize> {
        Err(io::Error::from(kind))
    }

    #[test]
    fn eintr_is_retried_inside_and_never_surfaces() {
        let mut s = Scripted(vec![err(io::ErrorKind::Interrupted), Ok(5)]);
        assert_eq!(read(&mut s, &mut [0; 8]), Outcome::Done(5));
        let mut s = Scripted(vec![err(io::ErrorKind::Interrupted), Ok(3)]);
        assert_eq!(writev(&mut s, &[IoSlice::new(b"abc")]), Outcome::Done(3));
    }

    #[test]
    fn errors_map_to_retry_or_abort() {
        let cases = [
            (io::ErrorKind::WouldBlock, Outcome::Retry),
            (io::ErrorKind::ConnectionReset, Outcome::Abort(Abort::Reset)),
            (io::ErrorKind::BrokenPipe, Outcome::Abort(Abort::Closed)),
            (
                io::ErrorKind::PermissionDenied,
                Outcome::Abort(Abort::Failed(io::ErrorKind::PermissionDenied)),
            ),
        ];
        for (kind, want) in cases {
            assert_eq!(read(&mut Scripted(vec![err(kind)]), &mut [0; 4]), want);
        }
    }

    #[test]
    fn end_of_stream_is_abort_closed() {
        assert_eq!(
            read(&mut Scripted(vec![Ok(0)]), &mut [0; 4]),
            Outcome::Abort(Abort::Closed)
        );
        assert_eq!(
            writev(&mut Scripted(vec![Ok(0)]), &[IoSlice::new(b"x")]),
            Outcome::Abort(Abort::Closed)
        );
    }
}
