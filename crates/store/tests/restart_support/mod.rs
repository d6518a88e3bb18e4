//! What the warm-restart tests share: memory files in a temp dir (on tmpfs where there
//! is one), stores opened on a manual clock, and short ways to set and read items.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::{ManualClock, Refusal, Restore, Store, StoreConfig, StoreMode, StoreOutcome};

pub const T0: u64 = 1_800_000_000;
pub const MIB: usize = 1 << 20;

pub struct Dir {
    pub dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        // On tmpfs where there is one, as a memory file should be.
        let dir = if Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        };
        Dir {
            dir: dir.expect("temp dir"),
        }
    }

    pub fn file(&self) -> PathBuf {
        self.dir.path().join("corvid.mem")
    }

    pub fn meta(&self) -> PathBuf {
        self.dir.path().join("corvid.mem.meta")
    }
}

pub fn cfg(mib: usize) -> StoreConfig {
    StoreConfig {
        memory_limit: mib * MIB,
        ..StoreConfig::default()
    }
}

pub fn open(path: &Path, cfg: StoreConfig, clock: &Arc<ManualClock>) -> (Store, Restore) {
    let (s, opened) =
        Store::open_memory_file(cfg, clock.clone(), path, &[]).expect("memory file opens");
    (s, opened.restore)
}

pub fn refusal(r: &Restore) -> &Refusal {
    match r {
        Restore::Empty(why) => why,
        Restore::Restored { items, .. } => panic!("restored {items} items, expected a refusal"),
    }
}

pub fn restored_items(r: &Restore) -> u64 {
    match r {
        Restore::Restored { items, .. } => *items,
        Restore::Empty(why) => panic!("started empty: {why}"),
    }
}

pub fn set(s: &Store, k: &str, v: &[u8], flags: u32, exptime: i64) -> u64 {
    match s
        .store(StoreMode::Set, k.as_bytes(), v, flags, exptime)
        .expect("set")
    {
        StoreOutcome::Stored { cas } => cas,
        other => panic!("set {k}: {other:?}"),
    }
}

pub fn value(s: &Store, k: &str) -> Option<Vec<u8>> {
    s.peek(k.as_bytes()).map(|i| i.value().to_vec())
}
