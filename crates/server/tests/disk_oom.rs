//! Read buffers are bounded (`ext_read_mem`): with room for two values in flight and
//! many connections asking for values on disk at once, reads past the budget are
//! answered as misses and counted in `get_oom_extstore`, as memcached answers when it
//! cannot allocate a read buffer; every reply stays well formed, no value is lost or
//! unlinked, no buffer leaks, and the server keeps serving.

mod disk_support;

use disk::MIB;
use disk_support::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;

/// Values of 900 KB: each read takes a 1 MiB buffer, so a 2 MiB budget holds two.
const LEN: usize = 900_000;
const KEYS: usize = 8;

fn key(i: usize) -> String {
    format!("big{i}")
}

/// Reads one CRLF-terminated line.
fn line(s: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut b).unwrap();
        line.push(b[0]);
    }
    line
}

fn value_is(s: &mut TcpStream, want: &[u8], what: &str) {
    let mut got = vec![0u8; want.len() + 2];
    s.read_exact(&mut got).unwrap();
    assert!(got[..want.len()] == *want, "{what}: wrong value bytes");
    assert_eq!(
        &got[want.len()..],
        b"\r\n",
        "{what}: value not CRLF-terminated"
    );
}

/// Reads the reply to `get k...`: each key either served byte-exact or left out (a
/// miss), in request order, then `END`. Returns (hits, misses).
fn text_get_reply(s: &mut TcpStream, keys: &[usize]) -> (u64, u64) {
    let mut hits = 0;
    let mut next = 0;
    loop {
        let l = line(s);
        if l == b"END\r\n" {
            return (hits, keys.len() as u64 - hits);
        }
        let text = String::from_utf8(l).unwrap();
        let parts: Vec<&str> = text.trim_end().split(' ').collect();
        assert_eq!(parts.len(), 4, "bad header {text:?}");
        assert_eq!(
            (parts[0], parts[2], parts[3]),
            ("VALUE", "5", "900000"),
            "{text:?}"
        );
        let at = keys[next..]
            .iter()
            .position(|&k| key(k) == parts[1])
            .unwrap_or_else(|| panic!("{} out of order or not asked", parts[1]));
        next += at + 1;
        hits += 1;
        let k = &key(keys[next - 1]);
        value_is(s, &value(k, LEN), k);
    }
}

/// `mg k v f`: `VA 900000 f5` and the value, or `EN`. Returns true on a hit.
fn meta_get_reply(s: &mut TcpStream, k: usize) -> bool {
    let l = line(s);
    if l == b"EN\r\n" {
        return false;
    }
    assert_eq!(l, b"VA 900000 f5\r\n", "{}", String::from_utf8_lossy(&l));
    value_is(s, &value(&key(k), LEN), &key(k));
    true
}

fn binary_get(k: usize) -> Vec<u8> {
    let key = key(k).into_bytes();
    let mut h = vec![0u8; 24];
    h[0] = 0x80;
    h[1] = 0x00; // GET
    h[2..4].copy_from_slice(&(key.len() as u16).to_be_bytes());
    h[8..12].copy_from_slice(&(key.len() as u32).to_be_bytes());
    h[12..16].copy_from_slice(&(k as u32).to_be_bytes());
    h.extend_from_slice(&key);
    h
}

/// A binary GET's response: success with flags 5 and the value, or not found.
fn binary_get_reply(s: &mut TcpStream, k: usize) -> bool {
    let mut h = [0u8; 24];
    s.read_exact(&mut h).unwrap();
    assert_eq!((h[0], h[1]), (0x81, 0x00));
    assert_eq!(&h[12..16], &(k as u32).to_be_bytes(), "opaque");
    let body = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
    let mut b = vec![0u8; body];
    s.read_exact(&mut b).unwrap();
    match u16::from_be_bytes([h[6], h[7]]) {
        0 => {
            assert_eq!(h[4], 4, "extras");
            assert_eq!(&b[..4], &5u32.to_be_bytes());
            assert!(b[4..] == value(&key(k), LEN)[..], "binary value bytes");
            true
        }
        1 => {
            assert_eq!(&b, b"Not found");
            false
        }
        other => panic!("binary status {other}"),
    }
}

