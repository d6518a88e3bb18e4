//! How fast the engine reads, by IO-thread count, from the page cache and from the
//! device; and `pread` on threads against `io_uring` on one thread, raw.
//!
//! ```sh
//! cargo run --release -p disk --example read_bench -- --dir /var/tmp --size-mb 1024 \
//!     --threads 1,2,4,8 --rounds 5            # engine, file in the page cache
//! cargo run --release -p disk --example read_bench -- --cold ...   # cache dropped first
//! cargo run --release -p disk --example read_bench -- --raw ...    # pread vs io_uring
//! ```
//!
//! Each round fills a fresh engine with `--value`-byte objects (uniform random reads
//! need every object to exist), then `--submitters` threads keep `--inflight` reads
//! each outstanding, as workers with parked connections would, for `--reads` reads in
//! all. Rounds alternate the thread counts; medians over rounds are printed.

use disk::{record_len, Bucket, Disk, DiskConfig, Fate, FileSpec, Found, Location, Mover, Owner};
use disk::{ReadResult, WriteError, MIB};
use std::os::fd::AsRawFd;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

struct NoOwner;
impl Owner for NoOwner {
    fn compacting(&self, _: &Found<'_>, _: &mut Mover<'_>) -> Fate {
        Fate::Dead
    }
}

type Done = Box<dyn FnOnce(ReadResult) + Send>;

