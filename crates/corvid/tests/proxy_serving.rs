//! `corvid proxy` serving real backends: three memcached servers behind one twemproxy
//! YAML, read by `corvid proxy` and by nutcracker (Debian's 0.5.0) alike. The same bytes
//! through both must get the same replies; a key written through one is found through
//! the other (placement through the serving path); a multi-get over all three servers
//! comes back in key order; a backend that dies or stops makes only its own keys fail,
//! with the documented replies, and comes back when it does.

mod support;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use support::proxy::{self, count, Client, Kind, Proxy, STARTUP};
use support::Server;

/// Starts `corvid proxy` (two workers) or nutcracker with the YAML `make(listen)` gives.
fn start(nutcracker: bool, make: impl Fn(SocketAddr) -> String) -> Proxy {
    let kind = if nutcracker {
        Kind::Nutcracker
    } else {
        Kind::CorvidYaml
    };
    proxy::start(kind, 2, make)
}

/// A twemproxy YAML for one pool of `backends` listening on `listen`.
fn yaml(listen: SocketAddr, backends: &[&Server], timeout_ms: u32) -> String {
    let mut y = format!(
        "alpha:\n  listen: {listen}\n  hash: fnv1a_64\n  distribution: ketama\n  \
         timeout: {timeout_ms}\n  auto_eject_hosts: false\n  servers:\n"
    );
    for (i, b) in backends.iter().enumerate() {
        y.push_str(&format!("   - 127.0.0.1:{}:1 mc{i}\n", b.port()));
    }
    y
}

fn three_backends() -> Vec<Server> {
    (0..3).map(|_| Server::memcached(&[])).collect()
}

/// Requests nutcracker and the proxy both serve, each ending with its number of reply
/// terminators.
fn script() -> Vec<(Vec<u8>, &'static [u8], usize)> {
    let mut steps: Vec<(Vec<u8>, &'static [u8], usize)> = Vec::new();
    for i in 0..40 {
        let v = "v".repeat(i * 37 % 300 + 1);
        steps.push((
            format!("set k{i} {i} 0 {}\r\n{v}\r\n", v.len()).into_bytes(),
            b"\r\n",
            1,
        ));
    }
    let keys: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
    steps.push((
        format!("get {}\r\n", keys.join(" ")).into_bytes(),
        b"END\r\n",
        1,
    ));
    steps.push((b"add k1 0 0 1\r\nx\r\n".to_vec(), b"\r\n", 1));
    steps.push((b"add fresh 0 0 1\r\nx\r\n".to_vec(), b"\r\n", 1));
    steps.push((b"replace nothere 0 0 1\r\nx\r\n".to_vec(), b"\r\n", 1));
    steps.push((b"append k2 0 0 3\r\nabc\r\n".to_vec(), b"\r\n", 1));
    steps.push((b"prepend k3 0 0 3\r\nxyz\r\n".to_vec(), b"\r\n", 1));
    steps.push((
        b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 20\r\nincr k4 1\r\n".to_vec(),
        b"\r\n",
        4,
    ));
    steps.push((
        b"delete k5\r\ndelete k5\r\ntouch k6 100\r\ntouch none 1\r\n".to_vec(),
        b"\r\n",
        4,
    ));
    steps.push((
        b"set q 0 0 1 noreply\r\nq\r\nget q k2 k3 nope\r\n".to_vec(),
        b"END\r\n",
        1,
    ));
    steps.push((b"get k7\r\nget k8 k9\r\nget zz\r\n".to_vec(), b"END\r\n", 3));
    steps
}

#[test]
fn same_bytes_same_replies_as_nutcracker() {
    let backends = three_backends();
    let refs: Vec<&Server> = backends.iter().collect();
    let corvid = start(false, |l| yaml(l, &refs, 2000));
    let mut c = Client::new(corvid.addr);
    let ours: Vec<Vec<u8>> = script().iter().map(|(b, e, n)| c.ask(b, e, *n)).collect();
    for b in &backends {
        let mut conn = Client::new(SocketAddr::from((Ipv4Addr::LOCALHOST, b.port())));
        assert_eq!(conn.line(b"flush_all\r\n"), "OK\r\n");
    }
    let nut = start(true, |l| yaml(l, &refs, 2000));
    let mut n = Client::new(nut.addr);
    let theirs: Vec<Vec<u8>> = script().iter().map(|(b, e, k)| n.ask(b, e, *k)).collect();
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b),
            "step {i}: corvid proxy (left) and nutcracker (right) differ"
        );
    }
}

