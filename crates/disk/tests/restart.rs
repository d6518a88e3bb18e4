//! A warm restart of the engine: the page table saved at a clean stop
//! (`Disk::restart_section`) and taken back by the next start (`Opening::restore`), with
//! the owner's locations valid again; and every reason to refuse it.

mod support;

use disk::restart::Refused;
use disk::{Opening, PageData, ReadError, MIB};
use std::fs::{File, FileTimes, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use support::*;

/// Fills an engine on `ext` (16 MiB, four 4 MiB pages) with `n` values of 300 KB under
/// keys `k0..`, deletes every third, stops it and returns the section and the owner.
fn run_and_stop(dir: &Path, n: usize) -> (Vec<u8>, Arc<MapOwner>) {
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir, &[("ext", "16m")]), &owner);
    for i in 0..n {
        let key = format!("k{i}");
        put(
            &disk,
            &owner,
            key.as_bytes(),
            &value_for(key.as_bytes(), 300_000),
        );
    }
    for i in (0..n).step_by(3) {
        owner.delete(&disk.handle(), format!("k{i}").as_bytes());
    }
    let section = disk.restart_section().expect("a section");
    drop(disk);
    (section, owner)
}

/// Opens the engine again and offers it the section and every location `owner` kept.
fn reopen(dir: &Path, section: &[u8], owner: &Arc<MapOwner>) -> (Result<(), Refused>, TestDisk) {
    let mut opening = Opening::new(config(dir, &[("ext", "16m")])).unwrap();
    let verdict = opening.restore(section);
    if verdict.is_ok() {
        for (_, e) in owner.live() {
            assert!(opening.count_live(e.loc, e.len), "{:?} counted", e.loc);
        }
    }
    (verdict, opening.start(owner.clone()).unwrap())
}

fn used(pages: &[PageData]) -> u64 {
    pages.iter().map(|p| p.bytes_used).sum()
}

#[test]
fn values_come_back_and_the_pages_keep_their_live_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (section, owner) = run_and_stop(dir.path(), 30);
    let live_bytes: u64 = owner.live().iter().map(|(_, e)| e.len).sum();
    let (verdict, disk) = reopen(dir.path(), &section, &owner);
    assert_eq!(verdict, Ok(()));
    let s = disk.stats();
    assert_eq!(s.objects_used, 20);
    assert_eq!(s.bytes_used, live_bytes);
    assert_eq!(used(&disk.page_data()), live_bytes);
    for (key, e) in owner.live() {
        let buf = read(&disk, e.loc, e.len).expect("read back");
        assert_eq!(buf.key(), &key[..]);
        assert_eq!(buf.value(), &value_for(&key, 300_000)[..]);
    }
    // New pages get allocation numbers above the old ones, so no old location matches one.
    let before: Vec<u64> = disk.page_data().iter().map(|p| p.version).collect();
    for i in 30..40 {
        let key = format!("k{i}");
        put(
            &disk,
            &owner,
            key.as_bytes(),
            &value_for(key.as_bytes(), 300_000),
        );
    }
    let top = before.iter().max().copied().unwrap();
    // (A page may also have been dropped: with none free, the oldest one goes.)
    for (old, new) in before.iter().zip(disk.page_data()) {
        let v = new.version;
        assert!(v == *old || v == 0 || v > top, "{old} -> {v}");
    }
    assert!(disk.page_data().iter().any(|p| p.version > top));
    // Releases after the restart free the restored pages' bytes.
    for (key, _) in owner.live() {
        owner.delete(&disk.handle(), &key);
    }
    assert_eq!((disk.stats().objects_used, disk.stats().bytes_used), (0, 0));
    wait_until("the restored pages free", || {
        disk.page_data()
            .iter()
            .all(|p| p.version == 0 || p.version > top)
    });
}

#[test]
fn a_second_restart_in_a_row_works_too() {
    let dir = tempfile::tempdir().unwrap();
    let (section, owner) = run_and_stop(dir.path(), 12);
    let (verdict, disk) = reopen(dir.path(), &section, &owner);
    assert_eq!(verdict, Ok(()));
    put(&disk, &owner, b"new", &value_for(b"new", 100_000));
    let section = disk.restart_section().unwrap();
    drop(disk);
    let (verdict, disk) = reopen(dir.path(), &section, &owner);
    assert_eq!(verdict, Ok(()));
    for (key, e) in owner.live() {
        let len = if key == b"new" { 100_000 } else { 300_000 };
        assert_eq!(
            read(&disk, e.loc, e.len).unwrap().value(),
            &value_for(&key, len)[..]
        );
    }
}

