//! The disk tier over real sockets, in this process (so the store can be asked which
//! items are on disk): every retrieval of a value on disk parks its session and answers
//! in request order, byte for byte what a value in RAM would answer; commands that need
//! the value read it back first; a corrupted record is one miss and `badcrc_from_extstore
//! 1`; clients that leave and a server that stops with reads in flight leave nothing
//! behind.

mod disk_support;

use disk::{Location, MIB};
use disk_support::*;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[test]
fn gets_of_values_on_disk_answer_in_order_byte_exact() {
    let r = start();
    let mut s = connect(r.addr);
    let disk = ["d1", "d2", "d3"];
    put_on_disk(&r, &mut s, &disk, 20_000);
    // RAM keys set after: the writer is not under pressure, and their segment is open.
    for k in ["r1", "r2"] {
        set(&mut s, k, 5, &value(k, 3000));
    }
    assert!(!on_disk(r.store, "r1"));
    let before = stat(r.addr, "get_extstore");
    // One multi-get mixing disk, RAM and a miss.
    let mut want = Vec::new();
    for k in ["d1", "r1", "d2", "r2", "d3"] {
        let len = if k.starts_with('d') { 20_000 } else { 3000 };
        want.extend(get_reply(k, 5, &value(k, len), None));
    }
    want.extend_from_slice(b"END\r\n");
    let got = exchange(&mut s, b"get d1 r1 d2 nope r2 d3\r\n", want.len());
    assert_eq!(got, want);
    assert_eq!(stat(r.addr, "get_extstore"), before + 3);
    // Pipelined: disk, RAM, disk, meta of both; replies in request order.
    let mut want = get_reply("d1", 5, &value("d1", 20_000), None);
    want.extend_from_slice(b"END\r\n");
    want.extend(get_reply("r1", 5, &value("r1", 3000), None));
    want.extend_from_slice(b"END\r\n");
    want.extend(get_reply("d2", 5, &value("d2", 20_000), None));
    want.extend_from_slice(b"END\r\n");
    want.extend_from_slice(b"VA 20000 f5 s20000\r\n");
    want.extend(value("d3", 20_000));
    want.extend_from_slice(b"\r\nVA 3000 f5\r\n");
    want.extend(value("r2", 3000));
    want.extend_from_slice(b"\r\nEN\r\n");
    let req = b"get d1\r\nget r1\r\nget d2\r\nmg d3 v f s\r\nmg r2 v f\r\nmg nope v\r\n";
    assert_eq!(exchange(&mut s, req, want.len()), want);
    settles(r.store);
}

#[test]
fn cas_flags_and_meta_facts_survive_a_trip_to_disk() {
    let r = start();
    let mut s = connect(r.addr);
    set(&mut s, "k", 0, b"x");
    let v = value("c", 5000);
    put_on_disk(&r, &mut s, &["c"], 5000);
    let cas = r.store.peek(b"c").unwrap().cas();
    let want = [get_reply("c", 5, &v, Some(cas)), b"END\r\n".to_vec()].concat();
    assert_eq!(exchange(&mut s, b"gets c\r\n", want.len()), want);
    // Meta without v reads nothing; with v, the value follows its flags.
    let line = format!("HD f5 s5000 c{cas} kc Oxy\r\n");
    assert_eq!(
        exchange(&mut s, b"mg c f s c k Oxy\r\n", line.len()),
        line.as_bytes()
    );
    let mut want = format!("VA 5000 c{cas} t-1 kc\r\n").into_bytes();
    want.extend_from_slice(&v);
    want.extend_from_slice(b"\r\n");
    assert_eq!(exchange(&mut s, b"mg c v c t k\r\n", want.len()), want);
    // A cas against the value on disk works without reading it.
    let req = format!("cas c 9 0 2 {cas}\r\nhi\r\n");
    assert_eq!(exchange(&mut s, req.as_bytes(), 8), b"STORED\r\n");
    let want = [get_reply("c", 9, b"hi", None), b"END\r\n".to_vec()].concat();
    assert_eq!(exchange(&mut s, b"get c\r\n", want.len()), want);
}