#[test]
fn keys_written_through_corvid_are_found_through_nutcracker() {
    let backends = three_backends();
    let refs: Vec<&Server> = backends.iter().collect();
    let corvid = start(false, |l| yaml(l, &refs, 2000));
    let nut = start(true, |l| yaml(l, &refs, 2000));
    let mut c = Client::new(corvid.addr);
    let mut batch = Vec::new();
    for i in 0..2000 {
        batch.extend_from_slice(format!("set key:{i} 0 0 1 noreply\r\n{}\r\n", i % 10).as_bytes());
    }
    batch.extend_from_slice(b"mn\r\n");
    c.ask(&batch, b"MN\r\n", 1);
    // Every backend got some: the keys really were spread.
    for b in &backends {
        let mut conn = Client::new(SocketAddr::from((Ipv4Addr::LOCALHOST, b.port())));
        let items = conn.ask(b"stats\r\n", b"END\r\n", 1);
        let items = String::from_utf8_lossy(&items);
        assert!(
            !items.contains("STAT curr_items 0\r\n"),
            "a backend got no key"
        );
    }
    let mut n = Client::new(nut.addr);
    for chunk in (0..2000).collect::<Vec<_>>().chunks(100) {
        let keys: Vec<String> = chunk.iter().map(|i| format!("key:{i}")).collect();
        let reply = n.ask(
            format!("get {}\r\n", keys.join(" ")).as_bytes(),
            b"END\r\n",
            1,
        );
        assert_eq!(
            count(&reply, b"VALUE "),
            chunk.len(),
            "nutcracker misses keys corvid placed"
        );
    }
}

#[test]
fn a_failing_backend_fails_only_its_own_keys() {
    let mut backends = three_backends();
    let refs: Vec<&Server> = backends.iter().collect();
    let corvid = start(false, |l| yaml(l, &refs, 500));
    let mut c = Client::new(corvid.addr);
    let keys: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
    for k in &keys {
        assert_eq!(
            c.line(format!("set {k} 0 0 2\r\nok\r\n").as_bytes()),
            "STORED\r\n"
        );
    }
    // Which keys live on backend 0, asked of it directly.
    let on_first: Vec<&String> = {
        let mut direct = Client::new(SocketAddr::from((Ipv4Addr::LOCALHOST, backends[0].port())));
        keys.iter()
            .filter(|k| {
                direct
                    .ask(format!("get {k}\r\n").as_bytes(), b"END\r\n", 1)
                    .len()
                    > 5
            })
            .collect()
    };
    assert!(!on_first.is_empty() && on_first.len() < keys.len());
    let all = format!("get {}\r\n", keys.join(" "));
    let expect_without_first = |reply: &[u8]| {
        let text = String::from_utf8_lossy(reply);
        let mut expected = String::new();
        for k in keys.iter().filter(|k| !on_first.contains(k)) {
            expected.push_str(&format!("VALUE {k} 0 2\r\nok\r\n"));
        }
        expected.push_str("END\r\n");
        assert_eq!(
            text, expected,
            "only backend 0's keys may miss, in key order"
        );
    };

    // Stopped: its requests time out (500 ms); reads of its keys miss, writes fail.
    let pid = backends[0].pid().to_string();
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid}");
    };
    signal("-STOP");
    let started = Instant::now();
    expect_without_first(&c.ask(all.as_bytes(), b"END\r\n", 1));
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "waited for the timeout"
    );
    let mut c2 = Client::new(corvid.addr);
    assert_eq!(
        c2.line(format!("set {} 0 0 1\r\nx\r\n", on_first[0]).as_bytes()),
        "SERVER_ERROR Connection timed out\r\n"
    );
    assert_eq!(
        c2.ask(format!("get {}\r\n", on_first[1]).as_bytes(), b"END\r\n", 1),
        b"END\r\n"
    );
    signal("-CONT");
    // Back: its keys are served again (the connection that timed out was replaced).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = c2.ask(format!("get {}\r\n", on_first[0]).as_bytes(), b"END\r\n", 1);
        if reply.starts_with(b"VALUE") {
            break;
        }
        assert!(Instant::now() < deadline, "the backend never came back");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Killed: refused connections; same replies, at once.
    drop(backends.remove(0));
    expect_without_first(&c.ask(all.as_bytes(), b"END\r\n", 1));
    assert_eq!(
        c2.line(format!("delete {}\r\n", on_first[0]).as_bytes()),
        "SERVER_ERROR Connection refused\r\n"
    );
    // Other keys are unaffected.
    let other = keys
        .iter()
        .find(|k| !on_first.contains(k))
        .expect("a key elsewhere");
    assert_eq!(
        c2.line(format!("delete {other}\r\n").as_bytes()),
        "DELETED\r\n"
    );
}

