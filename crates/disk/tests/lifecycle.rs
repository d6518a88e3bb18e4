//! Starting and stopping: a file another engine holds is refused; stopping with reads
//! in flight completes every one of them (done or `ShuttingDown`), joins every thread
//! and keeps nothing alive.

mod support;

use disk::{Disk, DiskError, ReadError, ReadResult};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use support::*;

#[test]
fn a_file_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let first = open(config(dir.path(), &[("ext", "8m")]), &owner);
    let second: Result<TestDisk, _> =
        Disk::open(config(dir.path(), &[("ext", "8m")]), owner.clone());
    match second {
        Err(DiskError::Open(e)) => assert!(e.to_string().contains("locked"), "{e}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a second engine opened a locked file"),
    }
    // The same file twice in one configuration: refused too.
    drop(first);
    let twice: Result<TestDisk, _> = Disk::open(
        config(dir.path(), &[("ext", "8m"), ("ext", "8m")]),
        owner.clone(),
    );
    assert!(matches!(twice, Err(DiskError::Open(_))));
    // Once released, it opens.
    assert!(Disk::<Done>::open(config(dir.path(), &[("ext", "8m")]), owner).is_ok());
}

#[test]
fn a_bad_configuration_is_refused_before_any_file_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let mut c = config(dir.path(), &[("ext", "8m")]);
    c.wbuf_size = 3 << 20;
    let r: Result<TestDisk, _> = Disk::open(c, owner);
    assert_eq!(
        r.err().map(|e| e.to_string()).as_deref(),
        Some("page_size must be divisible by wbuf_size")
    );
    assert!(!dir.path().join("ext").exists());
}

/// A completion that counts itself and holds a token, to see that each one ran once and
/// nothing kept one alive.
fn counted(
    token: &Arc<()>,
    ran: &Arc<AtomicUsize>,
    results: &mpsc::Sender<Result<usize, ReadError>>,
) -> Done {
    let (token, ran, results) = (token.clone(), ran.clone(), results.clone());
    Box::new(move |r: ReadResult| {
        let _hold = token;
        ran.fetch_add(1, Relaxed);
        let _ = results.send(r.map(|b| b.value().len()));
    })
}

#[test]
fn shutdown_with_reads_in_flight_completes_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("ext", "16m")]), &owner);
    let mut locs = Vec::new();
    for i in 0..40 {
        let key = format!("k{i}");
        let loc = put(
            &disk,
            &owner,
            key.as_bytes(),
            &value_for(key.as_bytes(), 100_000),
        );
        locs.push((loc, owner.get(key.as_bytes()).unwrap().len));
    }
    disk.sync();
    let token = Arc::new(());
    let ran = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let submitted = 5_000;
    // 5,000 reads of 100 KB would want 640 MiB of buffers if none were done yet: past
    // the 64 MiB of ext_read_mem, reads are handed back unqueued (how many depends on
    // how fast the IO threads go).
    let mut refused = 0;
    for i in 0..submitted {
        let (loc, len) = locs[i % locs.len()];
        if let Err(done) = disk.read(loc, len, counted(&token, &ran, &tx)) {
            refused += 1;
            drop(done);
        }
    }
    let submitted = submitted - refused;
    let started = Instant::now();
    disk.shutdown();
    assert!(started.elapsed() < Duration::from_secs(10), "shutdown hung");
    assert_eq!(
        ran.load(Relaxed),
        submitted,
        "every completion ran exactly once"
    );
    let (mut done, mut aborted) = (0, 0);
    for r in rx.try_iter() {
        match r {
            Ok(len) => {
                assert_eq!(len, 100_000);
                done += 1;
            }
            Err(ReadError::ShuttingDown) => aborted += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(done + aborted, submitted);
    // A read after shutdown completes at once.
    assert!(disk
        .read(locs[0].0, locs[0].1, counted(&token, &ran, &tx))
        .is_ok());
    assert_eq!(rx.recv().unwrap(), Err(ReadError::ShuttingDown));
    assert_eq!(ran.load(Relaxed), submitted + 1);
    assert_eq!(
        disk.write(disk::Bucket::Default, b"k", b"", b"v"),
        Err(disk::WriteError::ShuttingDown)
    );
    assert_eq!(disk.read_buffer_bytes().0, 0, "every read buffer came back");
    drop(disk);
    assert_eq!(Arc::strong_count(&token), 1, "no completion kept alive");
    assert_eq!(
        Arc::strong_count(&owner),
        1,
        "the maintenance thread let go of the owner"
    );
}

#[test]
fn reads_past_the_read_budget_are_handed_back_until_buffers_return() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let mut c = config(dir.path(), &[("ext", "8m")]);
    c.read_mem = 2 << 20; // sixteen 128 KiB buffers (100 KB values)
    let disk = open(c, &owner);
    let mut locs = Vec::new();
    for i in 0..20 {
        let key = format!("key{i}");
        let loc = put(
            &disk,
            &owner,
            key.as_bytes(),
            &value_for(key.as_bytes(), 100_000),
        );
        let len = owner.get(key.as_bytes()).unwrap().len;
        locs.push((key, loc, len));
    }
    disk.sync();
    // Results held (as replies waiting to be sent hold them) keep their buffers lent.
    let mut held = Vec::new();
    for (key, loc, len) in &locs[..16] {
        let buf = read(&disk, *loc, *len).unwrap();
        assert_eq!(buf.value(), value_for(key.as_bytes(), 100_000));
        held.push(buf);
    }
    assert_eq!(disk.read_buffer_bytes(), (2 << 20, 0));
    let (key, loc, len) = &locs[16];
    let (tx, rx) = mpsc::channel();
    let refused = disk.read(
        *loc,
        *len,
        Box::new(move |r| {
            let _ = tx.send(r.is_ok());
        }),
    );
    assert!(refused.is_err(), "over the budget: handed back, not queued");
    assert!(rx.try_recv().is_err(), "and not run");
    assert_eq!(read(&disk, *loc, *len).unwrap_err(), ReadError::OutOfMemory);
    // One returned: the read gets its buffer.
    held.truncate(15);
    let buf = read(&disk, *loc, *len).unwrap();
    assert_eq!(buf.value(), value_for(key.as_bytes(), 100_000));
    drop(buf);
    drop(held);
    let (lent, spare) = disk.read_buffer_bytes();
    assert_eq!(lent, 0, "every buffer back");
    assert!(spare <= 2 << 20);
    for (key, loc, len) in &locs {
        assert_eq!(
            read(&disk, *loc, *len).unwrap().value(),
            value_for(key.as_bytes(), 100_000)
        );
    }
}

