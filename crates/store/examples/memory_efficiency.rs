//! Memory efficiency: how many items a 1024 MiB store holds before it starts evicting,
//! against memcached -m 1024 filled the same way, in the same run.
//!
//! Keys are `memtier-N`, values 100 bytes (then 1 KiB and 32 KiB). memcached is started
//! from /usr/bin/memcached on a free port and stopped at the end.
//!
//! Also prints Corvid's per-item overhead: item header bytes plus the 8-byte index slot,
//! and the index's actual bytes per item at the load factor it had (its tables are
//! between 3/8 and 3/4 full).
//!
//! cargo run --release -p store --example memory_efficiency [-- <MiB>]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use store::{Store, StoreConfig, StoreMode, StoreOutcome};

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / 1048576.0
}

struct Filled {
    items: u64,
    seconds: f64,
}

/// Where Corvid's bytes went at the last check before the first eviction, when every key
/// stored so far was still there.
struct Overhead {
    /// Item bytes beyond key and value (our header), per item.
    header: f64,
    /// Bytes of the index per item, at the load factor it had.
    index: f64,
    /// Share of the index's slots in use.
    load: f64,
}

/// Bytes of one index slot.
const SLOT: f64 = 8.0;

fn fill_corvid(mib: usize, value_len: usize) -> (Filled, Overhead, store::StoreStats) {
    let before = rss_mib();
    let s = Store::new(StoreConfig {
        memory_limit: mib << 20,
        ..StoreConfig::default()
    })
    .expect("store");
    let fresh = rss_mib() - before;
    println!("  corvid: fresh {mib} MiB store adds {fresh:.1} MiB RSS");
    let value = vec![b'v'; value_len];
    let start = Instant::now();
    let check = (200_000 / value_len).clamp(1, 1000) as u64;
    let mut held = 0;
    let mut n: u64 = 0;
    let mut since_check = 0;
    let mut key_bytes = 0u64;
    let mut overhead = Overhead {
        header: 0.0,
        index: 0.0,
        load: 0.0,
    };
    loop {
        let key = format!("memtier-{n}");
        key_bytes += key.len() as u64;
        match s.store(StoreMode::Set, key.as_bytes(), &value, 0, 0) {
            Ok(StoreOutcome::Stored { .. }) => {}
            other => panic!("set {key}: {other:?}"),
        }
        n += 1;
        since_check += 1;
        if since_check == check {
            since_check = 0;
            let st = s.stats();
            if st.evictions > 0 {
                break;
            }
            held = st.curr_items;
            // Nothing was evicted or overwritten yet: the live items are exactly the keys
            // stored so far, so the bytes beyond keys and values are the headers.
            let payload = key_bytes + n * value_len as u64;
            overhead = Overhead {
                header: (st.bytes - payload) as f64 / n as f64,
                index: st.index_bytes as f64 / n as f64,
                load: n as f64 * SLOT / st.index_bytes as f64,
            };
        }
    }
    let st = s.stats();
    println!(
        "  corvid: RSS after fill {:.0} MiB (heap {} MiB + index {:.0} MiB)",
        rss_mib() - before,
        mib,
        st.index_bytes as f64 / 1048576.0
    );
    (
        Filled {
            items: held,
            seconds: start.elapsed().as_secs_f64(),
        },
        overhead,
        st,
    )
}

struct Memcached {
    child: Child,
    port: u16,
}

impl Memcached {
    fn start(mib: usize) -> Memcached {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut cmd = Command::new("/usr/bin/memcached");
        cmd.args([
            "-m",
            &mib.to_string(),
            "-p",
            &port.to_string(),
            "-l",
            "127.0.0.1",
        ])
        .args(["-U", "0", "-t", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.args(["-u", "root"]);
        }
        let child = cmd.spawn().expect("start /usr/bin/memcached");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "memcached did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Memcached { child, port }
    }

    fn fill(&self, value_len: usize) -> Filled {
        let conn = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let mut w = std::io::BufWriter::with_capacity(1 << 20, conn);
        let value = vec![b'v'; value_len];
        let batch = (200_000 / value_len).clamp(1, 1000);
        let start = Instant::now();
        let mut n: u64 = 0;
        let mut held = 0;
        loop {
            for _ in 0..batch {
                write!(w, "set memtier-{n} 0 0 {value_len} noreply\r\n").unwrap();
                w.write_all(&value).unwrap();
                w.write_all(b"\r\n").unwrap();
                n += 1;
            }
            w.write_all(b"stats\r\n").unwrap();
            w.flush().unwrap();
            let (mut evictions, mut items) = (0u64, 0u64);
            let mut line = String::new();
            loop {
                line.clear();
                reader.read_line(&mut line).expect("stats");
                let t = line.trim_end();
                if t == "END" {
                    break;
                }
                let mut parts = t.split(' ');
                if let (Some("STAT"), Some(name), Some(v)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    match name {
                        "evictions" => evictions = v.parse().unwrap_or(0),
                        "curr_items" => items = v.parse().unwrap_or(0),
                        _ => {}
                    }
                } else if t.starts_with("SERVER_ERROR") || t.starts_with("ERROR") {
                    panic!("memcached: {t}");
                }
            }
            if evictions > 0 {
                break;
            }
            held = items;
        }
        Filled {
            items: held,
            seconds: start.elapsed().as_secs_f64(),
        }
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    println!("Filling {mib} MiB with distinct memtier-N keys until the first eviction\n");
    let mut rows = Vec::new();
    for value_len in [100usize, 1024, 32 * 1024] {
        println!("value {value_len} bytes");
        let (ours, overhead, st) = fill_corvid(mib, value_len);
        let theirs = {
            let mc = Memcached::start(mib);
            mc.fill(value_len)
        };
        let heap = (mib << 20) as f64;
        println!(
            "  corvid:    {:>9} items, {:>7.1} heap bytes/item, +{:.1} index bytes/item ({:.1}s)",
            ours.items,
            heap / ours.items as f64,
            st.index_bytes as f64 / st.curr_items.max(1) as f64,
            ours.seconds
        );
        println!(
            "  corvid overhead/item: header {:.1} B + slot {SLOT} B = {:.1} B; index actually \
             {:.1} B/item at load {:.2} (header + index {:.1} B)",
            overhead.header,
            overhead.header + SLOT,
            overhead.index,
            overhead.load,
            overhead.header + overhead.index
        );
        println!(
            "  memcached: {:>9} items, {:>7.1} bytes/item ({:.1}s)",
            theirs.items,
            heap / theirs.items.max(1) as f64,
            theirs.seconds
        );
        let ratio = ours.items as f64 / theirs.items.max(1) as f64;
        println!("  ratio:     {ratio:.3}x\n");
        rows.push((value_len, ours.items, theirs.items, ratio, overhead));
    }
    println!(
        "| value | corvid items | memcached items | ratio | header + slot B/item | \
         header + index B/item |"
    );
    println!("|------:|-------------:|----------------:|------:|-----:|-----:|");
    for (len, a, b, r, o) in rows {
        println!(
            "| {len} | {a} | {b} | {r:.3}x | {:.1} | {:.1} |",
            o.header + SLOT,
            o.header + o.index
        );
    }
}
