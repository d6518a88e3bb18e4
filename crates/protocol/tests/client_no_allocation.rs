//! The client halves run once per request in `corvid bench` and per backend reply in the
//! proxy: composing and parsing must not touch the heap (composing may only grow an
//! output buffer that is too small).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use protocol::binary::{client as bin, opcode, Extras};
use protocol::client::Parsed;
use protocol::meta::client::{self as meta, Flag};
use protocol::text::client::{self as text, Store};
use protocol::text::{GetKind, StoreCommand, MAX_KEY_LENGTH};

struct Counting;

thread_local! {
    // const-initialised with no destructor: reading them never allocates. Both per
    // thread: the tests run in parallel, and one test's allocations must not land in
    // another's count.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds the
// GlobalAlloc contract; the only addition is a counter bump on the measuring thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // SAFETY: same layout the caller gave us, forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr was allocated by System.alloc with this layout (see alloc).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn counting_allocator_sees_allocations() {
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);
}

#[test]
fn composing_does_not_allocate_once_the_buffer_has_grown() {
    let key = [b'k'; MAX_KEY_LENGTH];
    let mut out = Vec::with_capacity(8192);
    let count = allocations_during(|| {
        for _ in 0..3 {
            text::write_get(&mut out, GetKind::Gets, [&key[..], &key[..], &key[..]]);
            text::write_gat(&mut out, GetKind::Get, -1, [&key[..]]);
            let store = Store {
                cas: u64::MAX,
                noreply: true,
                ..Store::new(StoreCommand::Cas, &key, usize::MAX)
            };
            text::write_store(&mut out, &store);
            text::write_delta(&mut out, true, &key, u64::MAX, true);
            text::write_flush_all(&mut out, Some(i64::MIN), true);
            meta::write_get(
                &mut out,
                &key,
                &[
                    Flag::ReturnValue,
                    Flag::Opaque(&key[..32]),
                    Flag::Ttl(i64::MIN),
                    Flag::NewCas(u64::MAX),
                ],
            );
            meta::write_set(&mut out, &key, usize::MAX, &[Flag::ClientFlags(u32::MAX)]);
            meta::encode_key(&key, &mut out);
            let set = bin::Request {
                extras: Extras::Store {
                    flags: 1,
                    exptime: 2,
                },
                value_len: 1000,
                ..bin::Request::new(opcode::SET, &key)
            };
            bin::write_request(&mut out, &set).unwrap();
            assert!(out.len() <= 8192);
            out.clear();
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn parsing_does_not_allocate() {
    let text_replies: &[&[u8]] = &[
        b"VALUE k 4294967295 3 18446744073709551615\r\nabc\r\n",
        b"END\r\n",
        b"STAT pid 1\r\n",
        b"CLIENT_ERROR bad data chunk\r\n",
        b"12345\r\n",
        b"VALUE k 0 x\r\n",
        b"VALUE k 0",
    ];
    let meta_replies: &[&[u8]] = &[
        b"VA 2 kbWs= b f0 t-1 c12 s2 l2 h1 O1 W X Z\r\nhi\r\n",
        b"HD c1\r\n",
        b"ME k exp=-1 la=1 cas=2 fetch=no cls=1 size=60\r\n",
        b"HD cx\r\n",
    ];
    let binary_reply = [
        0x81, 0x0c, 0, 2, 4, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 7,
        b'b', b'k', b'h', b'e', b'l', b'l', b'o',
    ];
    let mut key = [0u8; MAX_KEY_LENGTH];
    let count = allocations_during(|| {
        for reply in text_replies {
            if let Ok(Parsed::Reply { frame, .. }) = std::hint::black_box(text::parse(reply)) {
                let _ = std::hint::black_box(frame.data(reply));
            }
        }
        for reply in meta_replies {
            if let Ok(Parsed::Reply { reply: r, frame }) = meta::parse(reply) {
                let _ = std::hint::black_box(r.flags.decoded_key(&mut key));
                let _ = std::hint::black_box(frame.data(reply));
            }
        }
        let _ = std::hint::black_box(bin::parse(&binary_reply));
    });
    assert_eq!(count, 0);
}
