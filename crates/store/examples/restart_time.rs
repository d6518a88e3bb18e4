//! How long a warm restart takes: fill a store on a memory file, stop it cleanly, and time
//! taking it back (restart data read and checked, index tables loaded, every written
//! segment checksummed), three times.
//!
//! ```sh
//! cargo run --release -p store --example restart_time -- [ITEMS] [MIB] [DIR] [MODE]
//! ```
//! Defaults: 10,000,000 items of 100 bytes (`memtier-N` keys), `-m 4096`, in /dev/shm.
//! MODE `fill` only fills and saves, `restore` only restores (both keep the files, for
//! profiling one phase); without it, both, and the files are removed.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use store::{Restore, Store, StoreConfig, StoreMode, SystemClock};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn fill(cfg: &StoreConfig, path: &Path, items: u64) -> Result<()> {
    let clock = Arc::new(SystemClock::new());
    let (s, _) = Store::open_memory_file(cfg.clone(), clock, path, &[])?;
    let t = Instant::now();
    let v = [b'v'; 100];
    for i in 0..items {
        s.store(StoreMode::Set, format!("memtier-{i}").as_bytes(), &v, 0, 0)?;
    }
    let st = s.stats();
    println!(
        "filled {} items ({} MiB of items, index {} MiB) in {:.2} s",
        st.curr_items,
        st.bytes >> 20,
        st.index_bytes >> 20,
        t.elapsed().as_secs_f64()
    );
    let saved = s.save(&[])?;
    println!(
        "save: {:.3} s, restart data {} MiB",
        saved.took.as_secs_f64(),
        saved.meta_bytes >> 20
    );
    Ok(())
}

fn restore(cfg: &StoreConfig, path: &Path, items: u64, rounds: usize) -> Result<()> {
    for round in 0..rounds {
        let clock = Arc::new(SystemClock::new());
        let t = Instant::now();
        let (s, opened) = Store::open_memory_file(cfg.clone(), clock, path, &[])?;
        let wall = t.elapsed();
        match opened.restore {
            Restore::Restored { items, took, .. } => println!(
                "restore {round}: {items} items in {:.3} s ({:.3} s wall)",
                took.as_secs_f64(),
                wall.as_secs_f64()
            ),
            Restore::Empty(why) => println!("restore {round}: {why}"),
        }
        let t = Instant::now();
        let mut hits = 0u64;
        for i in (0..items).step_by(97) {
            hits += u64::from(s.peek(format!("memtier-{i}").as_bytes()).is_some());
        }
        println!(
            "  then {hits} gets, {:.0} ns each (the first touch of their pages)",
            t.elapsed().as_nanos() as f64 / (items / 97).max(1) as f64
        );
        s.save(&[])?;
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let items: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4096);
    let dir = args.next().unwrap_or_else(|| "/dev/shm".to_string());
    let mode = args.next().unwrap_or_default();
    let path = Path::new(&dir).join("corvid-restart-time");
    let cfg = StoreConfig {
        memory_limit: mib << 20,
        ..StoreConfig::default()
    };
    let result = match mode.as_str() {
        "fill" => fill(&cfg, &path, items),
        "restore" => restore(&cfg, &path, items, 1),
        _ => fill(&cfg, &path, items).and_then(|()| restore(&cfg, &path, items, 3)),
    };
    if mode.is_empty() {
        let _ = std::fs::remove_file(&path);
        let mut meta = path.clone().into_os_string();
        meta.push(".meta");
        let _ = std::fs::remove_file(meta);
    }
    if let Err(e) = result {
        eprintln!("restart_time: {e}");
        std::process::exit(1);
    }
}