#[test]
fn commands_that_need_the_value_read_it_back_first() {
    let r = start();
    let mut s = connect(r.addr);
    put_on_disk(&r, &mut s, &["a", "p"], 2000);
    assert_eq!(
        exchange(&mut s, b"append a 0 0 3\r\nEND\r\n", 8),
        b"STORED\r\n"
    );
    assert_eq!(
        exchange(&mut s, b"prepend p 0 0 3\r\nBEG\r\n", 8),
        b"STORED\r\n"
    );
    let mut want_a = value("a", 2000);
    want_a.extend_from_slice(b"END");
    let mut want_p = b"BEG".to_vec();
    want_p.extend(value("p", 2000));
    let want = [
        get_reply("a", 5, &want_a, None),
        get_reply("p", 5, &want_p, None),
        b"END\r\n".to_vec(),
    ]
    .concat();
    assert_eq!(exchange(&mut s, b"get a p\r\n", want.len()), want);
    assert!(stat(r.addr, "recache_from_extstore") >= 2);
}

#[test]
fn incr_on_a_number_on_disk() {
    let r = start();
    let mut s = connect(r.addr);
    let number = format!("{:0>600}", 41);
    set(&mut s, "num", 5, number.as_bytes());
    put_on_disk(&r, &mut s, &["other"], 2000);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !on_disk(r.store, "num") {
        assert!(Instant::now() < deadline);
        put_on_disk(&r, &mut s, &["more"], 2000);
    }
    let reply = exchange(&mut s, b"incr num 1\r\n", 4);
    assert_eq!(reply, b"42\r\n");
}

#[test]
fn a_corrupted_record_is_one_miss_and_one_badcrc() {
    let r = start();
    let mut s = connect(r.addr);
    put_on_disk(&r, &mut s, &["bad", "badm", "badb", "good"], 30_000);
    // Push more values out so the records' write buffer reaches the file.
    let more: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = more.iter().map(String::as_str).collect();
    put_on_disk(&r, &mut s, &refs, 30_000);
    for key in ["bad", "badm", "badb"] {
        let ext = r.store.peek(key.as_bytes()).unwrap().external().unwrap();
        let loc = Location::from_bits(ext.location);
        corrupt(
            &r.file,
            u64::from(loc.page()) * 4 * MIB + loc.offset() + 1000,
        );
    }
    assert_eq!(exchange(&mut s, b"get bad\r\n", 5), b"END\r\n");
    assert_eq!(stat(r.addr, "badcrc_from_extstore"), 1);
    assert_eq!(stat(r.addr, "miss_from_extstore"), 1);
    assert!(r.store.peek(b"bad").is_none(), "the key is unlinked");
    // The same miss in meta (EN) and binary (not found, status 1).
    assert_eq!(exchange(&mut s, b"mg badm v\r\n", 4), b"EN\r\n");
    let mut b = connect(r.addr);
    let mut req = [0u8; 24].to_vec();
    req[0] = 0x80;
    req[2..4].copy_from_slice(&4u16.to_be_bytes());
    req[8..12].copy_from_slice(&4u32.to_be_bytes());
    req.extend_from_slice(b"badb");
    let got = exchange(&mut b, &req, 24 + 9);
    assert_eq!((got[1], &got[6..8]), (0x00, &[0u8, 1][..]), "not found");
    assert_eq!(&got[24..], b"Not found");
    assert_eq!(stat(r.addr, "badcrc_from_extstore"), 3);
    assert_eq!(stat(r.addr, "miss_from_extstore"), 3);
    assert!(r.store.peek(b"badm").is_none() && r.store.peek(b"badb").is_none());
    let want = [
        get_reply("good", 5, &value("good", 30_000), None),
        b"END\r\n".to_vec(),
    ]
    .concat();
    assert_eq!(exchange(&mut s, b"get good\r\n", want.len()), want);
}

