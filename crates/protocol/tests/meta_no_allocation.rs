//! The meta parser and reply writers run once per request: they must not touch the heap
//! (the writers may only grow `out` when it is too small), base64 keys included.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use protocol::meta::{self, Facts, Status};

struct Counting;

thread_local! {
    // const-initialised with no destructor: reading it never allocates. Both are per
    // thread, so tests running in parallel do not count each other's allocations.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: allocation and deallocation go to the system allocator unchanged; the only
// addition is counting allocations made on a measuring thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if MEASURING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // SAFETY: the caller's layout, passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    MEASURING.with(|m| m.set(true));
    f();
    MEASURING.with(|m| m.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_counter_counts() {
    assert!(allocations(|| drop(std::hint::black_box(vec![0u8; 32]))) > 0);
}

#[test]
fn meta_parsing_and_replies_do_not_allocate() {
    let lines: [&[u8]; 8] = [
        b"mg Zm9vYmFy b s v f t c k h l O123 q N30 R10 T5 E9",
        b"ms foo 12 T30 F7 C99 I MA c k s O1",
        b"md foo I T30 x q k",
        b"ma foo N0 J10 D5 MD v t c k",
        b"mn",
        b"me Zm9v b",
        b"mg foo v v",
        b"ms foo 1 MZ",
    ];
    let mut out = Vec::with_capacity(4096);
    let n = allocations(|| {
        for line in lines {
            match meta::parse(line) {
                Ok(req) => {
                    let facts = Facts {
                        size: Some(5),
                        ttl: Some(-1),
                        cas: Some(u64::MAX),
                        client_flags: Some(7),
                        key: Some(req.key()),
                        binary_key: req.flags.base64,
                        already_won: true,
                        stale: true,
                        won: true,
                        ..Facts::default()
                    };
                    meta::write_status(&mut out, Status::Value(5), &req.flags, &facts);
                }
                Err(rejected) => out.extend_from_slice(rejected.error.reply()),
            }
        }
    });
    assert_eq!(n, 0);
    assert!(out.starts_with(b"VA 5 s5 f7 t-1 c18446744073709551615 kZm9vYmFy b O123 Z X W\r\n"));
}
