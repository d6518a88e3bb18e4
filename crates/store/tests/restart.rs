//! Warm restart through the public API: a clean stop (`save`) and a start on the same
//! memory file (`open_memory_file`), on a manual clock, and every reason to start empty.
//! memcached's own scenarios (its t/restart.t) come first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::{
    Clock, DeltaOutcome, ExtraSection, ManualClock, Refusal, Restore, SaveError, Store,
    StoreConfig, StoreError, StoreMode, StoreOutcome,
};

const T0: u64 = 1_800_000_000;
const MIB: usize = 1 << 20;

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
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

    fn file(&self) -> PathBuf {
        self.dir.path().join("corvid.mem")
    }

    fn meta(&self) -> PathBuf {
        self.dir.path().join("corvid.mem.meta")
    }
}

fn cfg(mib: usize) -> StoreConfig {
    StoreConfig {
        memory_limit: mib * MIB,
        ..StoreConfig::default()
    }
}

fn open(path: &Path, cfg: StoreConfig, clock: &Arc<ManualClock>) -> (Store, Restore) {
    let (s, opened) =
        Store::open_memory_file(cfg, clock.clone(), path, &[]).expect("memory file opens");
    (s, opened.restore)
}

fn refusal(r: &Restore) -> &Refusal {
    match r {
        Restore::Empty(why) => why,
        Restore::Restored { items, .. } => panic!("restored {items} items, expected a refusal"),
    }
}

fn restored_items(r: &Restore) -> u64 {
    match r {
        Restore::Restored { items, .. } => *items,
        Restore::Empty(why) => panic!("started empty: {why}"),
    }
}

fn set(s: &Store, k: &str, v: &[u8], flags: u32, exptime: i64) -> u64 {
    match s
        .store(StoreMode::Set, k.as_bytes(), v, flags, exptime)
        .expect("set")
    {
        StoreOutcome::Stored { cas } => cas,
        other => panic!("set {k}: {other:?}"),
    }
}

fn value(s: &Store, k: &str) -> Option<Vec<u8>> {
    s.peek(k.as_bytes()).map(|i| i.value().to_vec())
}

#[test]
fn memcached_restart_scenarios_come_back_after_a_clean_stop() {
    let dir = Dir::new();
    let clock = Arc::new(ManualClock::new(T0));
    // memcached's t/restart.t runs -m 128 -I 2m.
    let config = StoreConfig {
        item_size_max: 2 * MIB,
        ..cfg(128)
    };
    let (s, r) = open(&dir.file(), config.clone(), &clock);
    assert_eq!(refusal(&r), &Refusal::Missing);
    // Values from 2 bytes to 1 MiB, doubling, each with its own flags.
    let mut sizes = HashMap::new();
    let mut cas = HashMap::new();
    let mut n = 2;
    let mut i = 0;
    while n <= MIB {
        let k = format!("foo{i}");
        cas.insert(k.clone(), set(&s, &k, &vec![b'x'; n], i as u32 * 7, 0));
        sizes.insert(k, n);
        n *= 2;
        i += 1;
    }
    // 130,000 small items; every tenth deleted again.
    for j in 0..130_000 {
        set(&s, &format!("z{j}"), format!("v{j}").as_bytes(), 0, 0);
    }
    for j in (0..130_000).step_by(10) {
        assert!(s.delete(format!("z{j}").as_bytes()));
    }
    // One item to expire while stopped, one to stay.
    set(&s, "low1", b"bo", 0, 5);
    set(&s, "low2", b"mo", 0, 200);
    let counter_cas = set(&s, "counter", b"41", 0, 0);
    clock.advance(1);
    let before = s.stats();
    let max_cas = s.peek(b"low2").unwrap().cas();
    let saved = s.save(&[]).expect("clean stop");
    assert_eq!(
        (saved.items, saved.bytes),
        (before.curr_items, before.bytes)
    );
    drop(s);

    // The restart took longer than low1's TTL.
    clock.advance(6);
    let (s, r) = open(&dir.file(), config, &clock);
    let items = restored_items(&r);
    // low1 may still be counted until its segment is reclaimed, as memcached counts it.
    assert!(
        items == before.curr_items || items == before.curr_items - 1,
        "{items} of {}",
        before.curr_items
    );
    assert_eq!(value(&s, "low1"), None, "expired while stopped");
    let low2 = s.get(b"low2").expect("the TTL-200 item is back");
    assert_eq!(low2.value(), b"mo");
    assert_eq!(low2.ttl_remaining(), 200 - 7, "same clock, same deadline");
    drop(low2);
    for (k, &n) in &sizes {
        let it = s.get(k.as_bytes()).unwrap_or_else(|| panic!("{k} is back"));
        assert_eq!(it.value().len(), n);
        assert!(it.value().iter().all(|&b| b == b'x'));
        let i: u32 = k[3..].parse().unwrap();
        assert_eq!(it.flags(), i * 7, "{k}'s flags");
        assert_eq!(it.cas(), cas[k], "{k}'s CAS, as gets shows it");
    }
    for j in 0..130_000 {
        let v = value(&s, &format!("z{j}"));
        if j % 10 == 0 {
            assert_eq!(v, None, "z{j} was deleted before the stop");
        } else {
            assert_eq!(v.as_deref(), Some(format!("v{j}").as_bytes()), "z{j}");
        }
    }
    // A cas with the CAS read before the restart still succeeds; new CAS values are above
    // every old one.
    let new_cas = match s
        .store(StoreMode::Cas(counter_cas), b"counter", b"42", 0, 0)
        .unwrap()
    {
        StoreOutcome::Stored { cas } => cas,
        other => panic!("cas with the old CAS: {other:?}"),
    };
    assert!(new_cas > max_cas, "{new_cas} > {max_cas}");
    match s.delta(b"counter", 1, true) {
        DeltaOutcome::Value { value, cas } => assert_eq!((value, cas > new_cas), (43, true)),
        other => panic!("{other:?}"),
    }
    // Counters start fresh; the gauges reflect what came back.
    let st = s.stats();
    assert_eq!(
        st.total_items, 1,
        "the cas above (the incr rewrote in place)"
    );
    assert!(st.get_hits > 0);
    assert_eq!(st.curr_items, items, "curr_items is what came back");
}

