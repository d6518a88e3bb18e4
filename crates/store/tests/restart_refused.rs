//! Warm restart: every reason to start empty (an unclean stop, other settings, corrupt
//! or truncated restart data, a changed memory file, no restart data, a memory file in
//! use), each with its log line, and a store that then serves as usual.

mod restart_support;

use restart_support::*;
use std::sync::Arc;
use store::{ManualClock, Refusal, Store, StoreConfig, StoreError};

#[test]
fn an_unclean_stop_starts_empty_and_serves() {
    let dir = Dir::new();
    let clock = Arc::new(ManualClock::new(T0));
    let (s, _) = open(&dir.file(), cfg(64), &clock);
    set(&s, "k", b"v", 0, 0);
    s.save(&[]).unwrap();
    drop(s);
    // A run that ends without a clean stop (a crash): the marker it wrote at start stays.
    let (s, r) = open(&dir.file(), cfg(64), &clock);
    assert_eq!(restored_items(&r), 1);
    set(&s, "other", b"x", 0, 0);
    drop(s);
    let (s, r) = open(&dir.file(), cfg(64), &clock);
    assert_eq!(refusal(&r), &Refusal::Unclean);
    assert!(refusal(&r).to_string().contains("did not stop cleanly"));
    assert_eq!(s.stats().curr_items, 0);
    assert_eq!(value(&s, "k"), None);
    set(&s, "after", b"ok", 0, 0);
    assert_eq!(value(&s, "after").as_deref(), Some(&b"ok"[..]));
    // And the next clean stop restores again.
    s.save(&[]).unwrap();
    drop(s);
    let (s, r) = open(&dir.file(), cfg(64), &clock);
    assert_eq!(restored_items(&r), 1);
    assert_eq!(value(&s, "after").as_deref(), Some(&b"ok"[..]));
}

/// Saves one item with `first`, restarts with `second`; the refusal.
fn restart_with(first: StoreConfig, second: StoreConfig) -> Refusal {
    let dir = Dir::new();
    let clock = Arc::new(ManualClock::new(T0));
    let (s, _) = open(&dir.file(), first, &clock);
    set(&s, "k", b"v", 0, 0);
    s.save(&[]).unwrap();
    drop(s);
    let (s, r) = open(&dir.file(), second, &clock);
    assert_eq!(s.stats().curr_items, 0, "started empty");
    set(&s, "k2", b"v2", 0, 0);
    assert_eq!(value(&s, "k2").as_deref(), Some(&b"v2"[..]), "and serves");
    refusal(&r).clone()
}

#[test]
fn incompatible_settings_start_empty_naming_the_setting() {
    let cases = [
        ("maxbytes", cfg(128)),
        (
            "item_size_max",
            StoreConfig {
                item_size_max: 2 * MIB,
                ..cfg(64)
            },
        ),
        (
            "use_cas",
            StoreConfig {
                cas_enabled: false,
                ..cfg(64)
            },
        ),
        (
            "segment_size",
            StoreConfig {
                segment_size: 2 * MIB,
                ..cfg(64)
            },
        ),
    ];
    for (name, second) in cases {
        let why = restart_with(cfg(64), second);
        let Refusal::Incompatible { setting, .. } = &why else {
            panic!("{name}: {why:?}");
        };
        assert_eq!(setting, name);
        let line = why.to_string();
        assert!(
            line.starts_with(&format!(
                "[restart] restart incompatible due to setting for [{name}]"
            )),
            "{line}"
        );
    }
    // -M does not shape the heap: the cache comes back either way.
    let dir = Dir::new();
    let clock = Arc::new(ManualClock::new(T0));
    let (s, _) = open(&dir.file(), cfg(64), &clock);
    set(&s, "k", b"v", 0, 0);
    s.save(&[]).unwrap();
    drop(s);
    let no_evict = StoreConfig {
        evict: false,
        ..cfg(64)
    };
    let (s, r) = open(&dir.file(), no_evict, &clock);
    assert_eq!(restored_items(&r), 1);
    assert_eq!(value(&s, "k").as_deref(), Some(&b"v"[..]));
}

/// A saved store with a few hundred items spread over several segments, closed.
fn saved(dir: &Dir, clock: &Arc<ManualClock>) {
    let (s, _) = open(&dir.file(), cfg(64), clock);
    for i in 0..3000 {
        set(
            &s,
            &format!("key{i}"),
            &vec![b'a' + (i % 26) as u8; 1000],
            0,
            0,
        );
    }
    s.save(&[]).unwrap();
}

