//! What goes wrong on a disk is reported as what it is: a flipped byte is a checksum
//! failure, a file cut short is a short read, a location into a page since reused is
//! stale. Each is the caller's miss; none returns wrong bytes.

mod support;

use disk::{ReadError, MIB};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use support::*;

/// Writes `n` objects of 300 KiB; their buffers (but the open one) reach the file.
fn fill(disk: &TestDisk, owner: &MapOwner, n: usize) -> Vec<String> {
    let keys: Vec<String> = (0..n).map(|i| format!("key{i}")).collect();
    for key in &keys {
        put(
            disk,
            owner,
            key.as_bytes(),
            &value_for(key.as_bytes(), 300 * 1024),
        );
    }
    disk.sync();
    keys
}

/// Byte position in the (single) file of a location: pages are laid out in order.
fn file_pos(loc: disk::Location) -> u64 {
    u64::from(loc.page()) * 4 * MIB + loc.offset()
}

#[test]
fn a_corrupted_byte_on_disk_is_a_checksum_failure() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("ext", "16m")]), &owner);
    let keys = fill(&disk, &owner, 20);
    let victim = owner.get(keys[0].as_bytes()).unwrap();
    let neighbour = owner.get(keys[1].as_bytes()).unwrap();
    // The first buffer is long on disk: flip one byte in the middle of the value.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(dir.path().join("ext"))
        .unwrap();
    let at = file_pos(victim.loc) + 150_000;
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x20], at).unwrap();
    assert_eq!(
        read(&disk, victim.loc, victim.len).unwrap_err(),
        ReadError::BadChecksum
    );
    // Its neighbour is untouched.
    let got = read(&disk, neighbour.loc, neighbour.len).unwrap();
    assert_eq!(got.value(), &value_for(keys[1].as_bytes(), 300 * 1024)[..]);
    // A corrupted header (lengths) is a checksum failure too, not a wrong-length value.
    file.write_all_at(&[0xFF], file_pos(neighbour.loc) + 9)
        .unwrap();
    assert_eq!(
        read(&disk, neighbour.loc, neighbour.len).unwrap_err(),
        ReadError::BadChecksum
    );
}

#[test]
fn a_file_cut_short_is_a_short_read() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("ext", "16m")]), &owner);
    let keys = fill(&disk, &owner, 20);
    let e = owner.get(keys[3].as_bytes()).unwrap();
    // Someone truncates the file in the middle of the record.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("ext"))
        .unwrap();
    file.set_len(file_pos(e.loc) + 1000).unwrap();
    assert_eq!(read(&disk, e.loc, e.len).unwrap_err(), ReadError::ShortRead);
    let stats = disk.stats();
    assert_eq!(stats.read_errors, 0, "a short read is not an OS error");
}

#[test]
fn a_location_into_a_reused_page_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("ext", "16m")]), &owner);
    let handle = disk.handle();
    // Fill page 0 and move on to another page.
    let mut first_page = Vec::new();
    let mut i = 0;
    loop {
        let key = format!("a{i}");
        let loc = put(
            &disk,
            &owner,
            key.as_bytes(),
            &value_for(key.as_bytes(), 200 * 1024),
        );
        i += 1;
        if loc.page() != 0 {
            break;
        }
        first_page.push(key);
    }
    let old = owner.get(first_page[0].as_bytes()).unwrap();
    disk.sync(); // page 0's last buffer is on disk: it is inactive
    for key in &first_page {
        owner.delete(&handle, key.as_bytes());
    }
    wait_until("page 0 freed", || disk.page_data()[0].version == 0);
    assert!(!disk.is_current(old.loc));
    assert_eq!(read(&disk, old.loc, old.len).unwrap_err(), ReadError::Stale);
    // Writes go on until page 0 is allocated again; the old location stays stale even
    // though the page holds records at that offset again.
    let mut j = 0;
    while disk.page_data()[0].version == 0 {
        let key = format!("b{j}");
        put(
            &disk,
            &owner,
            key.as_bytes(),
            &value_for(key.as_bytes(), 200 * 1024),
        );
        j += 1;
    }
    let mut k = 0;
    while disk.page_data()[0].bytes_used < 2 * MIB {
        let key = format!("c{k}");
        put(
            &disk,
            &owner,
            key.as_bytes(),
            &value_for(key.as_bytes(), 200 * 1024),
        );
        k += 1;
    }
    assert_eq!(read(&disk, old.loc, old.len).unwrap_err(), ReadError::Stale);
    assert!(
        !disk.release(old.loc, old.len),
        "releasing it again changes nothing"
    );
    // Out-of-range locations are stale, never a panic.
    for bits in [u64::MAX, 0xFFFF << 48, 1 << 27] {
        let loc = disk::Location::from_bits(bits);
        assert_eq!(read(&disk, loc, 64).unwrap_err(), ReadError::Stale);
    }
    assert_eq!(read(&disk, old.loc, 0).unwrap_err(), ReadError::Stale);
    assert_eq!(read(&disk, old.loc, 1 << 40).unwrap_err(), ReadError::Stale);
}
