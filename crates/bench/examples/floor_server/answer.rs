//! Requests in, canned replies out: the floor server's whole "protocol layer".
//!
//! Each complete request line is answered at once: a `get` with one `VALUE` of the
//! configured size per key (the value `corvid bench` expects for that key, so its
//! checks pass); a storage command's data block is skipped, and `STORED` sent once it is
//! all in. Nothing is looked up. Replies are composed into an [`Output`]: short pieces
//! are copied into its scratch buffer, a value's body over [`COPY_MAX`] is queued by
//! reference to the generator's pattern (as Corvid and memcached send large values by
//! reference). With a [`Store`] (`--store`), a set's data block goes into its key's slot
//! and a get is answered from the slot instead.

use crate::store::{Block, Store};
use bench::Content;

/// Values up to this size are copied into the reply; larger ones are sent from the
/// pattern by reference (Corvid's threshold, docs/io.md "Output").
pub const COPY_MAX: usize = 4096;

/// A request line longer than this without its newline closes the connection
/// (memcached's limit for a line that is not a `get`).
pub const MAX_LINE: usize = 2048;

/// The most pieces one send hands the kernel.
pub const MAX_IOVECS: usize = 64;

/// Why a connection is closed.
#[derive(Debug, PartialEq, Eq)]
pub enum Close {
    /// `quit`.
    Quit,
    /// A line over [`MAX_LINE`] bytes.
    LineTooLong,
}

/// What every connection answers with: the value size and the generator's values.
pub struct Answerer {
    value_size: usize,
    /// `" 0 <value_size>\r\n"`: the rest of a `VALUE` line after its key.
    header_tail: Vec<u8>,
    content: &'static Content,
    store: Option<Store>,
}

impl Answerer {
    pub fn new(value_size: usize, store: Option<Store>) -> Result<Answerer, bench::BenchError> {
        let size = bench::SizeDist::Fixed(value_size);
        // One key of the generator's default size: only the pattern matters here.
        let content = Content::new(1, bench::SizeDist::Fixed(16), size)?;
        Ok(Answerer {
            value_size,
            header_tail: format!(" 0 {value_size}\r\n").into_bytes(),
            // Lives as long as the process: replies in flight point into it.
            content: Box::leak(Box::new(content)),
            store,
        })
    }

    /// Answers every complete request at the front of `input` into `out`, taking the
    /// rest of a data block (`block`) first. Returns how many bytes were used; the rest
    /// is the start of a request line still to come.
    pub fn answer(
        &self,
        input: &[u8],
        block: &mut Block,
        out: &mut Output,
    ) -> Result<usize, Close> {
        let mut pos = 0;
        loop {
            if block.skip > 0 {
                pos += block.take(&input[pos..]);
                if block.skip > 0 {
                    return Ok(pos);
                }
                // As memcached, only once the whole data block is in: a client may take
                // the reply as leave to stop sending.
                if std::mem::take(&mut block.reply) {
                    out.copy(b"STORED\r\n");
                }
            }
            let rest = &input[pos..];
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                return if rest.len() > MAX_LINE {
                    Err(Close::LineTooLong)
                } else {
                    Ok(pos)
                };
            };
            let line = &rest[..nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            pos += nl + 1;
            self.line(line, block, out)?;
        }
    }

    fn line(&self, line: &[u8], block: &mut Block, out: &mut Output) -> Result<(), Close> {
        let mut tokens = line.split(|&b| b == b' ').filter(|t| !t.is_empty());
        match tokens.next().unwrap_or_default() {
            b"get" | b"gets" => {
                for key in tokens {
                    self.value(key, out);
                }
                out.copy(b"END\r\n");
            }
            b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" => {
                // <cmd> <key> <flags> <exptime> <bytes> [<cas>] [noreply]
                let key = tokens.next().unwrap_or_default();
                let bytes = tokens.nth(2).and_then(parse_usize);
                match bytes {
                    Some(bytes) => {
                        match &self.store {
                            Some(store) => {
                                block.start(bytes, store.slot(key, key_id(key)), store.slot_size())
                            }
                            None => block.start(bytes, std::ptr::null_mut(), 0),
                        }
                        block.reply = !line.ends_with(b" noreply");
                    }
                    None => out.copy(b"CLIENT_ERROR bad command line format\r\n"),
                }
            }
            b"delete" => out.copy(b"DELETED\r\n"),
            b"version" => out.copy(b"VERSION floor\r\n"),
            b"quit" => return Err(Close::Quit),
            _ => out.copy(b"ERROR\r\n"),
        }
        Ok(())
    }

    /// `VALUE <key> 0 <n>\r\n<value>\r\n`.
    fn value(&self, key: &[u8], out: &mut Output) {
        out.copy(b"VALUE ");
        out.copy(key);
        out.copy(&self.header_tail);
        if let Some(store) = &self.store {
            let slot = store.slot(key, key_id(key));
            if self.value_size > COPY_MAX {
                out.refer_raw(slot, self.value_size);
            } else {
                // SAFETY: the slot is `value_size` bytes inside the store, which is never
                // freed; nothing writes it while this copy reads it (one thread).
                out.copy(unsafe { std::slice::from_raw_parts(slot, self.value_size) });
            }
            out.copy(b"\r\n");
            return;
        }
        let (head, tail) = self
            .content
            .value_parts(key_id(key).unwrap_or(0), self.value_size);
        out.copy(head.as_ref());
        if tail.len() > COPY_MAX {
            out.refer(tail);
        } else {
            out.copy(tail);
        }
        out.copy(b"\r\n");
    }
}