fn corrupt(file: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x55], at).unwrap();
}

#[test]
fn binary_gets_of_values_on_disk() {
    let r = start();
    let mut s = connect(r.addr);
    put_on_disk(&r, &mut s, &["bk"], 10_000);
    let v = value("bk", 10_000);
    // A connection's first byte picks its protocol: a fresh one for binary.
    let mut s = connect(r.addr);
    // GETK then NOOP, pipelined.
    let mut req = Vec::new();
    for (opcode, key) in [(0x0c_u8, &b"bk"[..]), (0x0a, b"")] {
        let mut h = [0u8; 24];
        h[0] = 0x80;
        h[1] = opcode;
        h[2..4].copy_from_slice(&(key.len() as u16).to_be_bytes());
        h[8..12].copy_from_slice(&(key.len() as u32).to_be_bytes());
        h[12..16].copy_from_slice(&7u32.to_be_bytes());
        req.extend_from_slice(&h);
        req.extend_from_slice(key);
    }
    let got = exchange(&mut s, &req, 24 + 4 + 2 + v.len() + 24);
    assert_eq!(got[0], 0x81);
    assert_eq!(got[1], 0x0c);
    assert_eq!(&got[6..8], &[0, 0], "success");
    assert_eq!(
        u32::from_be_bytes([got[8], got[9], got[10], got[11]]) as usize,
        4 + 2 + v.len()
    );
    assert_eq!(&got[24..28], &5u32.to_be_bytes());
    assert_eq!(&got[28..30], b"bk");
    assert_eq!(&got[30..30 + v.len()], &v[..]);
    assert_eq!(got[30 + v.len() + 1], 0x0a, "NOOP after");
}

#[test]
fn clients_leaving_and_a_stop_with_reads_in_flight_leave_nothing_behind() {
    let r = start();
    let mut s = connect(r.addr);
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_on_disk(&r, &mut s, &refs, 20_000);
    // Clients ask for many values on disk and leave without reading.
    for _ in 0..20 {
        let mut c = connect(r.addr);
        let line = format!("get {}\r\n", refs.join(" "));
        c.write_all(line.as_bytes()).unwrap();
        drop(c);
    }
    settles(r.store);
    // The server still answers.
    let want = [
        get_reply("k1", 5, &value("k1", 20_000), None),
        b"END\r\n".to_vec(),
    ]
    .concat();
    assert_eq!(exchange(&mut s, b"get k1\r\n", want.len()), want);
    // Now a stop with reads queued: it returns, promptly.
    let mut busy: Vec<TcpStream> = (0..8).map(|_| connect(r.addr)).collect();
    for c in &mut busy {
        let line = format!("get {}\r\n", refs.join(" "));
        c.write_all(line.as_bytes()).unwrap();
    }
    let started = Instant::now();
    drop(r);
    assert!(started.elapsed() < Duration::from_secs(10), "stop hung");
}

#[test]
fn over_udp_a_value_on_disk_is_a_miss_as_in_memcached() {
    let udp_port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let r = start_with(|c| c.server.udp = vec![format!("127.0.0.1:{udp_port}").parse().unwrap()]);
    let mut s = connect(r.addr);
    put_on_disk(&r, &mut s, &["u"], 3000);
    set(&mut s, "ram", 5, b"small");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut req = vec![0, 1, 0, 0, 0, 1, 0, 0];
    req.extend_from_slice(b"get u ram\r\n");
    sock.send_to(&req, ("127.0.0.1", udp_port)).unwrap();
    let mut buf = [0u8; 1500];
    let mut got = Vec::new();
    // Each key is a response object of its own: the miss's is an empty datagram.
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    while let Ok(n) = sock.recv(&mut buf) {
        got.extend_from_slice(&buf[8..n]);
    }
    assert_eq!(got, b"VALUE ram 5 5\r\nsmall\r\nEND\r\n");
    // Over TCP the same key is served.
    let want = [
        get_reply("u", 5, &value("u", 3000), None),
        b"END\r\n".to_vec(),
    ]
    .concat();
    assert_eq!(exchange(&mut s, b"get u\r\n", want.len()), want);
}

