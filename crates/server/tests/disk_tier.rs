//! The store and the disk engine glued together, without sockets: the background
//! writer's passes move values out before eviction would drop them, every external item
//! reads back byte-exact with its metadata, drops release disk space without IO, and the
//! disk's compaction re-points the store's items.

use disk::{Disk, DiskConfig, FileSpec, Location, ReadResult, MIB};
use server::disk_tier::owner::{Releaser, StoreOwner};
use server::disk_tier::{record_len, writer, ExtSettings, RecordMeta};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{Store, StoreConfig, StoreMode, StoreOutcome};

type Done = Box<dyn FnOnce(ReadResult) + Send>;

const VALUE: usize = 20_000;

fn value_for(i: usize) -> Vec<u8> {
    (0..VALUE).map(|j| (i * 31 + j * 7) as u8).collect()
}

fn setup(
    dir: &std::path::Path,
    disk_mb: u64,
    tweak: impl FnOnce(&mut DiskConfig),
) -> (&'static Store, Disk<Done>) {
    let cfg = StoreConfig {
        memory_limit: 16 << 20,
        ..StoreConfig::default()
    };
    let store: &'static Store = Box::leak(Box::new(Store::new(cfg).unwrap()));
    let spec = FileSpec::parse(&format!("{}:{disk_mb}m", dir.join("ext").display())).unwrap();
    let mut config = DiskConfig::new(vec![spec]);
    config.page_size = 4 * MIB;
    config.wbuf_size = 2 * MIB;
    config.max_sleep = Duration::from_millis(5);
    tweak(&mut config);
    let disk: Disk<Done> = Disk::open(config, Arc::new(StoreOwner(store))).unwrap();
    assert!(store.set_cold_tier(Arc::new(Releaser(disk.handle()))));
    (store, disk)
}

fn set(store: &Store, i: usize) -> u64 {
    let key = format!("key{i}");
    match store.store(StoreMode::Set, key.as_bytes(), &value_for(i), i as u32, 0) {
        Ok(StoreOutcome::Stored { cas }) => cas,
        other => panic!("{other:?}"),
    }
}

/// Runs writer passes until one moves nothing (the disk may be briefly busy).
fn drain(store: &Store, disk: &Disk<Done>, settings: &ExtSettings) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = writer::pass(store, disk, settings);
        if p.moved == 0 && !p.busy {
            return;
        }
        assert!(Instant::now() < deadline, "writer never settled");
        if p.busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Checks key `i`: in RAM, or external and read back with its metadata. False if gone.
fn check(store: &Store, disk: &Disk<Done>, i: usize) -> bool {
    let key = format!("key{i}");
    let Some(item) = store.peek(key.as_bytes()) else {
        return false;
    };
    match item.external() {
        None => assert_eq!(item.value(), &value_for(i)[..]),
        Some(ext) => {
            let len = record_len(key.len(), ext.value_len);
            let got = disk
                .read_now(Location::from_bits(ext.location), len)
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(got.key(), key.as_bytes());
            assert_eq!(got.value(), &value_for(i)[..]);
            let meta = RecordMeta::decode(got.meta()).unwrap();
            assert_eq!((meta.cas, meta.flags), (item.cas(), i as u32));
        }
    }
    true
}

#[test]
fn values_leave_ram_before_eviction_and_read_back_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (store, disk) = setup(dir.path(), 64, |_| {});
    let settings = ExtSettings::default();
    // 2000 values of 20 KB: 40 MB through a 16 MiB heap.
    let n = 2000;
    for i in 0..n {
        set(store, i);
        if i % 25 == 0 {
            drain(store, &disk, &settings);
        }
    }
    drain(store, &disk, &settings);
    let present = (0..n).filter(|&i| check(store, &disk, i)).count();
    let stats = disk.stats();
    assert!(present >= n * 95 / 100, "{present} of {n} kept; {stats:?}");
    assert!(stats.objects_written > 1000, "{stats:?}");
    assert_eq!(store.stats().evictions, 0, "{:?}", store.stats());
    // Every external item counts as one live object on disk.
    let external = (0..n)
        .filter(|i| {
            store
                .peek(format!("key{i}").as_bytes())
                .is_some_and(|it| it.external().is_some())
        })
        .count() as u64;
    assert_eq!(disk.stats().objects_used, external);
    // Deleting and overwriting release disk space without reading anything.
    let before = disk.stats();
    let mut dropped = 0;
    for i in 0..n {
        let key = format!("key{i}");
        let ext = store.peek(key.as_bytes()).and_then(|it| it.external());
        if ext.is_some() && i % 2 == 0 {
            if i % 4 == 0 {
                assert!(store.delete(key.as_bytes()));
            } else {
                set(store, i);
            }
            dropped += 1;
        }
    }
    let after = disk.stats();
    assert_eq!(after.objects_used, before.objects_used - dropped);
    assert_eq!(
        after.objects_read, before.objects_read,
        "no IO for releases"
    );
}

#[test]
fn the_disks_compaction_re_points_the_stores_items() {
    let dir = tempfile::tempdir().unwrap();
    let (store, disk) = setup(dir.path(), 32, |c| {
        c.compact_under = Some(0);
        c.max_frag = 0.5;
    });
    let settings = ExtSettings::default();
    let n = 1200;
    for i in 0..n {
        set(store, i);
        if i % 25 == 0 {
            drain(store, &disk, &settings);
        }
    }
    drain(store, &disk, &settings);
    // Delete three of every four external items: their pages become a quarter live.
    for i in (0..n).filter(|i| i % 4 != 0) {
        let key = format!("key{i}");
        if store
            .peek(key.as_bytes())
            .is_some_and(|it| it.external().is_some())
        {
            store.delete(key.as_bytes());
        }
    }
    let live: Vec<usize> = (0..n).filter(|&i| check(store, &disk, i)).collect();
    disk.tuning().set_compact_under(8);
    disk.wake_maintenance();
    let deadline = Instant::now() + Duration::from_secs(20);
    while disk.stats().compact_rescues == 0 {
        assert!(
            Instant::now() < deadline,
            "no compaction: {:?}",
            disk.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    disk.tuning().set_compact_under(0);
    std::thread::sleep(Duration::from_millis(50));
    for &i in &live {
        assert!(check(store, &disk, i), "key{i} lost by compaction");
    }
    let stats = disk.stats();
    assert_eq!(stats.compact_lost, 0);
    assert!(stats.page_reclaims > 0);
}
