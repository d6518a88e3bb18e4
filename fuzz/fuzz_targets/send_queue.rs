//! Random interleavings of copies, pinned payloads and partial writes through a
//! connection's send queue: the bytes that reach the socket are exactly the bytes queued,
//! in order, each once; pending counts what is left; payloads are released once written;
//! scratch stays bounded by what is unsent.
#![no_main]

use channel::{BufferPool, Outcome, Payload, SendQueue};
use libfuzzer_sys::fuzz_target;
use std::io::{self, IoSlice, Write};
use std::rc::Rc;

/// A pinned value; the counter tells how many are still held by the queue.
struct Pin(Vec<u8>, #[allow(dead_code)] Rc<()>);

impl Payload for Pin {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A socket that takes at most `budget` bytes, then says EAGAIN.
struct Socket {
    out: Vec<u8>,
    budget: usize,
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(self.budget);
            self.out.extend_from_slice(&b[..take]);
            self.budget -= take;
            n += take;
            if self.budget == 0 {
                break;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut pool = BufferPool::new(256, 2);
    let mut queue: SendQueue<Pin> = SendQueue::new();
    let mut socket = Socket {
        out: Vec::new(),
        budget: 0,
    };
    let mut queued = Vec::new();
    let held = Rc::new(());
    let mut counter = 0u8;
    let mut most_pending = 0;
    let mut fill = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                counter = counter.wrapping_add(1);
                counter
            })
            .collect()
    };
    for pair in data.chunks(2) {
        let (op, arg) = (pair[0], usize::from(*pair.get(1).unwrap_or(&0)));
        match op % 4 {
            0 => {
                let bytes = fill(arg * (1 + usize::from(op >> 6)));
                queue.push_copy(&mut pool, &bytes);
                queued.extend_from_slice(&bytes);
            }
            1 => {
                let bytes = fill(arg * 16);
                queued.extend_from_slice(&bytes);
                queue.push_pinned(Pin(bytes, held.clone()));
            }
            2 => {
                socket.budget = arg * usize::from(op >> 2).max(1);
                let before = queue.pending();
                let sent_before = socket.out.len();
                match queue.flush(&mut socket) {
                    Outcome::Done(n) => {
                        assert_eq!(n, before, "Done must mean everything was written");
                        assert!(queue.is_empty());
                    }
                    Outcome::Retry => assert!(queue.pending() > 0),
                    Outcome::Abort(reason) => panic!("abort from a healthy socket: {reason:?}"),
                }
                assert_eq!(before - queue.pending(), socket.out.len() - sent_before);
            }
            _ => queue.release_if_empty(&mut pool),
        }
        assert_eq!(queue.pending(), queued.len() - socket.out.len());
        most_pending = most_pending.max(queue.pending());
        assert!(
            socket.out[..] == queued[..socket.out.len()],
            "wrong bytes on the wire"
        );
        // Scratch holds unsent bytes plus at most as many sent ones (or 64 KiB) before they
        // are reclaimed; Vec doubles and never shrinks, so the bound follows the most that
        // was ever pending, not what is pending now.
        assert!(
            queue.scratch_capacity() <= 4 * (most_pending + 64 * 1024) + 256,
            "scratch {} while at most {} was ever pending",
            queue.scratch_capacity(),
            most_pending
        );
    }
    socket.budget = usize::MAX;
    let _ = queue.flush(&mut socket);
    assert!(
        socket.out == queued,
        "the stream differs from what was queued"
    );
    assert_eq!(
        Rc::strong_count(&held),
        1,
        "a written payload is still held"
    );
});
