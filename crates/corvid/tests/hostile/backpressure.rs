//! Output a client makes the server queue: multi-gets built to amplify it are answered a
//! bounded part at a time, in order, and a client that never reads is held by
//! backpressure rather than by memory.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::attacker::send_all;
use crate::sentinel::Sentinel;
use crate::support::text::TextClient;
use crate::support::Stream;
use crate::watched::{Watched, RSS_SLACK_KIB};

/// A value of 4,000 bytes under key `a`, and a get line naming it over and over: composed
/// at once, each such line would be `count` * 4 KB of replies.
fn amplifying_line(count: usize) -> Vec<u8> {
    let mut line = b"get".to_vec();
    for _ in 0..count {
        line.extend_from_slice(b" a");
    }
    line.extend_from_slice(b"\r\n");
    line
}

#[test]
fn an_amplifying_multi_get_queues_bounded_output() {
    const KEYS: usize = 128 * 1024;
    let corvid = Watched::corvid(&[]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let mut c = TextClient::connect(&corvid.server);
    assert_eq!(c.set("a", &[b'v'; 4000]), "STORED");
    let before: u64 = c.stats()["cmd_get"].parse().expect("a number");
    let baseline = corvid.rss_kib();
    // Two clients ask for 512 MB each and read nothing.
    let line = amplifying_line(KEYS);
    let mut hogs: Vec<Stream> = (0..2).map(|_| corvid.server.connect()).collect();
    for h in &mut hogs {
        send_all(h, &line);
        // Once the first byte of the reply is here, the server is composing.
        h.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set a read timeout");
        let mut first = [0u8; 1];
        h.read_exact(&mut first).expect("the reply starts");
    }
    let mut peak = 0;
    for _ in 0..20 {
        peak = peak.max(corvid.rss_kib());
        std::thread::sleep(Duration::from_millis(25));
    }
    // Per client: its line (256 KB), about 1 MiB of queued output, and slack.
    assert!(
        peak <= baseline + 2 * 1536 + RSS_SLACK_KIB,
        "RSS {peak} KiB while two clients sit on 512 MB multi-gets, baseline {baseline} KiB"
    );
    sentinel.intact(&corvid.server, "an amplifying multi-get");
    // Leaving mid-reply still counts every key as memcached does (it composes whole).
    drop(hogs);
    corvid.connections_drop_to(&mut sentinel.client, 2);
    let after: u64 = c.stats()["cmd_get"].parse().expect("a number");
    assert!(
        after >= before + 2 * KEYS as u64,
        "cmd_get {before} -> {after} after two abandoned {KEYS}-key gets"
    );
    corvid.settles_to(baseline, "an amplifying multi-get");
}

#[test]
fn a_multi_get_paused_by_backpressure_answers_every_key_in_order() {
    let corvid = Watched::corvid(&[]);
    let mut c = TextClient::connect(&corvid.server);
    let value = |i: usize| -> Vec<u8> {
        let mut v = format!("{i}:").into_bytes();
        v.resize(3000 + i * 997 % 3000, b'0' + (i % 10) as u8);
        v
    };
    for i in 0..16 {
        assert_eq!(c.set(&format!("m{i}"), &value(i)), "STORED");
    }
    // 4,000 keys, some missing: several MiB of replies, paused and resumed many times.
    for command in ["get", "gets", "gat 0", "gats 0"] {
        let mut line = command.as_bytes().to_vec();
        let mut expected_keys = Vec::new();
        for k in 0..4000 {
            let i = k * 7 % 19;
            line.extend_from_slice(format!(" m{i}").as_bytes());
            if i < 16 {
                expected_keys.push(i);
            }
        }
        line.extend_from_slice(b"\r\nversion\r\n");
        c.send(&line);
        for &i in &expected_keys {
            let header = c.line();
            let prefix = format!("VALUE m{i} 0 {}", value(i).len());
            assert!(
                header.starts_with(&prefix),
                "{command}: {header:?}, expected {prefix}"
            );
            assert_eq!(c.line().as_bytes(), value(i), "{command}: value of m{i}");
        }
        assert_eq!(c.line(), "END", "{command}");
        assert!(c.line().starts_with("VERSION "), "{command}");
    }
}

#[test]
fn a_client_that_never_reads_is_held_by_backpressure() {
    let corvid = Watched::corvid(&[]);
    let mut sentinel = Sentinel::new(&corvid.server);
    let mut c = TextClient::connect(&corvid.server);
    assert_eq!(c.set("a", &[b'v'; 4000]), "STORED");
    let baseline = corvid.rss_kib();
    let mut s = corvid.server.connect();
    s.set_write_timeout(Some(Duration::from_millis(500)))
        .expect("set a write timeout");
    // Pipelined gets, never reading: the server stops reading once ~1 MiB of replies
    // wait, and then the socket buffers fill and our writes stall.
    let batch = b"get a\r\n".repeat(10_000);
    let mut sent = 0usize;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        match s.write(&batch) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let rss = corvid.rss_kib();
    assert!(
        rss <= baseline + 2048 + RSS_SLACK_KIB,
        "RSS {rss} KiB after {sent} bytes of unread gets, baseline {baseline} KiB"
    );
    sentinel.intact(&corvid.server, "a client that never reads");
    drop(s);
    corvid.connections_drop_to(&mut sentinel.client, 2);
    corvid.settles_to(baseline, "a client that never reads");
}