/// The id in a generator key (`k` and zero-padded digits). Any other key's value is
/// simply some bytes of the right length (id 0), or its slot is found by a hash.
fn key_id(key: &[u8]) -> Option<u64> {
    match key.split_first() {
        Some((b'k', digits)) => parse_u64(digits),
        _ => None,
    }
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

fn parse_usize(digits: &[u8]) -> Option<usize> {
    parse_u64(digits).and_then(|n| usize::try_from(n).ok())
}

/// One piece of output: bytes of the scratch buffer, or bytes that live as long as the
/// process (a value's body in the pattern).
#[derive(Clone, Copy)]
enum Piece {
    Scratch {
        start: usize,
        end: usize,
    },
    Static(&'static [u8]),
    /// A store slot: never freed, reached only through raw pointers.
    Slot(*const u8, usize),
}

/// Replies waiting to be sent: a gather list over a scratch buffer and static bytes,
/// and how much of it the kernel has taken.
#[derive(Default)]
pub struct Output {
    scratch: Vec<u8>,
    pieces: Vec<Piece>,
    /// The first piece not wholly sent, and how much of it was.
    sent_piece: usize,
    sent_bytes: usize,
    /// Bytes queued and not yet sent.
    pending: usize,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    pub fn pending(&self) -> usize {
        self.pending
    }

    fn copy(&mut self, bytes: &[u8]) {
        let start = self.scratch.len();
        self.scratch.extend_from_slice(bytes);
        let end = self.scratch.len();
        self.pending += bytes.len();
        if let Some(Piece::Scratch { end: last, .. }) = self.pieces.last_mut() {
            if *last == start {
                *last = end;
                return;
            }
        }
        self.pieces.push(Piece::Scratch { start, end });
    }

    fn refer(&mut self, bytes: &'static [u8]) {
        self.pending += bytes.len();
        self.pieces.push(Piece::Static(bytes));
    }

    fn refer_raw(&mut self, slot: *const u8, len: usize) {
        self.pending += len;
        self.pieces.push(Piece::Slot(slot, len));
    }

    /// The unsent bytes, when they are one contiguous piece.
    pub fn contiguous(&self) -> Option<&[u8]> {
        if self.pieces.len() != self.sent_piece + 1 {
            return None;
        }
        Some(&self.piece(self.sent_piece)[self.sent_bytes..])
    }

    fn piece(&self, i: usize) -> &[u8] {
        match self.pieces[i] {
            Piece::Scratch { start, end } => &self.scratch[start..end],
            Piece::Static(bytes) => bytes,
            // SAFETY: a slot of the store, which is never freed; this thread does not
            // write it while the slice lives (a send or a copy of it).
            Piece::Slot(slot, len) => unsafe { std::slice::from_raw_parts(slot, len) },
        }
    }

    /// Fills `iov` with the unsent bytes (at most [`MAX_IOVECS`] pieces); returns how
    /// many entries it used. The entries point into this output: they are valid until
    /// it is next changed.
    pub fn iovecs(&self, iov: &mut [libc::iovec; MAX_IOVECS]) -> usize {
        let mut n = 0;
        for i in self.sent_piece..self.pieces.len() {
            if n == MAX_IOVECS {
                break;
            }
            let mut bytes = self.piece(i);
            if i == self.sent_piece {
                bytes = &bytes[self.sent_bytes..];
            }
            iov[n] = libc::iovec {
                iov_base: bytes.as_ptr() as *mut libc::c_void,
                iov_len: bytes.len(),
            };
            n += 1;
        }
        n
    }

    /// The kernel took `n` more bytes; when it has taken everything, the output is
    /// emptied for the next replies.
    pub fn advance(&mut self, mut n: usize) {
        self.pending -= n.min(self.pending);
        if self.pending == 0 {
            self.scratch.clear();
            self.pieces.clear();
            self.sent_piece = 0;
            self.sent_bytes = 0;
            return;
        }
        while n > 0 {
            let left = self.piece(self.sent_piece).len() - self.sent_bytes;
            if n < left {
                self.sent_bytes += n;
                return;
            }
            n -= left;
            self.sent_piece += 1;
            self.sent_bytes = 0;
        }
    }

    /// Every unsent byte, in order (for tests).
    #[cfg(test)]
    pub fn unsent(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for i in self.sent_piece..self.pieces.len() {
            let bytes = self.piece(i);
            let from = if i == self.sent_piece {
                self.sent_bytes
            } else {
                0
            };
            all.extend_from_slice(&bytes[from..]);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected_value(key: &[u8], id: u64, size: usize) -> Vec<u8> {
        let content = Content::new(1, bench::SizeDist::Fixed(16), bench::SizeDist::Fixed(size))
            .expect("content");
        let mut v = format!("VALUE {} 0 {size}\r\n", String::from_utf8_lossy(key)).into_bytes();
        content.push_value(id, size, &mut v);
        v.extend_from_slice(b"\r\n");
        v
    }

    #[test]
    fn a_get_gets_the_generators_value_and_a_set_is_skipped() {
        for size in [100, 65536] {
            let answerer = Answerer::new(size, None).expect("answerer");
            let mut out = Output::default();
            let mut block = Block::default();
            let mut input = b"get k000000000000042\r\nset k1 0 0 5\r\nhello\r\nget x".to_vec();
            let used = answerer
                .answer(&input, &mut block, &mut out)
                .expect("answers");
            assert_eq!(&input[used..], b"get x", "a partial line waits");
            let mut want = expected_value(b"k000000000000042", 42, size);
            want.extend_from_slice(b"END\r\nSTORED\r\n");
            assert_eq!(out.unsent(), want);
            // A data block split across reads is skipped across them.
            input = b"set k2 0 0 10\r\n01234".to_vec();
            let mut out = Output::default();
            let used = answerer
                .answer(&input, &mut block, &mut out)
                .expect("answers");
            assert_eq!((used, block.skip), (input.len(), 7));
            assert!(out.is_empty(), "STORED waits for the whole data block");
            let used = answerer
                .answer(b"56789\r\nversion\r\n", &mut block, &mut out)
                .expect("answers");
            assert_eq!((used, block.skip), (16, 0));
            assert_eq!(out.unsent(), b"STORED\r\nVERSION floor\r\n");
        }
    }

    #[test]
    fn output_advances_across_pieces() {
        let answerer = Answerer::new(8192, None).expect("answerer");
        let mut out = Output::default();
        let mut block = Block::default();
        answerer
            .answer(b"get k7 k8\r\n", &mut block, &mut out)
            .expect("answers");
        let all = out.unsent();
        assert_eq!(out.pending(), all.len());
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_IOVECS];
        assert_eq!(out.iovecs(&mut iov), 5, "header, body, header, body, END");
        assert!(out.contiguous().is_none());
        out.advance(30);
        assert_eq!(out.unsent(), &all[30..]);
        out.advance(8192);
        assert_eq!(out.unsent(), &all[8222..]);
        out.advance(all.len() - 8222);
        assert!(out.is_empty() && out.unsent().is_empty());
    }

    #[test]
    fn with_a_store_a_get_answers_what_was_set() {
        for size in [10, 8192] {
            let store = Store::new(4 * size, size).expect("store");
            let answerer = Answerer::new(size, Some(store)).expect("answerer");
            let mut out = Output::default();
            let mut block = Block::default();
            let value: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
            let mut input = format!("set k2 0 0 {size}\r\n").into_bytes();
            input.extend_from_slice(&value[..size / 2]);
            let used = answerer
                .answer(&input, &mut block, &mut out)
                .expect("answers");
            assert_eq!(used, input.len());
            // The rest straight into the slot, as a direct receive puts it.
            let (dest, len) = block.target().expect("the rest of the value has a target");
            assert_eq!(len, size - size / 2);
            // SAFETY: `dest` is the slot's unfilled rest, `len` bytes of the store.
            unsafe { std::ptr::copy_nonoverlapping(value[size / 2..].as_ptr(), dest, len) };
            block.advance(len);
            let used = answerer
                .answer(b"\r\nget k2 k6\r\n", &mut block, &mut out)
                .expect("answers");
            assert_eq!(used, 13);
            let mut want = b"STORED\r\n".to_vec();
            want.extend_from_slice(format!("VALUE k2 0 {size}\r\n").as_bytes());
            want.extend_from_slice(&value);
            // k6 shares k2's slot (6 % 4 == 2).
            want.extend_from_slice(format!("\r\nVALUE k6 0 {size}\r\n").as_bytes());
            want.extend_from_slice(&value);
            want.extend_from_slice(b"\r\nEND\r\n");
            assert_eq!(out.unsent(), want);
        }
    }

    #[test]
    fn bad_input_gets_errors_or_a_close() {
        let answerer = Answerer::new(10, None).expect("answerer");
        let mut out = Output::default();
        let mut block = Block::default();
        let used = answerer
            .answer(b"set k 0 0 x\r\nbogus\r\n", &mut block, &mut out)
            .expect("answers");
        assert_eq!(used, 20);
        assert_eq!(
            out.unsent(),
            b"CLIENT_ERROR bad command line format\r\nERROR\r\n"
        );
        let long = vec![b'a'; MAX_LINE + 1];
        assert_eq!(
            answerer.answer(&long, &mut block, &mut out),
            Err(Close::LineTooLong)
        );
        assert_eq!(
            answerer.answer(b"quit\r\n", &mut block, &mut out),
            Err(Close::Quit)
        );
        assert_eq!(
            key_id(b"k99999999999999999999999"),
            None,
            "overflow is no id"
        );
    }
}
