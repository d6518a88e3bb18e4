//! What the engine tests share: small configurations in temp dirs, an owner keeping
//! key -> location in a map, blocking reads, polling.

#![allow(dead_code)]

use disk::{
    record_len, Bucket, Disk, DiskConfig, DiskHandle, Fate, FileSpec, Found, Location, Mover,
    Owner, ReadResult, WriteError, MIB,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The completion type the tests use.
pub type Done = Box<dyn FnOnce(ReadResult) + Send>;
pub type TestDisk = Disk<Done>;

/// `files` as `(name, size)` in `dir`, 4 MiB pages, 2 MiB write buffers, compaction
/// off unless a test turns it on, a maintenance pass every 10 ms.
pub fn config(dir: &Path, files: &[(&str, &str)]) -> DiskConfig {
    let specs = files
        .iter()
        .map(|(name, size)| {
            FileSpec::parse(&format!("{}:{size}", dir.join(name).display())).unwrap()
        })
        .collect();
    let mut config = DiskConfig::new(specs);
    config.page_size = 4 * MIB;
    config.wbuf_size = 2 * MIB;
    config.io_threads = 2;
    config.compact_under = Some(0);
    config.drop_under = Some(0);
    config.max_sleep = Duration::from_millis(10);
    config
}

/// One object the owner keeps.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub loc: Location,
    pub len: u64,
    pub read: bool,
}

/// An owner keeping key -> location, as the store will.
#[derive(Default)]
pub struct MapOwner {
    pub map: Mutex<HashMap<Vec<u8>, Entry>>,
}

impl Owner for MapOwner {
    fn compacting(&self, found: &Found<'_>, mover: &mut Mover<'_>) -> Fate {
        let mut map = self.map.lock().unwrap();
        let key = found.record.key();
        let Some(entry) = map.get_mut(key) else {
            return Fate::Dead;
        };
        if entry.loc != found.at {
            return Fate::Dead;
        }
        if found.drop_unread && !entry.read {
            map.remove(key);
            return Fate::Skipped;
        }
        match mover.rewrite() {
            Ok(new) => {
                entry.loc = new;
                Fate::Rescued
            }
            Err(_) => {
                map.remove(key);
                Fate::Lost
            }
        }
    }
}

impl MapOwner {
    pub fn get(&self, key: &[u8]) -> Option<Entry> {
        self.map.lock().unwrap().get(key).copied()
    }

    pub fn live(&self) -> Vec<(Vec<u8>, Entry)> {
        let map = self.map.lock().unwrap();
        map.iter().map(|(k, e)| (k.clone(), *e)).collect()
    }

    /// Forgets `key`, releasing its location.
    pub fn delete(&self, handle: &DiskHandle, key: &[u8]) {
        if let Some(e) = self.map.lock().unwrap().remove(key) {
            handle.release(e.loc, e.len);
        }
    }
}

/// Writes `key` -> `value`, retrying while the engine is busy, and records it in the
/// owner (releasing the previous location). Holds the owner's lock across write and
/// update, as the store will.
pub fn put(disk: &TestDisk, owner: &MapOwner, key: &[u8], value: &[u8]) -> Location {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut map = owner.map.lock().unwrap();
        match disk.write(Bucket::Default, key, b"meta", value) {
            Ok(loc) => {
                let len = record_len(key.len(), 4, value.len());
                let old = map.insert(
                    key.to_vec(),
                    Entry {
                        loc,
                        len,
                        read: false,
                    },
                );
                if let Some(old) = old {
                    disk.release(old.loc, old.len);
                }
                return loc;
            }
            Err(WriteError::Busy) if Instant::now() < deadline => {
                drop(map);
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("write of {} failed: {e}", String::from_utf8_lossy(key)),
        }
    }
}

/// Reads through the IO threads and waits for the completion.
pub fn read(disk: &TestDisk, loc: Location, len: u64) -> ReadResult {
    let (tx, rx) = mpsc::channel();
    let refused = disk.read(
        loc,
        len,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    if let Err(done) = refused {
        done(Err(disk::ReadError::OutOfMemory));
    }
    rx.recv_timeout(Duration::from_secs(20))
        .expect("a read completes")
}

/// A value whose bytes depend on its key and length, so a wrong record shows.
pub fn value_for(key: &[u8], len: usize) -> Vec<u8> {
    let seed = key
        .iter()
        .fold(7u32, |h, &b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    (0..len)
        .map(|i| (seed.wrapping_add(i as u32).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Polls `cond` every 5 ms until it holds or 20 s pass (the machine may be loaded).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn open(config: DiskConfig, owner: &Arc<MapOwner>) -> TestDisk {
    Disk::open(config, owner.clone()).unwrap()
}
