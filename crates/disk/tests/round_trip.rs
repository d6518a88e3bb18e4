//! Objects of every size come back byte-exact, from write buffers and from the files;
//! several files pool their pages; what is on disk can be found again by its headers.

mod support;

use disk::{record_len, scan_headers, Bucket, PageHeader, Record, Records, MIB, PAGE_HEADER};
use std::sync::Arc;
use support::*;

/// Sizes from 0 to the largest record a 2 MiB write buffer takes, densely near the
/// edges (record header, padding, buffer ends).
fn sizes(max_value: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = (0..=300).collect();
    let mut s = 301;
    while s < max_value {
        sizes.push(s);
        s = s * 3 / 2 + 7;
    }
    for edge in [4095, 4096, 4097, 65_535, 65_536, 1 << 20, (1 << 20) + 1] {
        sizes.push(edge);
    }
    sizes.extend((max_value - 16)..=max_value);
    sizes.retain(|&s| s <= max_value);
    sizes
}

#[test]
fn every_size_round_trips_from_memory_and_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("ext", "64m")]), &owner);
    let key_len = 8;
    let max_value = (disk.max_record() - record_len(key_len, 4, 0)) as usize;
    let mut written = Vec::new();
    for (i, size) in sizes(max_value).into_iter().enumerate() {
        let key = format!("key{i:05}");
        let value = value_for(key.as_bytes(), size);
        let loc = put(&disk, &owner, key.as_bytes(), &value);
        // At once, while the object is still in its write buffer.
        let len = record_len(key_len, 4, size);
        let got = read(&disk, loc, len).unwrap();
        assert_eq!(got.value(), &value[..], "size {size} from memory");
        written.push((key, size));
    }
    // The sync writes the open buffers out; everything else has long been flushed.
    disk.sync();
    for (key, size) in &written {
        let e = owner.get(key.as_bytes()).unwrap();
        let got = read(&disk, e.loc, e.len).unwrap();
        assert_eq!(got.key(), key.as_bytes());
        assert_eq!(got.meta(), b"meta");
        assert_eq!(
            got.value(),
            &value_for(key.as_bytes(), *size)[..],
            "size {size}"
        );
        // The blocking read agrees with the IO threads.
        assert_eq!(disk.read_now(e.loc, e.len).unwrap().value(), got.value());
    }
    let stats = disk.stats();
    assert_eq!(stats.objects_written, written.len() as u64);
    assert_eq!(stats.objects_used, written.len() as u64);
    assert_eq!(stats.objects_read, 3 * written.len() as u64);
    assert_eq!(stats.bytes_read, 3 * stats.bytes_written);
    assert_eq!(stats.read_errors + stats.write_errors, 0);
}

#[test]
fn too_large_and_bad_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("ext", "8m")]), &owner);
    let max = (disk.max_record() - record_len(1, 0, 0)) as usize;
    assert!(disk
        .write(Bucket::Default, b"k", b"", &vec![1; max])
        .is_ok());
    assert_eq!(
        disk.write(Bucket::Default, b"k", b"", &vec![1; max + 8]),
        Err(disk::WriteError::TooLarge)
    );
    assert_eq!(
        disk.write(Bucket::Default, b"", b"", b"v"),
        Err(disk::WriteError::BadKey)
    );
    assert_eq!(
        disk.write(Bucket::Default, &[b'k'; 256], b"", b"v"),
        Err(disk::WriteError::BadKey)
    );
}

#[test]
fn two_files_pool_their_pages() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("a", "8m"), ("b", "12m")]), &owner);
    assert_eq!(disk.stats().limit_maxbytes, 20 * MIB);
    assert_eq!(disk.page_data().len(), 5);
    // 12 MiB of 100 KiB values: at least three pages, so both files get some.
    let n = 120;
    for i in 0..n {
        let key = format!("k{i}");
        put(
            &disk,
            &owner,
            key.as_bytes(),
            &value_for(key.as_bytes(), 100 * 1024),
        );
    }
    disk.sync();
    let mut pages_per_file = Vec::new();
    for (index, name) in ["a", "b"].into_iter().enumerate() {
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        let headers: Vec<PageHeader> = (0..bytes.len() / (4 << 20))
            .filter_map(|p| PageHeader::decode(&bytes[p * (4 << 20)..]))
            .collect();
        assert!(headers.iter().all(|h| usize::from(h.file) == index));
        pages_per_file.push(headers.len());
    }
    assert!(pages_per_file.iter().all(|&n| n > 0), "{pages_per_file:?}");
    for i in 0..n {
        let key = format!("k{i}");
        let e = owner.get(key.as_bytes()).unwrap();
        let got = read(&disk, e.loc, e.len).unwrap();
        assert_eq!(got.value(), &value_for(key.as_bytes(), 100 * 1024)[..]);
    }
}

#[test]
fn page_headers_and_records_can_be_found_again_after_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let config = config(dir.path(), &[("ext", "16m")]);
    let disk = open(config.clone(), &owner);
    for i in 0..50 {
        let key = format!("k{i}");
        put(
            &disk,
            &owner,
            key.as_bytes(),
            &value_for(key.as_bytes(), 90_000),
        );
    }
    drop(disk); // shutdown writes the open buffer out
    let file = channel::FileChannel::open(&dir.path().join("ext"), 16 * MIB).unwrap();
    let headers = scan_headers(&file, 4 * MIB, 4);
    assert!(headers.len() >= 2, "{headers:?}");
    let mut found = 0;
    let bytes = std::fs::read(dir.path().join("ext")).unwrap();
    for (pos, header) in &headers {
        assert_eq!(header.page_size, 4 * MIB);
        for region in 0..2 {
            let start = *pos as usize + region * (2 << 20);
            let first = if region == 0 { PAGE_HEADER } else { 0 };
            for (_, rec) in Records::new(&bytes[start..start + (2 << 20)], first) {
                let rec: Record<'_> = rec.unwrap();
                assert_eq!(rec.value(), &value_for(rec.key(), 90_000)[..]);
                found += 1;
            }
        }
    }
    assert_eq!(found, 50);
}
