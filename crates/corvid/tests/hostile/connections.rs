//! Many connections: ten thousand coming and going, a flood past the connection limit,
//! and clients waiting for file descriptors once the process has none left.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::sentinel::Sentinel;
use crate::support::{self, Stream};
use crate::watched::{Watched, RSS_SLACK_KIB};

#[test]
fn ten_thousand_connections_come_and_go() {
    const N: usize = 10_000;
    let corvid = Watched::corvid(&["-c", "10100"]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let baseline = corvid.rss_kib();
    let start = Instant::now();
    let conns = open_idle(&corvid, &mut sentinel, N);
    let with_all = corvid.rss_kib();
    eprintln!(
        "{N} idle connections: RSS {baseline} -> {with_all} KiB ({} bytes each), opened in {:?}",
        (with_all.saturating_sub(baseline)) * 1024 / N as u64,
        start.elapsed()
    );
    assert!(
        with_all <= baseline + (N as u64 * 2048) / 1024 + RSS_SLACK_KIB,
        "{N} idle connections cost more than 2 KiB each: {baseline} -> {with_all} KiB"
    );
    drop(conns);
    corvid.connections_drop_to(&mut sentinel.client, 1);
    sentinel.intact(&corvid.server, "10,000 connections");
    // What they used is reused, not leaked: 10,000 more cost (almost) nothing more. (Not
    // "RSS falls back": the allocator need not give freed memory back to the kernel, and
    // on io_uring, where a connection costs more, it does not.) A leak of 200 bytes per
    // connection would show here.
    let conns = open_idle(&corvid, &mut sentinel, N);
    let again = corvid.rss_kib();
    assert!(
        again <= with_all + 2048,
        "10,000 connections after 10,000 closed: RSS {with_all} -> {again} KiB"
    );
    drop(conns);
    corvid.connections_drop_to(&mut sentinel.client, 1);
    sentinel.intact(&corvid.server, "20,000 connections");
}

/// Opens `n` connections (every 500th asks `version`), and waits until the server counts
/// them all (the acceptor hands them to workers asynchronously).
fn open_idle(corvid: &Watched, sentinel: &mut Sentinel, n: usize) -> Vec<Stream> {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = corvid.server.connect();
        if i % 500 == 0 {
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("set a read timeout");
            s.write_all(b"version\r\n").expect("write");
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).expect("read");
            assert!(buf[..n].starts_with(b"VERSION "), "connection {i}");
        }
        conns.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open: u64 = sentinel.client.stats()["curr_connections"]
            .parse()
            .expect("a number");
        if open as usize > n {
            return conns;
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections counted with {n} clients and the sentinel"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_flood_past_the_connection_limit_is_refused_and_forgotten() {
    let corvid = Watched::corvid(&["-c", "50"]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let baseline = corvid.rss_kib();
    let mut refused = 0;
    let mut held = Vec::new();
    for _ in 0..500 {
        let mut s = corvid.server.connect();
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set a read timeout");
        let _ = s.write_all(b"version\r\n");
        let mut reply = Vec::new();
        let mut buf = [0u8; 128];
        while !reply.ends_with(b"\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => reply.extend_from_slice(&buf[..n]),
            }
        }
        if reply == b"ERROR Too many open connections\r\n" {
            refused += 1;
        } else {
            assert!(reply.starts_with(b"VERSION "), "{reply:?}");
            held.push(s);
        }
    }
    assert!(
        held.len() <= 50,
        "{} connections served under -c 50",
        held.len()
    );
    assert!(refused >= 450, "only {refused} of 500 refused under -c 50");
    // The sentinel still works while the limit is reached; once the flood is gone, new
    // clients are served again.
    assert!(
        sentinel.client.get("sentinel0").is_some(),
        "the sentinel's data"
    );
    drop(held);
    corvid.connections_drop_to(&mut sentinel.client, 1);
    sentinel.intact(&corvid.server, "a flood past -c");
    corvid.settles_to(baseline, "a flood past -c");
}

/// A corvid started under `ulimit -n <limit>`, outside `support::Server` (which has no
/// way to set a resource limit); killed on drop.
struct FdLimited {
    child: std::process::Child,
    port: u16,
}

impl FdLimited {
    fn start(limit: u32, args: &[&str]) -> FdLimited {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut all = support::loopback_args(port, 2);
        all.extend(args.iter().map(|a| a.to_string()));
        all.extend(support::server_backend_args());
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_corvid"))
            .args(&all)
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("start corvid under sh");
        let limited = FdLimited { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "corvid under ulimit -n {limit} never listened"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        limited
    }
}

impl Drop for FdLimited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn clients_waiting_for_descriptors_are_served_once_some_free_up() {
    // -c far above what 48 descriptors allow: accept itself fails (EMFILE) and clients wait
    // in the listen backlog. The listener is edge-triggered, so unless the server retries,
    // they wait forever, even after descriptors free up.
    let server = FdLimited::start(48, &["-c", "1000"]);
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for _ in 0..70 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        s.write_all(b"version\r\n").expect("write");
        waiting.push(s);
    }
    let mut buf = [0u8; 64];
    for mut s in std::mem::take(&mut waiting) {
        s.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("set a read timeout");
        match s.read(&mut buf) {
            Ok(n) if buf[..n].starts_with(b"VERSION ") => served.push(s),
            _ => waiting.push(s),
        }
    }
    assert!(
        !waiting.is_empty(),
        "all 70 clients were served under ulimit -n 48: the test no longer runs out of descriptors"
    );
    assert!(served.len() >= 20, "only {} clients served", served.len());
    let freed = 20;
    served.truncate(served.len() - freed);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut late = 0;
    for s in &mut waiting {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set a read timeout");
        if let Ok(n) = s.read(&mut buf) {
            if buf[..n].starts_with(b"VERSION ") {
                late += 1;
            }
        }
        if late == freed {
            break;
        }
    }
    assert!(
        late >= freed / 2,
        "{late} of {} waiting clients served after {freed} descriptors were freed",
        waiting.len()
    );
}