#[test]
fn a_pending_flush_all_delay_survives_a_restart() {
    let dir = Dir::new();
    let clock = Arc::new(ManualClock::new(T0));
    let (s, _) = open(&dir.file(), cfg(64), &clock);
    set(&s, "k", b"v", 0, 0);
    s.flush_all(100);
    s.save(&[]).unwrap();
    drop(s);
    clock.advance(50);
    let (s, r) = open(&dir.file(), cfg(64), &clock);
    assert_eq!(restored_items(&r), 1);
    assert_eq!(
        value(&s, "k").as_deref(),
        Some(&b"v"[..]),
        "before the flush moment"
    );
    clock.advance(51);
    assert_eq!(value(&s, "k"), None, "the delayed flush still happens");
}

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

#[test]
fn extra_sections_ride_along_and_unknown_required_ones_refuse() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = Dir::new();
    let disk = ExtraSection {
        tag: *b"DISK",
        version: 1,
        required: true,
        payload: b"page index".to_vec(),
    };
    let note = ExtraSection {
        tag: *b"NOTE",
        version: 3,
        required: false,
        payload: vec![1, 2, 3],
    };
    for (bad, _) in [(*b"INDX", 0), (*b"END ", 0), ([0, 1, 2, 3], 0)] {
        let (s, _) = open(&dir.file(), cfg(64), &clock);
        let x = ExtraSection {
            tag: bad,
            ..note.clone()
        };
        assert!(matches!(s.save(&[x]), Err(SaveError::BadSection(..))));
    }
    let (s, _) = open(&dir.file(), cfg(64), &clock);
    set(&s, "k", b"v", 0, 0);
    s.save(&[disk.clone(), note.clone()]).unwrap();
    drop(s);
    let (s, opened) =
        Store::open_memory_file(cfg(64), clock.clone(), &dir.file(), &[*b"DISK"]).unwrap();
    match opened.restore {
        Restore::Restored { extra, items, .. } => {
            assert_eq!(items, 1);
            assert_eq!(extra, vec![disk.clone(), note]);
        }
        Restore::Empty(why) => panic!("{why}"),
    }
    s.save(&[disk]).unwrap();
    drop(s);
    // A build that does not know DISK must not come back without it.
    let (_, r) = open(&dir.file(), cfg(64), &clock);
    let why = refusal(&r);
    assert!(
        matches!(why, Refusal::Incompatible { setting, .. } if setting == "section DISK"),
        "{why:?}"
    );
}

#[test]
fn save_needs_a_memory_file() {
    let s = Store::new(cfg(64)).unwrap();
    assert_eq!(s.save(&[]), Err(SaveError::NoMemoryFile));
    assert!(s.memory_file().is_none());
}

