//! Restart data the store did not write. A small store on a memory file is filled and
//! stopped cleanly once; each input then either replaces its restart data outright (the
//! framing: magic, lengths, checksums), or edits the saved sections and frames them again
//! with valid checksums (the contents: settings, segment records, lists, index slots), so
//! the consistency checks behind the checksums are fuzzed too. Checked every time: opening
//! never panics or errors; a refused start is empty; a restored store answers every key
//! with a value of the right shape or a miss, takes new writes, and survives another clean
//! stop and start.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use store::{ManualClock, Restore, Store, StoreConfig, StoreMode};

const KEYS: usize = 300;

fn cfg() -> StoreConfig {
    StoreConfig {
        memory_limit: 512 << 10,
        item_size_max: 64 << 10,
        segment_size: 64 << 10,
        ..StoreConfig::default()
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_800_000_000))
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i}-").repeat(1 + i % 7).into_bytes()
}

struct Base {
    dir: PathBuf,
    heap: Vec<u8>,
    meta: Vec<u8>,
    /// (tag, flags, version, payload) of each section, end marker excluded.
    sections: Vec<([u8; 4], u32, u32, Vec<u8>)>,
}

fn meta_of(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".meta");
    PathBuf::from(s)
}

static BASE: OnceLock<Base> = OnceLock::new();

/// Run by `exit` (libFuzzer's end of a run: `-runs`, `-max_total_time`): the directory goes
/// with the process. A crash skips it; the next run's start removes what a dead one left.
extern "C" fn remove_dir_at_exit() {
    if let Some(b) = BASE.get() {
        let _ = std::fs::remove_dir_all(&b.dir);
    }
}

fn base() -> &'static Base {
    BASE.get_or_init(|| {
        let root = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        // libFuzzer exits without unwinding: remove what earlier, finished runs left.
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("corvid-fuzz-restart.") {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let dir = root.join(format!("corvid-fuzz-restart.{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("fuzz dir");
        // SAFETY: registers a plain `extern "C" fn` taking nothing; it only reads a
        // static that is set (or not) and removes a directory, and never unwinds
        // (remove_dir_all reports errors as values).
        unsafe { libc::atexit(remove_dir_at_exit) };
        let path = dir.join("mem");
        let (s, _) = Store::open_memory_file(cfg(), clock(), &path, &[]).expect("open");
        for i in 0..KEYS {
            let exptime = [0, 0, 100, 5000][i % 4];
            s.store(StoreMode::Set, format!("k{i}").as_bytes(), &value(i), i as u32, exptime)
                .expect("set");
        }
        for i in (0..KEYS).step_by(9) {
            s.delete(format!("k{i}").as_bytes());
        }
        s.flush_all(1000);
        s.save(&[]).expect("save");
        drop(s);
        let heap = std::fs::read(&path).expect("heap");
        let meta = std::fs::read(meta_of(&path)).expect("meta");
        let sections = split(&meta);
        Base {
            dir,
            heap,
            meta,
            sections,
        }
    })
}

/// The sections of well-formed restart data (trusting its framing: it is ours).
fn split(meta: &[u8]) -> Vec<([u8; 4], u32, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 20;
    while at + 20 <= meta.len() {
        let tag = [meta[at], meta[at + 1], meta[at + 2], meta[at + 3]];
        let le32 = |o: usize| u32::from_le_bytes([meta[o], meta[o + 1], meta[o + 2], meta[o + 3]]);
        let flags = le32(at + 4);
        let version = le32(at + 8);
        let mut len = [0u8; 8];
        len.copy_from_slice(&meta[at + 12..at + 20]);
        let len = u64::from_le_bytes(len) as usize;
        if &tag == b"END " {
            break;
        }
        out.push((tag, flags, version, meta[at + 20..at + 20 + len].to_vec()));
        at += 20 + len + 4;
    }
    out
}

/// Frames sections as the store does, with valid checksums.
fn frame(header: &[u8], sections: &[([u8; 4], u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = header.to_vec();
    let end = (*b"END ", 1, 0, Vec::new());
    for (tag, flags, version, payload) in sections.iter().chain([&end]) {
        let mut head = Vec::with_capacity(20);
        head.extend_from_slice(tag);
        head.extend_from_slice(&flags.to_le_bytes());
        head.extend_from_slice(&version.to_le_bytes());
        head.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&head), payload);
        out.extend_from_slice(&head);
        out.extend_from_slice(payload);
        out.extend_from_slice(&crc.to_le_bytes());
    }
    out
}

fn exercise(s: &Store) {
    for i in 0..KEYS {
        if let Some(it) = s.get(format!("k{i}").as_bytes()) {
            // Whatever came back is readable in full and keeps to the layout's limits.
            assert_eq!(it.key(), format!("k{i}").as_bytes());
            let _ = it.value().iter().map(|&b| u64::from(b)).sum::<u64>();
        }
    }
    for i in 0..50 {
        let _ = s.store(StoreMode::Set, format!("new{i}").as_bytes(), &value(i), 0, 0);
    }
    assert_eq!(s.pinned_items(), 0);
}

fuzz_target!(|data: &[u8]| {
    let b = base();
    let path = b.dir.join("mem");
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let meta = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        // Edits: (section, offset u16, xor) triples on the saved sections.
        let mut sections = b.sections.clone();
        for e in rest.chunks_exact(4) {
            let Some(sec) = sections.get_mut(usize::from(e[0]) % b.sections.len().max(1)) else {
                continue;
            };
            let off = usize::from(u16::from_le_bytes([e[1], e[2]]));
            if let Some(byte) = sec.3.get_mut(off) {
                *byte ^= e[3];
            }
        }
        if mode & 2 != 0 && !sections.is_empty() {
            // Drop or repeat a section.
            let i = usize::from(mode >> 2) % sections.len();
            if mode & 0x80 != 0 {
                let s = sections[i].clone();
                sections.push(s);
            } else {
                sections.remove(i);
            }
        }
        frame(&b.meta[..20], &sections)
    };
    std::fs::write(&path, &b.heap).expect("heap");
    std::fs::write(meta_of(&path), &meta).expect("meta");
    let (s, opened) = Store::open_memory_file(cfg(), clock(), &path, &[]).expect("opens");
    match opened.restore {
        Restore::Empty(_) => assert_eq!(s.stats().curr_items, 0),
        Restore::Restored { .. } => {
            exercise(&s);
            s.save(&[]).expect("save again");
            drop(s);
            let (s, opened) = Store::open_memory_file(cfg(), clock(), &path, &[]).expect("reopens");
            assert!(
                matches!(opened.restore, Restore::Restored { .. }),
                "a store's own clean stop restores: {:?}",
                opened.restore
            );
            exercise(&s);
        }
    }
});