/// One client: `rounds` requests mixing a text multi-get, `mg` and binary GET (on a
/// connection of its own), checking every reply. Returns (hits, misses).
fn client(addr: SocketAddr, seed: usize, rounds: usize) -> (u64, u64) {
    let mut text = connect(addr);
    let mut bin = connect(addr);
    let (mut hits, mut misses) = (0, 0);
    for r in 0..rounds {
        let a = (seed * 7 + r * 3) % KEYS;
        let b = (a + 1 + r % (KEYS - 1)) % KEYS;
        let (h, m) = match r % 3 {
            0 => {
                let keys = [a, b];
                text.write_all(format!("get {} {}\r\n", key(a), key(b)).as_bytes())
                    .unwrap();
                text_get_reply(&mut text, &keys)
            }
            1 => {
                text.write_all(format!("mg {} v f\r\n", key(a)).as_bytes())
                    .unwrap();
                let hit = meta_get_reply(&mut text, a);
                (u64::from(hit), u64::from(!hit))
            }
            _ => {
                bin.write_all(&binary_get(a)).unwrap();
                let hit = binary_get_reply(&mut bin, a);
                (u64::from(hit), u64::from(!hit))
            }
        };
        hits += h;
        misses += m;
    }
    (hits, misses)
}

#[test]
fn reads_past_the_read_budget_are_misses_counted_as_oom() {
    let r = start_with(|c| {
        c.ext.disk.read_mem = 2 * MIB;
        // No value comes back to RAM: all stay on disk, for the check at the end.
        c.ext.recache_rate = 0;
    });
    let mut s = connect(r.addr);
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_on_disk(&r, &mut s, &refs, LEN);
    assert_eq!(stat(r.addr, "get_oom_extstore"), 0);

    // Clients at once, until some reads were refused (two buffers for 6 clients asking
    // pairs of values and one pipelining without reading: at once, in practice).
    let (mut hits, mut misses) = (0, 0);
    for _storm in 0..5 {
        let mut pipelined = connect(r.addr);
        let lines = 3;
        for i in 0..lines {
            let (a, b) = (i % KEYS, (i + 1) % KEYS);
            pipelined
                .write_all(format!("get {} {}\r\n", key(a), key(b)).as_bytes())
                .unwrap();
        }
        let clients: Vec<_> = (0..6)
            .map(|seed| {
                let addr = r.addr;
                thread::spawn(move || client(addr, seed, 12))
            })
            .collect();
        for c in clients {
            let (h, m) = c.join().unwrap();
            hits += h;
            misses += m;
        }
        for i in 0..lines {
            let (h, m) = text_get_reply(&mut pipelined, &[i % KEYS, (i + 1) % KEYS]);
            hits += h;
            misses += m;
        }
        if misses > 0 {
            break;
        }
    }
    eprintln!("{hits} hits, {misses} refused");
    assert!(hits > 0, "some reads got a buffer");
    assert!(misses > 0, "some reads were refused");
    assert_eq!(
        stat(r.addr, "get_oom_extstore"),
        misses,
        "every miss was a refused read, counted once"
    );
    assert_eq!(stat(r.addr, "miss_from_extstore"), 0);

    // Nothing was lost: every value is still on disk, and both buffers are back: a
    // multi-get needing the whole budget at once is served in full, pair after pair.
    settles(r.store);
    for k in &refs {
        assert!(on_disk(r.store, k), "{k} was unlinked");
    }
    let oom = stat(r.addr, "get_oom_extstore");
    for i in (0..KEYS).step_by(2) {
        s.write_all(format!("get {} {}\r\n", key(i), key(i + 1)).as_bytes())
            .unwrap();
        assert_eq!(text_get_reply(&mut s, &[i, i + 1]), (2, 0), "pair {i}");
    }
    assert_eq!(stat(r.addr, "get_oom_extstore"), oom);
    // And RAM keeps serving.
    set(&mut s, "small", 5, b"still here");
    get_is(&mut s, "small", b"still here");
}
