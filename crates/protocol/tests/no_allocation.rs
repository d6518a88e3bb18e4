//! The parser and the reply writers run once per request on the hot path: they must
//! not touch the heap (the writers may only grow `out` when it is too small).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use protocol::text::{parse, write_number_line, write_value_header, Parse, Request};

struct Counting;

thread_local! {
    // const-initialised with no destructor: reading it never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    // Per thread too: tests run in parallel, and one test's allocations must not land in
    // another's count.
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
fn parsing_and_writing_do_not_allocate() {
    let mut long_get = b"get".to_vec();
    for i in 0..500 {
        long_get.extend_from_slice(format!(" key{i}").as_bytes());
    }
    long_get.extend_from_slice(b"\r\n");
    let lines: Vec<&[u8]> = vec![
        b"get a b c\r\n",
        &long_get,
        b"gats 10 a b\r\n",
        b"set k 0 0 5 noreply\r\nhello\r\n",
        b"cas k 1 2 3 4\r\n",
        b"incr k 18446744073709551615\r\n",
        b"delete k 0 noreply\r\n",
        b"touch k abc\r\n",
        b"flush_all 10\r\n",
        b"stats detail on\r\n",
        b"bogus\r\n",
        b"GET / HTTP/1.1\r\n",
        b"set k 0 0 1",
    ];
    let mut out = Vec::with_capacity(4096);
    let count = allocations_during(|| {
        for line in &lines {
            let parsed = parse(line);
            if let Parse::Request {
                request: Request::Get { keys, .. },
                ..
            } = parsed
            {
                for key in keys {
                    write_value_header(&mut out, key, 1, 2, Some(3));
                    out.clear();
                }
            }
            write_number_line(&mut out, u64::MAX);
            out.clear();
            std::hint::black_box(parsed);
        }
    });
    assert_eq!(count, 0);
}