#[test]
fn gets_racing_compaction_follow_the_value_to_its_new_page() {
    // 2,400 values of 20 KB fill twelve of sixteen 4 MiB pages; three in four are then
    // deleted, so every page is a quarter live, and compaction (turned on once ten
    // clients are reading) moves the live ones. A read that took a location just before
    // compaction re-pointed its key and freed the page finds the page gone: the value is
    // still live, elsewhere, and must be served, never a miss. Recaching is off (each
    // value is read many times, and must stay on disk); one IO thread, so queued reads
    // wait longer.
    let r = start_with(|s| {
        s.files = vec![("ext", 64)];
        s.ext.disk.compact_under = Some(0);
        s.ext.disk.io_threads = 1;
        s.ext.recache_rate = 0;
    });
    let mut s = connect(r.addr);
    let keys: Vec<String> = (0..2400).map(|i| format!("c{i}")).collect();
    for chunk in keys.chunks(300) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        put_on_disk(&r, &mut s, &refs, 20_000);
    }
    let mut live = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if i % 4 == 0 {
            live.push(k.as_str());
        } else {
            let req = format!("delete {k}\r\n");
            assert_eq!(exchange(&mut s, req.as_bytes(), 9), b"DELETED\r\n");
        }
    }
    let stop = AtomicBool::new(false);
    let gets = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for t in 0..10 {
            let (live, stop, gets) = (&live, &stop, &gets);
            scope.spawn(move || {
                let mut c = connect(r.addr);
                // Multi-gets of 64 (one round of reads): their reads queue together, so
                // many wait while a page is compacted.
                let mut i = t * 97;
                while !stop.load(Relaxed) {
                    let batch: Vec<&str> = (i..i + 64).map(|j| live[j % live.len()]).collect();
                    for (k, v) in batch.iter().zip(multi_get(&mut c, &batch)) {
                        match v {
                            Some(v) => assert!(v == value(k, 20_000), "{k} came back wrong"),
                            None => panic!("{k} is live and was a miss"),
                        }
                    }
                    gets.fetch_add(64, Relaxed);
                    i += 64;
                }
            });
        }
        while gets.load(Relaxed) < 600 {
            std::thread::sleep(Duration::from_millis(5));
        }
        for cmd in ["extstore max_frag 0.9", "extstore compact_under 16"] {
            let req = format!("{cmd}\r\n");
            assert_eq!(exchange(&mut s, req.as_bytes(), 4), b"OK\r\n", "{cmd}");
        }
        // Until compaction has moved what it will (the pages it fills are all live, and
        // the page still open is not compacted): its counter still for half a second.
        stat_until(r.addr, "extstore_compact_rescues", |v| v > 0);
        let (mut last, mut still) = (0, 0);
        while still < 25 {
            std::thread::sleep(Duration::from_millis(20));
            let now = stat(r.addr, "extstore_compact_rescues");
            still = if now == last { still + 1 } else { 0 };
            last = now;
        }
        stop.store(true, Relaxed);
    });
    // Every reply was read: reads issued beyond the gets are the ones that followed a
    // value (without following, 4 runs in 5 of this test saw a miss).
    let st = stats(r.addr, "");
    let follows = st["get_extstore"].parse::<u64>().unwrap() - gets.load(Relaxed);
    eprintln!("{follows} reads followed their value to its new page");
    assert_eq!(st["miss_from_extstore"], "0");
    assert_eq!(st["extstore_compact_lost"], "0");
    for k in &live {
        assert!(on_disk(r.store, k), "{k} is still on disk");
    }
    settles(r.store);
}