#[derive(Clone)]
struct Args {
    dir: String,
    size_mb: u64,
    value: usize,
    threads: Vec<usize>,
    submitters: usize,
    inflight: usize,
    reads: usize,
    rounds: usize,
    cold: bool,
    raw: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        dir: "/var/tmp".into(),
        size_mb: 1024,
        value: 16 * 1024,
        threads: vec![1, 2, 4, 8],
        submitters: 4,
        inflight: 8,
        reads: 200_000,
        rounds: 3,
        cold: false,
        raw: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--dir" => a.dir = v,
            "--size-mb" => a.size_mb = v.parse().expect("size"),
            "--value" => a.value = v.parse().expect("value"),
            "--threads" => a.threads = v.split(',').map(|t| t.parse().expect("threads")).collect(),
            "--submitters" => a.submitters = v.parse().expect("submitters"),
            "--inflight" => a.inflight = v.parse().expect("inflight"),
            "--reads" => a.reads = v.parse().expect("reads"),
            "--rounds" => a.rounds = v.parse().expect("rounds"),
            "--cold" => {
                a.cold = true;
                i -= 1;
            }
            "--raw" => {
                a.raw = true;
                i -= 1;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn drop_cache(path: &str) {
    let f = std::fs::File::open(path).expect("open for fadvise");
    // SAFETY: a valid descriptor and integer arguments.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
}

struct Result_ {
    per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e6
}

/// Fills an engine with `io_threads` IO threads, then times the reads.
fn engine_round(a: &Args, io_threads: usize) -> Result_ {
    let path = format!("{}/corvid-read-bench.{}", a.dir, std::process::id());
    let mut config = DiskConfig::new(vec![
        // Room to spare: with no free page left the engine drops the oldest.
        FileSpec::parse(&format!("{path}:{}m", (a.size_mb * 5 / 4 / 64 + 2) * 64)).expect("spec"),
    ]);
    config.io_threads = io_threads;
    let disk: Disk<Done> = Disk::open(config, Arc::new(NoOwner)).expect("open");
    let value = vec![0x5Au8; a.value];
    let len = record_len(10, 0, a.value);
    let count = (a.size_mb * MIB / len) as usize;
    let mut locs: Vec<Location> = Vec::with_capacity(count);
    for i in 0..count {
        let key = format!("key{i:07}");
        loop {
            match disk.write(Bucket::Default, key.as_bytes(), b"", &value) {
                Ok(loc) => break locs.push(loc),
                Err(WriteError::Busy) => std::thread::sleep(Duration::from_micros(200)),
                Err(e) => panic!("{e}"),
            }
        }
    }
    disk.sync();
    if a.cold {
        drop_cache(&path);
    }
    let locs = Arc::new(locs);
    let disk = Arc::new(disk);
    let per = a.reads / a.submitters;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let handles: Vec<_> = (0..a.submitters)
        .map(|s| {
            let (disk, locs, inflight) = (disk.clone(), locs.clone(), a.inflight);
            std::thread::spawn(move || {
                let (tx, rx) = mpsc::channel::<(Instant, Option<disk::ReadError>)>();
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (s as u64) << 17;
                let mut next = |n: usize| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % n as u64) as usize
                };
                let mut lat = Vec::with_capacity(per);
                let submit =
                    |loc: Location, tx: &mpsc::Sender<(Instant, Option<disk::ReadError>)>| {
                        let tx = tx.clone();
                        let at = Instant::now();
                        let queued = disk.read(
                            loc,
                            len,
                            Box::new(move |r: ReadResult| {
                                let _ = tx.send((at, r.err()));
                            }),
                        );
                        assert!(queued.is_ok(), "over ext_read_mem");
                    };
                for _ in 0..inflight.min(per) {
                    submit(locs[next(locs.len())], &tx);
                }
                let mut submitted = inflight.min(per);
                while lat.len() < per {
                    let (at, err) = rx.recv().expect("completion");
                    assert_eq!(err, None, "read failed");
                    lat.push(at.elapsed());
                    if submitted < per {
                        submit(locs[next(locs.len())], &tx);
                        submitted += 1;
                    }
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("join"))
        .collect();
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    lat.sort();
    drop(disk);
    let _ = std::fs::remove_file(&path);
    Result_ {
        per_sec: lat.len() as f64 / secs,
        p50_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
        cpu_us: cpu / lat.len() as f64 * 1e6,
    }
}

/// Raw reads of `value` bytes at random aligned offsets of a file: `n` threads each
/// doing blocking `pread`s, or one thread keeping `n` reads queued in an io_uring.
fn raw_round(a: &Args, path: &str, n: usize, uring: bool) -> Result_ {
    let file = Arc::new(std::fs::File::open(path).expect("open"));
    let slots = (a.size_mb * MIB) as usize / a.value;
    if a.cold {
        drop_cache(path);
    }
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut lat = if uring {
        uring_reads(&file, a.value, slots, a.reads, n)
    } else {
        let per = a.reads / n;
        let hs: Vec<_> = (0..n)
            .map(|t| {
                let (file, value) = (file.clone(), a.value);
                std::thread::spawn(move || {
                    use std::os::unix::fs::FileExt;
                    let mut buf = vec![0u8; value];
                    let mut rng = 0x2545_F491_4F6C_DD1Du64 ^ (t as u64) << 20;
                    (0..per)
                        .map(|_| {
                            rng ^= rng << 13;
                            rng ^= rng >> 7;
                            rng ^= rng << 17;
                            let at = Instant::now();
                            let off = (rng % slots as u64) * value as u64;
                            file.read_exact_at(&mut buf, off).expect("pread");
                            at.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("join"))
            .collect()
    };
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    lat.sort();
    Result_ {
        per_sec: lat.len() as f64 / secs,
        p50_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
        cpu_us: cpu / lat.len() as f64 * 1e6,
    }
}

fn uring_reads(
    file: &std::fs::File,
    value: usize,
    slots: usize,
    reads: usize,
    depth: usize,
) -> Vec<Duration> {
    use io_uring::{opcode, types, IoUring};
    let mut ring = IoUring::new(depth.next_power_of_two() as u32).expect("io_uring");
    let mut bufs: Vec<Vec<u8>> = (0..depth).map(|_| vec![0u8; value]).collect();
    let mut started = vec![Instant::now(); depth];
    let mut rng = 0x1234_5678_9ABC_DEF1u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % slots as u64) * value as u64
    };
    let fd = types::Fd(file.as_raw_fd());
    let mut lat = Vec::with_capacity(reads);
    let mut submitted = 0;
    let push = |ring: &mut IoUring, slot: usize, bufs: &mut [Vec<u8>], off: u64| {
        let e = opcode::Read::new(fd, bufs[slot].as_mut_ptr(), value as u32)
            .offset(off)
            .build()
            .user_data(slot as u64);
        // SAFETY: the buffer outlives the read (it is only reused after its completion).
        unsafe { ring.submission().push(&e).expect("queue full") };
    };
    for (slot, at) in started.iter_mut().enumerate().take(reads) {
        *at = Instant::now();
        push(&mut ring, slot, &mut bufs, next());
        submitted += 1;
    }
    while lat.len() < reads {
        ring.submit_and_wait(1).expect("submit");
        let done: Vec<(usize, i32)> = ring
            .completion()
            .map(|c| (c.user_data() as usize, c.result()))
            .collect();
        for (slot, res) in done {
            assert_eq!(res, value as i32, "short or failed read");
            lat.push(started[slot].elapsed());
            if submitted < reads {
                started[slot] = Instant::now();
                push(&mut ring, slot, &mut bufs, next());
                submitted += 1;
            }
        }
    }
    lat
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn report(label: &str, rs: Vec<Result_>) {
    let (tput, lo, hi) = median(rs.iter().map(|r| r.per_sec).collect());
    let (p50, _, _) = median(rs.iter().map(|r| r.p50_us).collect());
    let (p99, _, _) = median(rs.iter().map(|r| r.p99_us).collect());
    let (cpu, _, _) = median(rs.iter().map(|r| r.cpu_us).collect());
    println!(
        "{label:<24} {tput:>10.0} reads/s (spread {lo:.0}-{hi:.0})  p50 {p50:>7.1} us  p99 {p99:>8.1} us  cpu {cpu:>5.2} us/read"
    );
}

fn main() {
    let a = parse_args();
    println!(
        "value {} B, {} MiB, {} reads, {} rounds, {}",
        a.value,
        a.size_mb,
        a.reads,
        a.rounds,
        if a.cold {
            "cache dropped before each round"
        } else {
            "file in the page cache"
        }
    );
    if a.raw {
        let path = format!("{}/corvid-raw-bench.{}", a.dir, std::process::id());
        std::fs::write(&path, vec![0x5Au8; (a.size_mb * MIB) as usize]).expect("fill");
        let mut results: Vec<Vec<Result_>> = Vec::new();
        let cases: Vec<(usize, bool)> = a
            .threads
            .iter()
            .flat_map(|&n| [(n, false), (n, true)])
            .collect();
        results.resize_with(cases.len(), Vec::new);
        for _ in 0..a.rounds {
            for (i, &(n, uring)) in cases.iter().enumerate() {
                results[i].push(raw_round(&a, &path, n, uring));
            }
        }
        for ((n, uring), rs) in cases.into_iter().zip(results) {
            let label = if uring {
                format!("io_uring depth {n}")
            } else {
                format!("pread x{n} threads")
            };
            report(&label, rs);
        }
        let _ = std::fs::remove_file(&path);
        return;
    }
    let mut results: Vec<Vec<Result_>> = (0..a.threads.len()).map(|_| Vec::new()).collect();
    for _ in 0..a.rounds {
        for (i, &t) in a.threads.iter().enumerate() {
            results[i].push(engine_round(&a, t));
        }
    }
    for (t, rs) in a.threads.iter().zip(results) {
        report(&format!("ext_threads={t}"), rs);
    }
}