/// Writes `bytes` at `pos` of `path` and puts its modification time back, so only the
/// page headers can tell.
fn overwrite_keeping_time(path: &Path, pos: u64, bytes: &[u8]) {
    let f = OpenOptions::new().write(true).open(path).unwrap();
    let modified = f.metadata().unwrap().modified().unwrap();
    f.write_all_at(bytes, pos).unwrap();
    f.sync_all().unwrap();
    f.set_times(FileTimes::new().set_modified(modified))
        .unwrap();
}

fn assert_refused_then_fresh(dir: &Path, section: &[u8], owner: &Arc<MapOwner>) -> Refused {
    let (verdict, disk) = reopen(dir, section, owner);
    let why = verdict.expect_err("refused");
    // Refused: every page is free, and an old location reads as stale.
    assert_eq!(disk.stats().pages_used, 0);
    let (_, e) = owner.live().into_iter().next().unwrap();
    assert!(matches!(read(&disk, e.loc, e.len), Err(ReadError::Stale)));
    why
}

#[test]
fn a_file_changed_between_runs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ext");
    let (section, owner) = run_and_stop(dir.path(), 12);
    // Written to (a byte in the middle of a value).
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(b"x", 5 * MIB).unwrap();
    drop(f);
    let why = assert_refused_then_fresh(dir.path(), &section, &owner);
    assert_eq!(
        why.to_string(),
        format!(
            "{} was written to since the last clean stop",
            path.display()
        )
    );
}

#[test]
fn a_truncated_or_missing_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ext");
    let (section, owner) = run_and_stop(dir.path(), 12);
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(MIB)
        .unwrap();
    let why = assert_refused_then_fresh(dir.path(), &section, &owner);
    assert!(why.to_string().contains("changed length"), "{why}");

    let (section, owner) = run_and_stop(dir.path(), 12);
    std::fs::remove_file(&path).unwrap();
    let why = assert_refused_then_fresh(dir.path(), &section, &owner);
    assert!(why.to_string().contains("is missing"), "{why}");
}

#[test]
fn a_page_header_that_disagrees_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ext");
    let (section, owner) = run_and_stop(dir.path(), 12);
    // A damaged header: fails its checksum.
    overwrite_keeping_time(&path, 20, b"\xff");
    let why = assert_refused_then_fresh(dir.path(), &section, &owner);
    assert!(
        matches!(&why, Refused::Page { page: 0, what, .. } if what == "no valid page header"),
        "{why}"
    );
    // A valid header of another run (another engine used the file since).
    let (section, owner) = run_and_stop(dir.path(), 12);
    let other = tempfile::tempdir().unwrap();
    let (_, _) = run_and_stop(other.path(), 3);
    let mut header = [0u8; 64];
    File::open(other.path().join("ext"))
        .unwrap()
        .read_exact_at(&mut header, 0)
        .unwrap();
    overwrite_keeping_time(&path, 0, &header);
    let why = assert_refused_then_fresh(dir.path(), &section, &owner);
    assert!(
        matches!(&why, Refused::Page { page: 0, what, .. } if what.starts_with("the header says")),
        "{why}"
    );
}

#[test]
fn other_settings_or_a_damaged_section_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (section, owner) = run_and_stop(dir.path(), 6);
    let mut c = config(dir.path(), &[("ext", "16m")]);
    c.wbuf_size = 4 * MIB;
    let mut opening = Opening::new(c).unwrap();
    assert!(matches!(
        opening.restore(&section),
        Err(Refused::Setting { setting, .. }) if setting == "ext_wbuf_size"
    ));
    drop(opening);
    let mut damaged = section.clone();
    damaged[10] ^= 1;
    let why = assert_refused_then_fresh(dir.path(), &damaged, &owner);
    assert_eq!(why, Refused::Corrupt("checksum".into()));
    // Nothing was harmed: the intact section still restores.
    let (verdict, _) = reopen(dir.path(), &section, &owner);
    assert_eq!(verdict, Ok(()));
}