/// A deterministic xorshift stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Random operations against a model and against a twin store that never restarts, with
/// a clean stop and a restart every few thousand: the restarted store answers exactly as
/// the model and the twin, before and after each restart, and its gauges match the twin's.
#[test]
fn a_restored_store_goes_on_exactly_like_the_one_that_stopped() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = Dir::new();
    // No eviction, so the model knows every item.
    let config = StoreConfig {
        evict: false,
        ..cfg(64)
    };
    let (mut s, _) = open(&dir.file(), config.clone(), &clock);
    let twin = Store::with_clock(config.clone(), clock.clone()).unwrap();
    let mut model: HashMap<String, (Vec<u8>, u64)> = HashMap::new(); // value, deadline
    let mut rng = Rng(0x5eed);
    for round in 0..6 {
        for _ in 0..4000 {
            let k = format!("k{}", rng.next() % 2000);
            let now = clock.now();
            match rng.next() % 10 {
                0..=4 => {
                    let len = (rng.next() % 300) as usize;
                    let ttl = [0i64, 0, 30, 600][(rng.next() % 4) as usize];
                    let v = vec![b'0' + (rng.next() % 10) as u8; len];
                    let cas = set(&s, &k, &v, 0, ttl);
                    assert_eq!(cas, set(&twin, &k, &v, 0, ttl), "CAS of {k}");
                    let deadline = if ttl == 0 { u64::MAX } else { now + ttl as u64 };
                    model.insert(k, (v, deadline));
                }
                5 => {
                    assert_eq!(s.delete(k.as_bytes()), twin.delete(k.as_bytes()));
                    model.remove(&k);
                }
                6 => {
                    let live = model.get(&k).is_some_and(|(_, d)| *d > now);
                    let r = s.store(StoreMode::Append, k.as_bytes(), b"+", 0, 0);
                    let t = twin.store(StoreMode::Append, k.as_bytes(), b"+", 0, 0);
                    assert_eq!(r, t, "append {k} in round {round}");
                    assert_eq!(live, matches!(r, Ok(StoreOutcome::Stored { .. })));
                    if live {
                        model.get_mut(&k).unwrap().0.push(b'+');
                    }
                }
                7 => clock.advance(rng.next() % 7),
                _ => {
                    let live = model.get(&k).filter(|(_, d)| *d > now);
                    let want = live.map(|(v, _)| v.as_slice());
                    assert_eq!(value(&s, &k).as_deref(), want, "{k} in round {round}");
                    assert_eq!(value(&twin, &k).as_deref(), want, "twin's {k}");
                }
            }
        }
        s.save(&[]).unwrap();
        drop(s);
        clock.advance(rng.next() % 40);
        let (again, r) = open(&dir.file(), config.clone(), &clock);
        restored_items(&r);
        s = again;
        // The twin sweeps as the restart did.
        twin.sweep();
        let (a, b) = (s.stats(), twin.stats());
        assert_eq!(
            (a.curr_items, a.bytes, a.used_segments),
            (b.curr_items, b.bytes, b.used_segments),
            "gauges after restart {round}"
        );
        for i in 0..2000 {
            let k = format!("k{i}");
            let live = model.get(&k).filter(|(_, d)| *d > clock.now());
            let want = live.map(|(v, _)| v.as_slice());
            assert_eq!(value(&s, &k).as_deref(), want, "{k} after restart {round}");
            // Reads unlink expired items: keep the twin's reads the same.
            assert_eq!(value(&twin, &k).as_deref(), want);
        }
    }
}

/// A restored full heap evicts like any other: fill far past -m after a restart, and
/// every value read back is the one written for its key.
#[test]
fn a_restored_full_heap_evicts_and_stays_consistent() {
    let clock = Arc::new(ManualClock::new(T0));
    let dir = Dir::new();
    let v = |i: u32| -> Vec<u8> {
        let mut v = i.to_le_bytes().repeat(100);
        v.truncate(300 + (i % 200) as usize);
        v
    };
    let (s, _) = open(&dir.file(), cfg(16), &clock);
    for i in 0..80_000u32 {
        set(&s, &format!("e{i}"), &v(i), 0, 0);
    }
    assert!(s.stats().evictions > 0, "the heap filled");
    s.save(&[]).unwrap();
    drop(s);
    let (s, r) = open(&dir.file(), cfg(16), &clock);
    assert!(restored_items(&r) > 10_000);
    for i in 80_000..200_000u32 {
        set(&s, &format!("e{i}"), &v(i), 0, 0);
    }
    let mut found = 0;
    for i in 0..200_000u32 {
        if let Some(got) = value(&s, &format!("e{i}")) {
            assert_eq!(got, v(i), "e{i}");
            found += 1;
        }
    }
    assert!(found > 10_000, "{found}");
    assert!(s.stats().evictions > 0);
}
