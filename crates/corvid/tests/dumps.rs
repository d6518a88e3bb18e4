//! Key dumps as operators' tools read them: `lru_crawler metadump` lines compared with
//! memcached's for the same items, `memcached-tool` (the script Debian's memcached
//! package ships) run against both servers, and a dump of many keys to a client that
//! does not read, which must not hold up the worker's other connections.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::text::TextClient;
use support::Server;

const TOOL: &str = "/usr/share/memcached/scripts/memcached-tool";

/// The same items in each server: plain keys, flags, an expiry, bytes a URI encodes,
/// and some fetched.
fn fill(server: &Server) {
    let mut c = TextClient::connect(server);
    let items: [(&str, u32, i64, &str); 6] = [
        ("plain", 0, 0, "x"),
        ("flagged", 7, 0, "value"),
        ("expiring", 0, 1000, "soon"),
        ("b%20c", 5, 0, "xyz"),
        ("sp\u{e9}", 0, 0, "q"),
        ("long:key-with.punct_~", 0, 0, "0123456789"),
    ];
    for (key, flags, exptime, value) in items {
        c.send(format!("set {key} {flags} {exptime} {}\r\n{value}\r\n", value.len()).as_bytes());
        assert_eq!(c.line(), "STORED", "{}", server.implementation().name());
    }
    c.send(b"get plain flagged\r\n");
    while c.line() != "END" {}
}

