use super::*;
use crate::config::{FileSpec, MIB};
use crate::write_buffer::WriteBuffer;
use parking_lot::RwLock;

/// Two files: 3 pages of 4 MiB and 1 page, write buffers of 2 MiB.
fn table() -> PageTable {
    let mut config = DiskConfig::new(vec![
        FileSpec::parse("/a:12m").unwrap(),
        FileSpec::parse("/b:4m").unwrap(),
    ]);
    config.page_size = 4 * MIB;
    config.wbuf_size = 2 * MIB;
    PageTable::new(&config)
}

fn region(page: u16, start: u64) -> Region {
    Region {
        page,
        start,
        buf: Arc::new(WriteBuffer {
            data: RwLock::new(vec![0u8; (2 * MIB) as usize].into_boxed_slice()),
        }),
    }
}

/// Allocates, writes `objects` of `len` bytes, seals, and flushes a page.
fn filled(t: &mut PageTable, objects: u64, len: u64) -> (u16, u64) {
    let (id, seq) = t.allocate(Bucket::Default).unwrap();
    let r = region(id, 0);
    t.push_region(r.clone());
    for _ in 0..objects {
        t.add_object(id, len);
    }
    t.seal(id);
    t.flushed(id, &r.buf);
    (id, seq)
}

#[test]
fn pages_interleave_over_files_and_allocate_in_order() {
    let mut t = table();
    assert_eq!(t.len(), 4);
    assert_eq!(t.place(0), (0, 0));
    assert_eq!(t.place(1), (1, 0));
    assert_eq!(t.place(2), (0, 4 * MIB));
    assert_eq!(t.place(3), (0, 8 * MIB));
    let (a, seq_a) = t.allocate(Bucket::Default).unwrap();
    let (b, seq_b) = t.allocate(Bucket::Compact).unwrap();
    assert_eq!((a, b), (0, 1));
    assert!(seq_b > seq_a);
    assert_eq!(t.free_pages(), 2);
    assert_eq!(t.totals.page_allocs, 2);
}

#[test]
fn reads_come_from_memory_until_flushed_then_from_the_file() {
    let mut t = table();
    let (id, seq) = t.allocate(Bucket::Default).unwrap();
    let r = region(id, 0);
    t.push_region(r.clone());
    t.add_object(id, 64);
    let loc = Location::new(id, seq, 64);
    assert!(matches!(t.pin(loc, 64), Some(Source::Memory(_, 64))));
    // A bogus location running past its buffer's end is refused, not sliced.
    assert!(t.pin(Location::new(id, seq, 2 * MIB - 8), 64).is_none());
    t.flushed(id, &r.buf);
    assert!(matches!(
        t.pin(loc, 64),
        Some(Source::File { file: 0, pos: 64 })
    ));
    t.unpin(id);
    // Out of the page, or another version: stale.
    assert!(t.pin(Location::new(id, seq, 4 * MIB - 8), 64).is_none());
    assert!(t.pin(Location::new(id, seq + 1, 64), 64).is_none());
    assert!(t.pin(Location::new(99, seq, 64), 64).is_none());
}

#[test]
fn a_page_emptied_by_releases_is_freed_and_its_locations_go_stale() {
    let mut t = table();
    let (id, seq) = filled(&mut t, 2, 100);
    let loc = Location::new(id, seq, 64);
    assert_eq!(t.totals.objects_used, 2);
    assert!(t.release(loc, 100));
    assert!(t.is_current(loc));
    assert!(t.release(loc, 100));
    assert!(!t.is_current(loc), "freed");
    assert!(
        !t.release(loc, 100),
        "a second release of a freed page does nothing"
    );
    assert_eq!((t.totals.objects_used, t.totals.bytes_used), (0, 0));
    assert_eq!(t.totals.page_reclaims, 1);
    // Allocated again: new number, old locations stale.
    let (again, seq2) = t.allocate(Bucket::Default).unwrap();
    assert_eq!(
        again, id,
        "the free list is LIFO: the page just freed comes back"
    );
    assert_ne!(seq2, seq);
}

#[test]
fn a_pinned_page_is_freed_by_its_last_reader() {
    let mut t = table();
    let (id, seq) = filled(&mut t, 1, 100);
    let loc = Location::new(id, seq, 64);
    assert!(matches!(t.pin(loc, 100), Some(Source::File { .. })));
    assert!(
        !t.evict(id, seq),
        "evicted but still being read: not free yet"
    );
    assert_eq!(t.totals.page_evictions, 1);
    assert_eq!(t.totals.objects_evicted, 1);
    assert!(!t.is_current(loc), "no new reads of an evicted page");
    assert_eq!(t.free_pages(), 3);
    t.unpin(id);
    assert_eq!(t.free_pages(), 4);
}

#[test]
fn eviction_takes_the_oldest_inactive_page_and_waits_for_a_draining_one() {
    let mut t = table();
    let first = filled(&mut t, 1, 10);
    let second = filled(&mut t, 1, 10);
    let (open, _) = t.allocate(Bucket::Default).unwrap(); // open: never evicted
    let _fourth = filled(&mut t, 1, 10);
    assert!(t.allocate(Bucket::Default).is_none());
    assert_eq!(t.starved(), vec![first]);
    // A reader holds the oldest: eviction marks it and waits.
    assert!(t.pin(Location::new(first.0, first.1, 64), 10).is_some());
    assert!(!t.evict_for(Bucket::Default));
    assert!(!t.evict_for(Bucket::Default), "one draining page is enough");
    t.unpin(first.0);
    assert_eq!(t.allocate(Bucket::Default).map(|(id, _)| id), Some(first.0));
    assert!(t.evict_for(Bucket::Default));
    assert!(!t.is_current(Location::new(second.0, second.1, 64)));
    assert_ne!(open, second.0);
}

#[test]
fn compaction_picks_the_oldest_fragmented_page_when_free_pages_run_low() {
    let mut t = table();
    let t_ = |compact_under, drop_unread| Thresholds {
        compact_under,
        drop_under: compact_under,
        max_frag: 0.5,
        drop_unread,
    };
    let full = filled(&mut t, 1, 3 * MIB);
    let sparse = filled(&mut t, 1, MIB);
    assert_eq!(t.free_pages(), 2);
    assert_eq!(t.candidate(t_(2, false)), None, "enough pages free");
    let c = t.candidate(t_(3, false)).unwrap();
    assert_eq!((c.page, c.seq, c.drop_unread), (sparse.0, sparse.1, false));
    assert!(t.close(c.page, c.seq));
    assert_eq!(t.candidate(t_(4, false)), None, "only full pages left");
    let c = t.candidate(t_(4, true)).unwrap();
    assert_eq!((c.page, c.drop_unread), (full.0, true));
}

#[test]
fn stats_pages_show_version_bytes_and_bucket() {
    let mut t = table();
    let (id, seq) = filled(&mut t, 3, 100);
    let data = t.page_data();
    assert_eq!(data.len(), 4);
    let p = data[usize::from(id)];
    assert_eq!(
        (p.version, p.bytes_used, p.bucket, p.active),
        (seq, 300, 0, false)
    );
    assert_eq!(data[1].version, 0, "free");
    let (c, _) = t.allocate(Bucket::Compact).unwrap();
    t.add_object(c, 8);
    let p = t.page_data()[usize::from(c)];
    assert_eq!((p.bucket, p.active), (1, true));
}