#[test]
fn reads_queued_for_later_all_complete_after_one_wake() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("ext", "8m")]), &owner);
    let mut locs = Vec::new();
    for i in 0..50 {
        let key = format!("key{i}");
        let loc = put(
            &disk,
            &owner,
            key.as_bytes(),
            &value_for(key.as_bytes(), 20_000),
        );
        let len = owner.get(key.as_bytes()).unwrap().len;
        locs.push((key, loc, len));
    }
    disk.sync();
    let (tx, rx) = mpsc::channel();
    for round in 0..3 {
        // A worker's turn: a batch queued without waking anyone, then one wake-up.
        for (i, (_, loc, len)) in locs.iter().enumerate() {
            let tx = tx.clone();
            let queued = disk.read_later(
                *loc,
                *len,
                Box::new(move |r: ReadResult| {
                    let _ = tx.send((i, r.map(|b| b.value().to_vec())));
                }),
            );
            assert!(queued.is_ok());
        }
        disk.wake_readers();
        disk.wake_readers(); // a second call with nothing queued costs nothing
        let mut seen = vec![false; locs.len()];
        for _ in 0..locs.len() {
            let (i, value) = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("round {round}: a read never completed"));
            assert_eq!(value.unwrap(), value_for(locs[i].0.as_bytes(), 20_000));
            seen[i] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}

#[test]
fn dropping_the_engine_while_a_reader_holds_a_buffer_is_safe() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("ext", "8m")]), &owner);
    let loc = put(&disk, &owner, b"k", b"kept after the engine is gone");
    let buf = read(&disk, loc, owner.get(b"k").unwrap().len).unwrap();
    drop(disk);
    assert_eq!(buf.value(), b"kept after the engine is gone");
    drop(buf); // back to a pool nobody else holds: freed
}

#[test]
fn counters_follow_memcacheds_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(MapOwner::default());
    let disk = open(config(dir.path(), &[("ext", "16m")]), &owner);
    let s = disk.stats();
    assert_eq!(
        (s.pages_free, s.pages_used, s.limit_maxbytes),
        (4, 0, 16 << 20)
    );
    let loc = put(&disk, &owner, b"key", &[5u8; 1000]);
    let len = owner.get(b"key").unwrap().len;
    assert_eq!(len, disk::record_len(3, 4, 1000));
    let s = disk.stats();
    assert_eq!((s.page_allocs, s.pages_free, s.pages_used), (1, 3, 1));
    assert_eq!((s.objects_written, s.bytes_written), (1, len));
    assert_eq!((s.objects_used, s.bytes_used), (1, len));
    assert_eq!(s.bytes_fragmented, (4 << 20) - len);
    read(&disk, loc, len).unwrap();
    let s = disk.stats();
    assert_eq!((s.objects_read, s.bytes_read), (1, len));
    assert!(disk.release(loc, len));
    let s = disk.stats();
    assert_eq!((s.objects_used, s.bytes_used, s.objects_written), (0, 0, 1));
    let names: Vec<_> = s.named().iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), 19);
    assert!(names.contains(&"extstore_bytes_fragmented"));
    let pages = disk.page_data();
    assert_eq!(pages[0].version, 1);
    assert!(pages[0].active, "still the open page");
}