fn reopen_refused(dir: &Dir, clock: &Arc<ManualClock>) -> Refusal {
    let (s, r) = open(&dir.file(), cfg(64), clock);
    assert_eq!(s.stats().curr_items, 0, "started empty");
    assert_eq!(value(&s, "key1"), None);
    set(&s, "new", b"1", 0, 0);
    assert_eq!(value(&s, "new").as_deref(), Some(&b"1"[..]));
    refusal(&r).clone()
}

#[test]
fn corrupt_restart_data_starts_empty_with_a_warning() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = Dir::new();
    saved(&dir, &clock);
    let meta = std::fs::read(dir.meta()).unwrap();
    // A flipped byte in each part of the file.
    for at in [3, 30, 200, meta.len() / 2, meta.len() - 30] {
        let mut m = meta.clone();
        m[at] ^= 0x40;
        std::fs::write(dir.meta(), &m).unwrap();
        let why = reopen_refused(&dir, &clock);
        assert!(
            matches!(why, Refusal::Corrupt(_) | Refusal::Truncated(_)),
            "byte {at}: {why:?}"
        );
        assert!(why.to_string().contains("warning"), "{why}");
        // The refused start replaced the data by its running marker: save the good copy
        // again for the next round.
        std::fs::write(dir.meta(), &meta).unwrap();
    }
    // Wrong magic: not restart data at all.
    let mut m = meta.clone();
    m[..8].copy_from_slice(b"NOTOURS!");
    std::fs::write(dir.meta(), &m).unwrap();
    assert!(matches!(reopen_refused(&dir, &clock), Refusal::Corrupt(w) if w.contains("magic")));
    // An empty file (memcached's test: memcached dies on it; we start empty).
    std::fs::write(dir.meta(), b"").unwrap();
    assert!(matches!(
        reopen_refused(&dir, &clock),
        Refusal::Truncated(_)
    ));
}

#[test]
fn truncated_restart_data_starts_empty_with_a_warning() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = Dir::new();
    saved(&dir, &clock);
    let meta = std::fs::read(dir.meta()).unwrap();
    for cut in [10, 100, meta.len() / 3, meta.len() - 1] {
        std::fs::write(dir.meta(), &meta[..cut]).unwrap();
        let why = reopen_refused(&dir, &clock);
        assert!(matches!(why, Refusal::Truncated(_)), "cut {cut}: {why:?}");
        std::fs::write(dir.meta(), &meta).unwrap();
    }
}

#[test]
fn a_changed_or_truncated_memory_file_starts_empty() {
    use std::io::{Seek, SeekFrom, Write};
    let clock = Arc::new(ManualClock::new(T0));
    let dir = Dir::new();
    saved(&dir, &clock);
    let meta = std::fs::read(dir.meta()).unwrap();
    // One byte of an item's value changed behind the store's back.
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.file())
            .unwrap();
        f.seek(SeekFrom::Start(5000)).unwrap();
        f.write_all(b"#").unwrap();
    }
    let why = reopen_refused(&dir, &clock);
    assert!(
        matches!(&why, Refusal::Corrupt(w) if w.contains("checksum")),
        "{why:?}"
    );
    // The memory file cut short.
    saved(&dir, &clock);
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.file())
        .unwrap()
        .set_len(10 * MIB as u64)
        .unwrap();
    assert!(matches!(
        reopen_refused(&dir, &clock),
        Refusal::Truncated(_)
    ));
    // Restart data without its memory file.
    std::fs::write(dir.meta(), &meta).unwrap();
    std::fs::remove_file(dir.file()).unwrap();
    assert!(matches!(
        reopen_refused(&dir, &clock),
        Refusal::Truncated(_)
    ));
}

#[test]
fn missing_restart_data_starts_empty() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = Dir::new();
    saved(&dir, &clock);
    std::fs::remove_file(dir.meta()).unwrap();
    assert_eq!(reopen_refused(&dir, &clock), Refusal::Missing);
}

#[test]
fn the_memory_file_belongs_to_one_store_at_a_time() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = Dir::new();
    let (first, _) = open(&dir.file(), cfg(64), &clock);
    let second = Store::open_memory_file(cfg(64), clock.clone(), &dir.file(), &[]);
    let Err(StoreError::MemoryFile(msg)) = second else {
        panic!("two stores on one memory file");
    };
    assert!(msg.contains("in use"), "{msg}");
    drop(first);
}