/// What a metadump line says that does not depend on the clock: `la` dropped, `exp`
/// kept only as never (-1) or some time.
fn comparable(line: &str) -> String {
    line.split(' ')
        .filter(|field| !field.starts_with("la="))
        .map(|field| match field.strip_prefix("exp=") {
            Some("-1") => field.to_string(),
            Some(_) => "exp=T".to_string(),
            None => field.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole reply to `lru_crawler metadump <what>`: its lines up to `END`, or the one
/// line of a refusal. memcached answers `BUSY currently processing crawler request` while
/// its crawler runs on its own (it does at start): asked again until it is not.
fn metadump_reply(server: &Server, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut s = server.connect();
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        s.write_all(format!("lru_crawler metadump {what}\r\n").as_bytes())
            .expect("write");
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0, "closed mid-dump");
            out.extend_from_slice(&buf[..n]);
            let refused = out.ends_with(b"\r\n") && !out.starts_with(b"key=");
            if out.ends_with(b"END\r\n") || refused {
                break;
            }
        }
        let text = String::from_utf8(out).expect("metadump is ASCII");
        if !text.starts_with("BUSY ") {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} stayed busy",
            server.implementation().name()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metadump(server: &Server, what: &str) -> Vec<String> {
    let text = metadump_reply(server, what);
    let mut lines: Vec<String> = text
        .strip_suffix("END\r\n")
        .unwrap_or_else(|| panic!("no END: {text:?}"))
        .split_terminator('\n')
        .map(comparable)
        .collect();
    lines.sort();
    lines
}

#[test]
fn metadump_class_ids_as_memcached() {
    let memcached = Server::memcached(&[]);
    let corvid = Server::corvid(&[]);
    for what in ["12", "63", "2,12", "x", "0", "64", "1,x", "-1", ""] {
        let want = metadump_reply(&memcached, what);
        assert_eq!(metadump_reply(&corvid, what), want, "metadump {what:?}");
    }
}

#[test]
fn metadump_lines_match_memcached() {
    let memcached = Server::memcached(&[]);
    let corvid = Server::corvid(&[]);
    fill(&memcached);
    fill(&corvid);
    for what in ["all", "hash", "1"] {
        let want = metadump(&memcached, what);
        assert_eq!(want.len(), 6, "{want:?}");
        assert_eq!(metadump(&corvid, what), want, "metadump {what}");
    }
}

fn tool(server: &Server, args: &[&str]) -> String {
    assert!(
        Path::new(TOOL).exists(),
        "{TOOL} is missing: Debian's memcached package ships it (./scripts/test installs it)"
    );
    // memcached-tool waits for END forever if memcached's crawler is busy on its own:
    // wait until a dump goes through first, and never wait for the tool unbounded.
    if args == ["dump"] || args == ["keys"] {
        metadump_reply(server, "all");
    }
    let mut child = Command::new("perl")
        .arg(TOOL)
        .arg(format!("127.0.0.1:{}", server.port()))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run memcached-tool");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "memcached-tool {args:?} hung against {}",
                server.implementation().name()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("memcached-tool output");
    assert!(
        out.status.success(),
        "memcached-tool {args:?} against {}: {}",
        server.implementation().name(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// memcached-tool's `dump` prints `add <key> <flags> <exp> <bytes>` and the value for
/// each key; in the order the dump walked, so compared sorted, with exp as above.
fn dump_entries(text: &str) -> Vec<String> {
    let mut entries: Vec<String> = text
        .split("add ")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut fields: Vec<&str> = e.split(' ').collect();
            if fields.len() > 2 && fields[2] != "0" {
                fields[2] = "T";
            }
            fields.join(" ")
        })
        .collect();
    entries.sort();
    entries
}

#[test]
fn memcached_tool_works_against_corvid_as_against_memcached() {
    let memcached = Server::memcached(&[]);
    let corvid = Server::corvid(&[]);
    fill(&memcached);
    fill(&corvid);

    let want = dump_entries(&tool(&memcached, &["dump"]));
    assert_eq!(want.len(), 6, "{want:?}");
    assert_eq!(dump_entries(&tool(&corvid, &["dump"])), want);

    let keys = tool(&corvid, &["keys"]);
    assert_eq!(keys.lines().count(), 6, "{keys}");

    let stats = tool(&corvid, &["stats"]);
    for want in ["curr_items", "cmd_get", "get_hits"] {
        let line = stats
            .lines()
            .find(|l| l.split_whitespace().next() == Some(want));
        assert!(line.is_some(), "no {want} in:\n{stats}");
    }
    assert!(stats
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["curr_items", "6"]));

    let settings = tool(&corvid, &["settings"]);
    for want in ["maxconns", "item_size_max", "cas_enabled"] {
        assert!(
            settings
                .lines()
                .any(|l| l.split_whitespace().next() == Some(want)),
            "no {want} in:\n{settings}"
        );
    }

    // display prints a row per slab class; Corvid has one, class 1, and so has memcached
    // for these six small items. The row's columns are the same but the item size
    // (Corvid's mean item, memcached's chunk), the tail's age (Corvid keeps none) and the
    // pages (Corvid's segments: one per expiry bucket in use, here 2 or 3).
    let row = |server: &Server| -> Vec<String> {
        let display = tool(server, &["display"]);
        let mut lines = display.lines();
        assert!(
            lines.next().is_some_and(|h| h.contains("Item_Size")),
            "{display}"
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 1, "{display}");
        let mut fields: Vec<String> = rows[0].split_whitespace().map(String::from).collect();
        assert_eq!(fields.len(), 9, "{display}");
        fields[1] = "SIZE".into();
        fields[2] = "AGE".into();
        let pages: u64 = fields[3].parse().expect("pages");
        assert!((1..=3).contains(&pages), "{display}");
        fields[3] = "PAGES".into();
        fields
    };
    let want = row(&memcached);
    assert_eq!(
        want,
        ["1", "SIZE", "AGE", "PAGES", "6", "no", "0", "0", "0"]
    );
    assert_eq!(row(&corvid), want);
}

/// `stats items` and `stats slabs` names, in order, values dropped.
fn stat_names(server: &Server, group: &str) -> Vec<String> {
    let mut c = TextClient::connect(server);
    c.send(format!("stats {group}\r\n").as_bytes());
    let mut names = Vec::new();
    loop {
        let line = c.line();
        if line == "END" {
            return names;
        }
        let name = line.split(' ').nth(1).expect("STAT name value");
        names.push(name.to_string());
    }
}

#[test]
fn per_class_stats_are_memcached_s_for_one_slab_class() {
    let memcached = Server::memcached(&[]);
    let corvid = Server::corvid(&[]);
    fill(&memcached);
    fill(&corvid);
    for group in ["items", "slabs"] {
        let want = stat_names(&memcached, group);
        assert!(want
            .iter()
            .any(|n| n.starts_with("items:1:") || n.starts_with("1:")));
        assert_eq!(stat_names(&corvid, group), want, "stats {group}");
    }
}

#[test]
fn a_dump_to_a_client_that_does_not_read_holds_up_no_one() {
    // One worker, so the dumping connection and the other share it.
    let corvid = Server::corvid(&["-t", "1"]);
    let keys = 150_000;
    let mut c = TextClient::connect(&corvid);
    let mut batch = Vec::new();
    for i in 0..keys {
        batch.extend_from_slice(format!("set key{i:06} 0 0 1 noreply\r\nx\r\n").as_bytes());
        if batch.len() > 60_000 {
            c.send(&batch);
            batch.clear();
        }
    }
    c.send(&batch);
    c.send(b"version\r\n");
    assert!(c.line().starts_with("VERSION"));

    let mut dumper = corvid.connect();
    dumper
        .write_all(b"lru_crawler metadump all\r\n")
        .expect("write");
    // The dump (about 10 MB) is more than the socket buffers and the output watermark
    // hold: it pauses until the dumper reads. Meanwhile the worker answers others.
    std::thread::sleep(Duration::from_millis(300));
    let mut other = TextClient::connect(&corvid);
    for _ in 0..20 {
        let start = Instant::now();
        other.send(b"get key000001\r\n");
        assert_eq!(other.line(), "VALUE key000001 0 1");
        assert_eq!(other.line(), "x");
        assert_eq!(other.line(), "END");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a get waited {:?} behind a dump",
            start.elapsed()
        );
    }

    dumper
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while !out.ends_with(b"END\r\n") {
        let n = dumper.read(&mut buf).expect("read the dump");
        assert!(n > 0, "closed mid-dump");
        out.extend_from_slice(&buf[..n]);
    }
    let lines = out
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"key="))
        .count();
    assert_eq!(lines, keys);
    // And the connection serves again afterwards.
    dumper.write_all(b"version\r\n").expect("write");
    let n = dumper.read(&mut buf).expect("read");
    assert!(buf[..n].starts_with(b"VERSION "));
}

#[test]
fn cachedump_lists_items_in_memcached_format() {
    let corvid = Server::corvid(&[]);
    fill(&corvid);
    let mut c = TextClient::connect(&corvid);
    c.send(b"stats cachedump 1 0\r\n");
    let mut lines = Vec::new();
    loop {
        let line = c.line();
        if line == "END" {
            break;
        }
        lines.push(line);
    }
    lines.sort();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(
        lines.contains(&"ITEM plain [1 b; 0 s]".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"ITEM b%20c [3 b; 0 s]".to_string()),
        "{lines:?}"
    );
    let expiring = lines.iter().find(|l| l.starts_with("ITEM expiring [4 b; "));
    let at: u64 = expiring
        .and_then(|l| l.split("; ").nth(1)?.strip_suffix(" s]")?.parse().ok())
        .expect("an expiry time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(at.abs_diff(now + 1000) < 60, "{at} vs {now}");
    c.send(b"stats cachedump 1 2\r\n");
    assert!(c.line().starts_with("ITEM "));
    assert!(c.line().starts_with("ITEM "));
    assert_eq!(c.line(), "END");
}
