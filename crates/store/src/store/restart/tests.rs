//! Restart data whose checksums are all valid but whose contents lie: what a bug in `save`
//! (or a file rewritten by hand) would produce. The heap check must refuse it before any
//! item is read, so no read can leave its segment.

use super::*;
use crate::clock::ManualClock;
use crate::restart_data::{Reader, CLEAN};
use crate::StoreMode;

const SEG_RECORD: usize = 62;

/// A store on a memory file with `n` items, saved; the path and its restart data sections.
fn saved(dir: &Path, n: usize) -> (std::path::PathBuf, Vec<crate::restart_data::Section>) {
    let path = dir.join("mem");
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let cfg = StoreConfig {
        memory_limit: 16 << 20,
        ..StoreConfig::default()
    };
    let (s, _) = Store::open_memory_file(cfg, clock, &path, &[]).unwrap();
    // The first ten twice: garbage among the live items.
    for i in (0..n).chain(0..10) {
        s.store(
            StoreMode::Set,
            format!("key{i}").as_bytes(),
            &[b'v'; 50],
            0,
            0,
        )
        .unwrap();
    }
    s.save(&[]).unwrap();
    drop(s);
    let meta = std::fs::read(memory_file::meta_path(&path)).unwrap();
    let (mut r, state) = Reader::new(&meta[..], meta.len() as u64).unwrap();
    assert_eq!(state, CLEAN);
    let mut sections = Vec::new();
    while let Some(s) = r.next().unwrap() {
        sections.push(s);
    }
    (path, sections)
}

/// Writes the sections back with valid checksums and opens the store on them.
fn reopen(path: &Path, sections: &[crate::restart_data::Section]) -> Restore {
    memory_file::replace(&memory_file::meta_path(path), |w| {
        let mut out = Writer::new(w, CLEAN)?;
        for s in sections {
            out.section(s.tag, s.required, s.version, s.payload.bytes())?;
        }
        Ok(out.finish()?.1)
    })
    .unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let cfg = StoreConfig {
        memory_limit: 16 << 20,
        ..StoreConfig::default()
    };
    let (s, opened) = Store::open_memory_file(cfg, clock, path, &[]).unwrap();
    if matches!(opened.restore, Restore::Empty(_)) {
        assert_eq!(s.stats().curr_items, 0);
    }
    opened.restore
}

fn corrupt_saying(r: &Restore, words: &str) {
    match r {
        Restore::Empty(Refusal::Corrupt(what)) => assert!(what.contains(words), "{what}"),
        other => panic!("expected a corrupt refusal about {words:?}: {other:?}"),
    }
}

#[test]
fn the_untouched_sections_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (path, sections) = saved(dir.path(), 500);
    assert!(matches!(
        reopen(&path, &sections),
        Restore::Restored { items: 500, .. }
    ));
}

#[test]
fn an_index_entry_into_the_middle_of_an_item_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut sections) = saved(dir.path(), 500);
    let indx = sections
        .iter_mut()
        .find(|s| {
            let b = s.payload.bytes();
            &s.tag == b"INDX" && b[b.len() - 16..b.len() - 8] != [0; 8]
        })
        .expect("a shard with items");
    // The slots come first (shard, padding, items and bytes after them); the offset field
    // holds offset + 1.
    let slot = indx
        .payload
        .bytes_mut()
        .chunks_exact_mut(8)
        .find(|c| {
            let v = u64::from_le_bytes((&**c).try_into().unwrap());
            v != 0 && v & ((1 << 38) - 1) != (1 << 38) - 1
        })
        .expect("an occupied slot");
    let v = u64::from_le_bytes((&*slot).try_into().unwrap()) + 3;
    slot.copy_from_slice(&v.to_le_bytes());
    corrupt_saying(&reopen(&path, &sections), "no item where the index points");
}

#[test]
fn a_segment_that_does_not_end_on_an_item_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut sections) = saved(dir.path(), 500);
    // Segment 0 (the first one handed out) holds the items. Shorten its written bytes by
    // one and give it the checksum of what is left: the checksum passes, the walk not.
    let heap = std::fs::read(&path).unwrap();
    let segs = sections.iter_mut().find(|s| &s.tag == b"SEGS").unwrap();
    let rec = &mut segs.payload.bytes_mut()[4..4 + SEG_RECORD];
    let write_off = u64::from_le_bytes(rec[14..22].try_into().unwrap()) as usize;
    assert!(write_off > 1000, "segment 0 holds the items");
    let live_bytes = u64::from_le_bytes(rec[50..58].try_into().unwrap()) as usize;
    assert!(live_bytes < write_off, "garbage at the end");
    rec[14..22].copy_from_slice(&((write_off - 1) as u64).to_le_bytes());
    let crc = crc32c::crc32c(&heap[..write_off - 1]);
    rec[58..62].copy_from_slice(&crc.to_le_bytes());
    corrupt_saying(&reopen(&path, &sections), "no whole item");
}

#[test]
fn a_changed_byte_of_a_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, sections) = saved(dir.path(), 500);
    let mut heap = std::fs::read(&path).unwrap();
    heap[100] ^= 1;
    std::fs::write(&path, &heap).unwrap();
    corrupt_saying(&reopen(&path, &sections), "checksum");
}
