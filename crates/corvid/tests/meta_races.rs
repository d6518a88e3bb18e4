//! The cache-aside races the meta protocol exists to solve, with clients really racing:
//! many connections miss one key at once (exactly one wins the right to fill it, the
//! others are told a winner is out), an invalidated item is served stale to everyone
//! with exactly one winner, and a CAS-guarded write after invalidation. Each runs against
//! memcached 1.6.18 too, so the test itself is checked.
//!
//! Also the meta features Corvid takes from protocol.txt where memcached 1.6.18 differs
//! (docs/protocol-meta.md), and `me`'s line; those run against corvid only.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;

use support::text::TextClient;
use support::Server;

const RACERS: usize = 8;

/// One reply line split into its status and flags.
fn words(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_string).collect()
}

/// Sends `request` from `RACERS` connections released together; returns each reply's
/// first line (a `VA` reply's value line is read and dropped).
fn race(server: &Server, request: &str) -> Vec<String> {
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut clients: Vec<TextClient> = (0..RACERS).map(|_| TextClient::connect(server)).collect();
    // A round trip each first, so every connection is set up before the race.
    for c in &mut clients {
        c.send(b"mn\r\n");
        assert_eq!(c.line(), "MN");
    }
    let handles: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let barrier = Arc::clone(&barrier);
            let request = request.to_string();
            thread::spawn(move || {
                barrier.wait();
                c.send(request.as_bytes());
                let line = c.line();
                if line.starts_with("VA ") {
                    c.line();
                }
                line
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("racer panicked"))
        .collect()
}

fn count_flag(replies: &[String], flag: &str) -> usize {
    replies
        .iter()
        .filter(|r| words(r).iter().any(|w| w == flag))
        .count()
}

fn one_winner_on_a_concurrent_miss(server: Server) {
    let name = server.implementation().name();
    let replies = race(&server, "mg page N30 v c\r\n");
    assert_eq!(count_flag(&replies, "W"), 1, "{name}: {replies:?}");
    assert_eq!(count_flag(&replies, "Z"), RACERS - 1, "{name}: {replies:?}");
    // Everyone saw the same empty placeholder.
    let cas: Vec<&str> = replies.iter().filter_map(|r| r.split(' ').nth(2)).collect();
    assert!(cas.windows(2).all(|w| w[0] == w[1]), "{name}: {replies:?}");
    // The winner fills it with the CAS it was handed; then nobody is told to wait.
    let mut c = TextClient::connect(&server);
    c.send(format!("ms page 4 {}\r\nhtml\r\n", cas[0].replacen('c', "C", 1)).as_bytes());
    assert_eq!(c.line(), "HD", "{name}");
    let replies = race(&server, "mg page N30 v\r\n");
    assert!(replies.iter().all(|r| r == "VA 4"), "{name}: {replies:?}");
}

#[test]
fn corvid_hands_out_one_win_token_on_a_concurrent_miss() {
    one_winner_on_a_concurrent_miss(Server::corvid(&[]));
}

#[test]
fn memcached_hands_out_one_win_token_on_a_concurrent_miss() {
    support::memcached_binary();
    one_winner_on_a_concurrent_miss(Server::memcached(&[]));
}

fn stale_while_revalidate(server: Server) {
    let name = server.implementation().name();
    let mut c = TextClient::connect(&server);
    c.send(b"ms page 3 c\r\nold\r\n");
    let stored = c.line();
    let old_cas = words(&stored)[1].replacen('c', "C", 1);
    c.send(b"md page I T30\r\n");
    assert_eq!(c.line(), "HD", "{name}");
    let replies = race(&server, "mg page v c\r\n");
    assert_eq!(count_flag(&replies, "X"), RACERS, "{name}: {replies:?}");
    assert_eq!(count_flag(&replies, "W"), 1, "{name}: {replies:?}");
    assert_eq!(count_flag(&replies, "Z"), RACERS - 1, "{name}: {replies:?}");
    let winner = replies
        .iter()
        .find(|r| r.ends_with(" W"))
        .expect("a winner");
    let new_cas = words(winner)[2].replacen('c', "C", 1);
    assert_ne!(new_cas, old_cas, "{name}: invalidation bumps the CAS");
    // A writer still holding the pre-invalidation CAS loses...
    c.send(format!("ms page 3 {old_cas}\r\nbad\r\n").as_bytes());
    assert_eq!(c.line(), "EX", "{name}");
    // ...unless it says I: then its value is kept, but stays stale, token still out.
    c.send(format!("ms page 4 I {old_cas}\r\nlate\r\nmg page v\r\n").as_bytes());
    assert_eq!(c.line(), "HD", "{name}");
    assert_eq!(c.line(), "VA 4 Z X", "{name}");
    assert_eq!(c.line(), "late", "{name}");
    // The winner's CAS is stale now too; it reads again and stores fresh data.
    c.send(format!("ms page 5 {new_cas}\r\nfresh\r\n").as_bytes());
    assert_eq!(c.line(), "EX", "{name}");
    c.send(b"mg page c\r\n");
    let current = words(&c.line())[1].replacen('c', "C", 1);
    c.send(format!("ms page 5 {current}\r\nfresh\r\nmg page v\r\n").as_bytes());
    assert_eq!(c.line(), "HD", "{name}");
    assert_eq!(c.line(), "VA 5", "{name}: no X, no W, no Z once fresh");
    assert_eq!(c.line(), "fresh", "{name}");
}

#[test]
fn corvid_serves_an_invalidated_item_stale_with_one_winner() {
    stale_while_revalidate(Server::corvid(&[]));
}

#[test]
fn memcached_serves_an_invalidated_item_stale_with_one_winner() {
    support::memcached_binary();
    stale_while_revalidate(Server::memcached(&[]));
}

fn early_recache(server: Server) {
    let name = server.implementation().name();
    let mut c = TextClient::connect(&server);
    c.send(b"ms hot 1 T60\r\nh\r\n");
    assert_eq!(c.line(), "HD", "{name}");
    let replies = race(&server, "mg hot R120 v\r\n");
    assert_eq!(count_flag(&replies, "W"), 1, "{name}: {replies:?}");
    assert_eq!(count_flag(&replies, "Z"), RACERS - 1, "{name}: {replies:?}");
    let replies = race(&server, "mg hot R30 v\r\n");
    assert_eq!(count_flag(&replies, "W"), 0, "{name}: {replies:?}");
}

#[test]
fn corvid_hands_out_one_early_recache_token() {
    early_recache(Server::corvid(&[]));
}

#[test]
fn memcached_hands_out_one_early_recache_token() {
    support::memcached_binary();
    early_recache(Server::memcached(&[]));
}

/// What Corvid takes from protocol.txt where memcached 1.6.18 answers `invalid flag` or
/// ignores the flag (docs/protocol-meta.md lists each).
#[test]
fn corvid_serves_protocol_txt_flags_that_1_6_18_lacks() {
    let server = Server::corvid(&[]);
    let mut c = TextClient::connect(&server);
    let mut ask = |request: &str, lines: usize| -> Vec<String> {
        c.send(request.as_bytes());
        (0..lines).map(|_| c.line()).collect()
    };
    // E: the client chooses the new CAS, on every command that makes one.
    assert_eq!(ask("ms e 1 E500 c\r\nx\r\n", 1), ["HD c500"]);
    assert_eq!(ask("mg e c\r\n", 1), ["HD c500"]);
    assert_eq!(ask("md e I E600\r\nmg e c\r\n", 2), ["HD", "HD c600 X W"]);
    assert_eq!(ask("mg viv N30 E700 c\r\n", 1), ["HD c700 W"]);
    assert_eq!(ask("ma n N0 J5 E800 c v\r\n", 2), ["VA 1 c800", "5"]);
    assert_eq!(ask("ma n E900 c\r\n", 1), ["HD c900"]);
    // ms s: the size of the stored value (after an append, the whole value).
    assert_eq!(ask("ms s 3 s\r\nabc\r\n", 1), ["HD s3"]);
    assert_eq!(ask("ms s 2 MA s\r\nde\r\n", 1), ["HD s5"]);
    // md x: the item stays, its value emptied; with I also stale.
    assert_eq!(ask("md s x\r\nmg s s v\r\n", 3), ["HD", "VA 0 s0", ""]);
    assert_eq!(ask("md s x I T30 q\r\nmg s t\r\n", 1), ["HD t30 X W"]);
    // ms N in append mode: a miss creates the item instead of NS.
    assert_eq!(
        ask("ms fresh 1 MA N30\r\na\r\nmg fresh v t\r\n", 3)[1..],
        ["VA 1 t30", "a"]
    );
    assert_eq!(
        ask("ms fresh 1 MA N30\r\nb\r\nmg fresh v\r\n", 3)[1..],
        ["VA 2", "ab"]
    );
    assert_eq!(ask("ms other 1 MP\r\nz\r\n", 1), ["NS"]);
}

#[test]
fn corvid_me_reports_memcacheds_debug_line() {
    let server = Server::corvid(&[]);
    let mut c = TextClient::connect(&server);
    c.send(b"ms foo 2 T0\r\nhi\r\nme foo\r\nmg foo v\r\nme foo\r\nme nope\r\n");
    assert_eq!(c.line(), "HD");
    let before = c.line();
    assert!(
        before.starts_with("ME foo exp=-1 la=") && before.ends_with(" fetch=no cls=1 size=64"),
        "{before}"
    );
    c.line();
    c.line();
    let after = c.line();
    assert!(after.contains(" fetch=yes cls=1 size=64"), "{after}");
    assert_eq!(c.line(), "EN");
    c.send(b"ms bar 1 T100\r\nx\r\nme YmFy b\r\n");
    assert_eq!(c.line(), "HD");
    let line = c.line();
    assert!(line.starts_with("ME bar exp=-"), "{line}");
    let exp: i64 = line
        .split(' ')
        .nth(2)
        .and_then(|e| e[4..].parse().ok())
        .expect("exp");
    assert!((-100..=-99).contains(&exp), "{line}");
    let stats = c.stats();
    assert_eq!(stats["cmd_meta"], "4");
}