/// `get k1 k2 ...`: each key's value, or None where the reply left it out (a miss).
fn multi_get(s: &mut TcpStream, keys: &[&str]) -> Vec<Option<Vec<u8>>> {
    use std::io::Read;
    s.write_all(format!("get {}\r\n", keys.join(" ")).as_bytes())
        .unwrap();
    let mut found = std::collections::HashMap::new();
    loop {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            s.read_exact(&mut b).unwrap();
            line.push(b[0]);
        }
        let text = String::from_utf8(line).unwrap();
        if text == "END\r\n" {
            break;
        }
        let words: Vec<&str> = text.trim_end().split(' ').collect();
        assert_eq!(words[0], "VALUE", "{text:?}");
        let len: usize = words[3].parse().unwrap();
        let mut v = vec![0; len + 2];
        s.read_exact(&mut v).unwrap();
        assert_eq!(&v[len..], b"\r\n");
        v.truncate(len);
        found.insert(words[1].to_string(), v);
    }
    keys.iter().map(|k| found.remove(*k)).collect()
}

#[test]
fn gat_and_meta_hit_facts_of_values_on_disk() {
    // Recaching off: the value stays on disk however often it is read.
    let r = start_with(|s| s.ext.recache_rate = 0);
    let mut s = connect(r.addr);
    put_on_disk(&r, &mut s, &["g"], 5000);
    let v = value("g", 5000);
    let cas = r.store.peek(b"g").unwrap().cas();
    // gat and gats read the value like get and set the new expiry; the item stays on
    // disk (only its TTL, in RAM, changed).
    let want = [get_reply("g", 5, &v, None), b"END\r\n".to_vec()].concat();
    assert_eq!(exchange(&mut s, b"gat 1000 g\r\n", want.len()), want);
    let want = [get_reply("g", 5, &v, Some(cas)), b"END\r\n".to_vec()].concat();
    assert_eq!(exchange(&mut s, b"gats 2000 g\r\n", want.len()), want);
    assert!(on_disk(r.store, "g"));
    s.write_all(b"mg g t\r\n").unwrap();
    let line = read_line(&mut s);
    assert!(line == "HD t2000" || line == "HD t1999", "{line}");
    // h and l: fetched before (the gets above), and how long ago, from RAM.
    s.write_all(b"mg g v h l\r\n").unwrap();
    let line = read_line(&mut s);
    let ago: u64 = line
        .strip_prefix("VA 5000 h1 l")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(ago <= 5, "{line}");
    let mut want = v.clone();
    want.extend_from_slice(b"\r\n");
    let mut got = vec![0; want.len()];
    std::io::Read::read_exact(&mut s, &mut got).unwrap();
    assert!(got == want, "the value from disk");
    // Binary GAT (0x1d): extras are the new expiry; the reply carries the flags and
    // the value read from disk.
    let mut b = connect(r.addr);
    let mut req = [0u8; 24].to_vec();
    req[0] = 0x80;
    req[1] = 0x1d;
    req[2..4].copy_from_slice(&1u16.to_be_bytes());
    req[4] = 4;
    req[8..12].copy_from_slice(&5u32.to_be_bytes());
    req.extend_from_slice(&3000u32.to_be_bytes());
    req.push(b'g');
    let got = exchange(&mut b, &req, 24 + 4 + v.len());
    assert_eq!((got[1], &got[6..8]), (0x1d, &[0u8, 0][..]), "success");
    assert_eq!(&got[24..28], &5u32.to_be_bytes());
    assert!(got[28..] == v[..], "the value from disk");
    assert_eq!(stat(r.addr, "miss_from_extstore"), 0);
}

/// One reply line, without its `\r\n`.
fn read_line(s: &mut TcpStream) -> String {
    use std::io::Read;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut b).unwrap();
        line.push(b[0]);
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).unwrap()
}
