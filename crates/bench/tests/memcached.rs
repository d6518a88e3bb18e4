//! Runs short benchmarks against a real memcached 1.6 (the reference for every byte) and
//! checks the generator sees no errors where there are none, and sees them where there
//! are.

use bench::{Config, KeyDistSpec, Protocol, Ratio, SizeDist, Stop, Target};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Memcached {
    child: Child,
    target: Target,
    _dir: Option<TempDir>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn spawn(args: &[String]) -> Child {
    let mut cmd = Command::new("memcached");
    cmd.args(["-U", "0", "-t", "1", "-m", "64"]).args(args);
    if running_as_root() {
        cmd.args(["-u", "root"]);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("memcached must be installed (apt-get install memcached)")
}

/// Polls until `ready` says the server accepts, or the child dies (the port was taken
/// between our probe and its bind).
fn wait_until_ready(child: &mut Child, ready: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        std::thread::yield_now();
    }
    panic!("memcached did not start accepting within 10 s");
}

impl Memcached {
    fn tcp() -> Memcached {
        loop {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = spawn(&[
                "-l".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
            ]);
            let addr = format!("127.0.0.1:{port}").parse().unwrap();
            if wait_until_ready(&mut child, || TcpStream::connect(addr).is_ok()) {
                return Memcached {
                    child,
                    target: Target::Tcp(addr),
                    _dir: None,
                };
            }
        }
    }

    fn unix() -> Memcached {
        let dir = std::env::temp_dir().join(format!("corvid-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("memcached.sock");
        let mut child = spawn(&["-s".into(), path.display().to_string()]);
        assert!(wait_until_ready(&mut child, || UnixStream::connect(&path).is_ok()));
        Memcached {
            child,
            target: Target::Unix(path),
            _dir: Some(TempDir(dir)),
        }
    }

    fn config(&self) -> Config {
        let mut c = Config::new(self.target.clone());
        c.connections = 4;
        c.pipeline = 4;
        c.keys = 1000;
        c.prefill = true;
        c.stop = Stop::Requests(3000);
        c
    }
}

fn clean_run(config: &Config) -> bench::Report {
    let report = bench::run(config).expect("the run completes");
    assert_eq!(
        report.errors,
        0,
        "errors against memcached: {}",
        report.table()
    );
    assert!(report.hits > 0, "no hits: {}", report.table());
    assert_eq!(report.requests, 3000);
    report
}

#[test]
fn every_protocol_runs_clean_single_and_multi_get() {
    let server = Memcached::tcp();
    for protocol in [Protocol::Text, Protocol::Meta, Protocol::Binary] {
        for multiget in [1, 7] {
            let mut c = server.config();
            c.protocol = protocol;
            c.multiget = multiget;
            c.ratio = Ratio {
                get: 6,
                set: 2,
                delete: 1,
            };
            c.value_size = SizeDist::Uniform { min: 1, max: 3000 };
            c.key_size = SizeDist::Uniform { min: 5, max: 60 };
            c.key_dist = KeyDistSpec::Zipf(0.99);
            let report = clean_run(&c);
            assert!(
                report.misses > 0,
                "deletes should cause misses ({protocol}, {multiget})"
            );
            assert!(report.deleted > 0);
        }
    }
}

#[test]
fn unix_socket_and_threads() {
    let server = Memcached::unix();
    for protocol in [Protocol::Text, Protocol::Meta, Protocol::Binary] {
        let mut c = server.config();
        c.protocol = protocol;
        c.threads = 2;
        c.connections = 6;
        let report = clean_run(&c);
        // Prefilled and never deleted: every get hits.
        assert_eq!(report.misses, 0);
    }
}

#[test]
fn large_values_grow_the_read_buffer() {
    let server = Memcached::tcp();
    let mut c = server.config();
    c.value_size = SizeDist::Fixed(200 * 1024);
    c.keys = 50;
    c.ratio = Ratio {
        get: 1,
        set: 1,
        delete: 0,
    };
    c.multiget = 3;
    clean_run(&c);
}

#[test]
fn open_loop_keeps_its_schedule() {
    let server = Memcached::tcp();
    let mut c = server.config();
    c.rate = Some(10_000.0);
    c.pipeline = 64;
    let report = clean_run(&c);
    // 3000 requests at 10,000/s cannot finish before the last one is due (0.3 s), and
    // an idle memcached keeps up, so they finish soon after.
    assert!(
        report.duration_s >= 0.299,
        "ran ahead of schedule: {}",
        report.duration_s
    );
    assert!(
        report.duration_s < 3.0,
        "fell far behind: {}",
        report.duration_s
    );
}

#[test]
fn any_read_and_write_size_gives_the_same_clean_run() {
    // Tiny pieces make every request and reply span many turns of the event loop, in
    // both directions, pipelined and with multi-gets; unlimited sizes move all at once.
    let server = Memcached::tcp();
    for protocol in [Protocol::Text, Protocol::Meta, Protocol::Binary] {
        for (read, write, largest) in [(7, 5, 500), (4096, 16384, 40_000), (0, 0, 40_000)] {
            let mut c = server.config();
            c.protocol = protocol;
            c.io = bench::IoSizes { read, write };
            c.multiget = 3;
            c.pipeline = 8;
            c.keys = 300;
            c.stop = Stop::Requests(600);
            c.value_size = SizeDist::Uniform {
                min: 1,
                max: largest,
            };
            let report = bench::run(&c).expect("the run completes");
            let context = format!("{protocol} {read}/{write}: {}", report.table());
            assert_eq!(report.errors, 0, "{context}");
            assert_eq!((report.requests, report.misses), (600, 0), "{context}");
            assert!(report.hits > 0, "{context}");
        }
    }
}

#[test]
fn wrong_values_are_counted_as_errors() {
    let server = Memcached::tcp();
    let Target::Tcp(addr) = server.target else {
        unreachable!()
    };
    // One key, holding bytes this generator would never write.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"set k0 0 0 4\r\nnope\r\n").unwrap();
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"STORED\r\n");
    for protocol in [Protocol::Text, Protocol::Meta, Protocol::Binary] {
        let mut c = server.config();
        c.protocol = protocol;
        c.keys = 1;
        c.key_size = SizeDist::Fixed(2);
        c.value_size = SizeDist::Uniform { min: 1, max: 100 };
        c.prefill = false;
        c.ratio = Ratio {
            get: 1,
            set: 0,
            delete: 0,
        };
        c.stop = Stop::Requests(20);
        let report = bench::run(&c).unwrap();
        assert_eq!(report.wrong_values, 20, "{protocol}: {}", report.table());
        assert_eq!(report.errors, 20);
    }
}

#[test]
fn refused_connection_is_an_error_not_a_hang() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Config::new(Target::Tcp(format!("127.0.0.1:{port}").parse().unwrap()));
    assert!(matches!(
        bench::run(&c),
        Err(bench::BenchError::Connect { .. })
    ));
}

#[test]
fn open_loop_reports_requests_it_could_not_send() {
    let server = Memcached::tcp();
    let mut c = server.config();
    // One connection, one request in flight, a rate no server reaches.
    c.connections = 1;
    c.pipeline = 1;
    c.rate = Some(10_000_000.0);
    c.stop = Stop::After(Duration::from_millis(300));
    let report = bench::run(&c).unwrap();
    assert_eq!(report.errors, 0);
    assert!(report.requests > 0);
    assert!(
        report.unsent > report.requests,
        "unsent {} vs sent {}",
        report.unsent,
        report.requests
    );
    // The requests that did go out waited for their turn, and that wait is latency.
    assert!(
        report.latency.p50_us > 1000.0,
        "p50 {}",
        report.latency.p50_us
    );
}