/// SIGHUP under load: clients keep writing and reading through the proxy while the
/// configuration gains a server, then while a broken file is refused; no request fails,
/// no connection drops, and the new server gets keys once the reload is in.
#[test]
fn reload_under_load_fails_no_request() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    use std::sync::Arc;

    let backends = three_backends();
    let refs: Vec<&Server> = backends.iter().collect();
    let two = |l: SocketAddr| yaml(l, &refs[..2], 2000);
    let corvid = start(false, two);
    let conf = corvid.conf.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let (stop, done, addr) = (stop.clone(), done.clone(), corvid.addr);
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                let mut errors = Vec::new();
                let mut i = 0u64;
                while !stop.load(Relaxed) {
                    let key = format!("r{t}-{i}");
                    let set = c.line(format!("set {key} 0 0 4\r\nabcd\r\n").as_bytes());
                    if set != "STORED\r\n" {
                        errors.push(format!("set {key}: {set:?}"));
                    }
                    let got = c.ask(format!("get {key}\r\n").as_bytes(), b"END\r\n", 1);
                    let got = String::from_utf8_lossy(&got).into_owned();
                    // A reload between the two may move the key: a miss is allowed.
                    let want = format!("VALUE {key} 0 4\r\nabcd\r\nEND\r\n");
                    if got != want && got != "END\r\n" {
                        errors.push(format!("get {key}: {got:?}"));
                    }
                    i += 1;
                    done.fetch_add(1, Relaxed);
                }
                errors
            })
        })
        .collect();
    let wait_for = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while done.load(Relaxed) < n {
            assert!(Instant::now() < deadline, "the load stalled at {n}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let hup = || {
        let pid = corvid.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -HUP {pid}");
    };
    wait_for(200);
    // The listen line stays; a third server joins.
    let listen = corvid.addr;
    std::fs::write(&conf, yaml(listen, &refs, 2000)).expect("rewrite the yaml");
    hup();
    let third = SocketAddr::from((Ipv4Addr::LOCALHOST, backends[2].port()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = Client::new(third).ask(b"stats\r\n", b"END\r\n", 1);
        if !String::from_utf8_lossy(&stats).contains("STAT curr_items 0\r\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reload never reached the workers"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = done.load(Relaxed);
    wait_for(before + 200);
    // A broken file is refused; the proxy keeps serving the last good one.
    std::fs::write(&conf, "alpha:\n  listen: [\n").expect("break the yaml");
    hup();
    let before = done.load(Relaxed);
    wait_for(before + 200);
    stop.store(true, Relaxed);
    let errors: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("a client thread panicked"))
        .collect();
    assert!(
        errors.is_empty(),
        "{} failed requests: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
}

/// The names in twemproxy's JSON stats (every `"name":`), sorted, values left out.
fn json_names(port: u16) -> Vec<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + STARTUP;
    let text = loop {
        if let Ok(mut s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(20))).ok();
            let mut text = String::new();
            if s.read_to_string(&mut text).is_ok() && text.trim_end().ends_with('}') {
                break text;
            }
        }
        assert!(Instant::now() < deadline, "no JSON stats on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut names: Vec<String> = text
        .split('"')
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[1].starts_with(':'))
        .map(|w| w[0].to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// twemproxy's dashboards read the stats port: the same names as nutcracker's (pool,
/// server and counter names; the values differ).
#[test]
fn json_stats_have_nutcrackers_names() {
    let backends = three_backends();
    let refs: Vec<&Server> = backends.iter().collect();
    let corvid = start(false, |l| yaml(l, &refs, 2000));
    let nut = start(true, |l| yaml(l, &refs, 2000));
    let ours = json_names(corvid.stats);
    let theirs = json_names(nut.stats);
    for name in [
        "alpha",
        "mc0",
        "requests",
        "server_ejects",
        "curr_connections",
    ] {
        assert!(
            theirs.iter().any(|n| n == name),
            "nutcracker's stats lack {name}: {theirs:?}"
        );
    }
    let missing: Vec<&String> = theirs.iter().filter(|n| !ours.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "names nutcracker has and corvid lacks: {missing:?}"
    );
}

/// twemproxy's ejection: with `auto_eject_hosts`, a dead server's keys move to the
/// others after `server_failure_limit` failures, and the server is taken back (after a
/// probe) once `server_retry_timeout` has passed and it answers again.
#[test]
fn an_ejected_backend_is_remapped_then_rejoins() {
    let mut backends = three_backends();
    let port = backends[0].port();
    let refs: Vec<&Server> = backends.iter().collect();
    let corvid = start(false, |l| {
        yaml(l, &refs, 1000).replace(
            "auto_eject_hosts: false",
            "auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 300",
        )
    });
    let mut c = Client::new(corvid.addr);
    let keys: Vec<String> = (0..200).map(|i| format!("e{i}")).collect();
    let on_first: Vec<String> = {
        let mut direct = Client::new(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        keys.iter()
            .filter(|k| {
                assert_eq!(
                    c.line(format!("set {k} 0 0 1\r\nx\r\n").as_bytes()),
                    "STORED\r\n"
                );
                direct
                    .ask(format!("get {k}\r\n").as_bytes(), b"END\r\n", 1)
                    .len()
                    > 5
            })
            .cloned()
            .collect()
    };
    assert!(!on_first.is_empty());
    let key = &on_first[0];
    drop(backends.remove(0));
    // Each worker ejects on its own failure; once ejected, writes land elsewhere.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut fresh = Client::new(corvid.addr);
        let reply = fresh.line(format!("set {key} 0 0 1\r\ny\r\n").as_bytes());
        if reply == "STORED\r\n" {
            break;
        }
        assert_eq!(reply, "SERVER_ERROR Connection refused\r\n");
        assert!(
            Instant::now() < deadline,
            "the dead server was never ejected"
        );
    }
    // Back on its port: probed and taken back, its keys go to it again.
    let _back = proxy::backend_on(false, port);
    let mut direct = Client::new(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for _ in 0..4 {
            let mut fresh = Client::new(corvid.addr);
            fresh.line(format!("set {key} 0 0 1\r\nz\r\n").as_bytes());
        }
        if direct
            .ask(format!("get {key}\r\n").as_bytes(), b"END\r\n", 1)
            .len()
            > 5
        {
            break;
        }
        assert!(Instant::now() < deadline, "the server never rejoined");
        std::thread::sleep(Duration::from_millis(100));
    }
}
