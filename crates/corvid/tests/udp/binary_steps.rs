//! The binary requests over UDP that memcached and corvid must answer datagram for
//! datagram alike, and the frame builders they are made with.

// Binary request opcodes (memcached's `protocol_binary.h`).
use protocol::binary::opcode as op;

use crate::differential::{step, Step};
/// A binary request header with the lengths given, true or not.
fn bin_header(opcode: u8, key_len: u16, extras_len: u8, body_len: u32) -> Vec<u8> {
    let mut h = vec![0x80, opcode];
    h.extend_from_slice(&key_len.to_be_bytes());
    h.extend_from_slice(&[extras_len, 0, 0, 0]);
    h.extend_from_slice(&body_len.to_be_bytes());
    h.extend_from_slice(&[0; 12]);
    h
}

/// A binary request: its header (true lengths, opaque and CAS 0), extras, key, value.
pub(crate) fn bin(opcode: u8, extras: &[u8], key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = extras.len() + key.len() + value.len();
    let mut f = bin_header(opcode, key.len() as u16, extras.len() as u8, body as u32);
    f.extend_from_slice(extras);
    f.extend_from_slice(key);
    f.extend_from_slice(value);
    f
}

/// `frame` with its opaque and CAS set.
pub(crate) fn tagged(mut frame: Vec<u8>, opaque: u32, cas: u64) -> Vec<u8> {
    frame[12..16].copy_from_slice(&opaque.to_be_bytes());
    frame[16..24].copy_from_slice(&cas.to_be_bytes());
    frame
}

pub(crate) fn get(key: &[u8]) -> Vec<u8> {
    bin(op::GET, b"", key, b"")
}

pub(crate) fn getq(key: &[u8]) -> Vec<u8> {
    bin(op::GETQ, b"", key, b"")
}

pub(crate) fn noop() -> Vec<u8> {
    bin(op::NOOP, b"", b"", b"")
}

/// SET extras: flags 5, no expiry.
pub(crate) const SET_EXTRAS: [u8; 8] = [0, 0, 0, 5, 0, 0, 0, 0];

/// INCREMENT/DECREMENT extras: delta, initial value, expiry.
fn delta_extras(delta: u64, initial: u64, expiry: u32) -> Vec<u8> {
    let mut e = delta.to_be_bytes().to_vec();
    e.extend_from_slice(&initial.to_be_bytes());
    e.extend_from_slice(&expiry.to_be_bytes());
    e
}

/// Binary requests over UDP that both servers must answer identically, in order. `k`
/// holds "hello" (flags 5) from the first step on; `zz` never exists. What makes
/// memcached's connection state stick (a fatal error, QUIT) comes last.
pub(crate) fn binary_steps() -> Vec<Step> {
    let cat = |frames: &[Vec<u8>]| frames.concat();
    let ttl = 100u32.to_be_bytes();
    let set_k = tagged(bin(op::SET, &SET_EXTRAS, b"k", b"hello"), 0x11, 0);
    vec![
        step("SET: answered, with its CAS", 200, &set_k),
        step(
            "GET hit: flags, value, opaque",
            201,
            &tagged(get(b"k"), 0x22, 0),
        ),
        step("GET miss: Not found", 202, &tagged(get(b"zz"), 0x33, 0)),
        step("GETK hit", 203, &bin(op::GETK, b"", b"k", b"")),
        step(
            "GETK miss: the key, no message",
            204,
            &bin(op::GETK, b"", b"zz", b""),
        ),
        step("GETQ miss alone: a bare header", 205, &getq(b"zz")),
        step("GETQ hit", 206, &getq(b"k")),
        step("NOOP", 207, &noop()),
        step(
            "SETQ alone: a bare header",
            208,
            &bin(op::SETQ, &SET_EXTRAS, b"q", b"v"),
        ),
        step("VERSION", 209, &bin(op::VERSION, b"", b"", b"")),
        step(
            "SET a 10 KiB value",
            210,
            &bin(op::SET, &SET_EXTRAS, b"big", &[b'x'; 10240]),
        ),
        step("GET a 10 KiB value: 8 datagrams", 211, &get(b"big")),
        step(
            "SET a 60000-byte value",
            212,
            &bin(op::SET, &SET_EXTRAS, b"huge", &[b'y'; 60000]),
        ),
        step("GET a 60000-byte value: 44 datagrams", 213, &get(b"huge")),
        step(
            "three GETs in one datagram: three response objects",
            214,
            &cat(&[get(b"k"), get(b"zz"), get(b"big")]),
        ),
        step(
            "a quiet multi-get: GETKQ hit, GETKQ miss, NOOP",
            215,
            &cat(&[
                bin(op::GETKQ, b"", b"k", b""),
                bin(op::GETKQ, b"", b"zz", b""),
                noop(),
            ]),
        ),
        step(
            "GETQ miss, GETQ hit, NOOP: the first empty response is a bare header",
            216,
            &cat(&[getq(b"zz"), getq(b"k"), noop()]),
        ),
        step(
            "two GETQ misses, NOOP: the second empty response is retired",
            217,
            &cat(&[getq(b"zz"), getq(b"zz"), noop()]),
        ),
        step(
            "hit, GETQ miss, hit: the empty response behind a sent one is retired",
            218,
            &cat(&[get(b"k"), getq(b"zz"), get(b"k")]),
        ),
        step(
            "miss, GETQ miss, hit: an error is written out at once",
            219,
            &cat(&[get(b"zz"), getq(b"zz"), get(b"k")]),
        ),
        step(
            "GETQ miss, miss, GETQ miss, hit",
            220,
            &cat(&[getq(b"zz"), get(b"zz"), getq(b"zz"), get(b"k")]),
        ),
        step(
            "hit, NOOP, two GETQ misses: NOOP writes out",
            221,
            &cat(&[get(b"k"), noop(), getq(b"zz"), getq(b"zz")]),
        ),
        step(
            "SETQ, GETQ hit, NOOP",
            222,
            &cat(&[bin(op::SETQ, &SET_EXTRAS, b"q", b"w"), getq(b"q"), noop()]),
        ),
        step(
            "ADDQ over a live key: errors are never quiet",
            223,
            &cat(&[bin(op::ADDQ, &SET_EXTRAS, b"k", b"v"), get(b"k")]),
        ),
        step(
            "ADD over a live key, GETQ miss, hit",
            224,
            &cat(&[
                bin(op::ADD, &SET_EXTRAS, b"k", b"v"),
                getq(b"zz"),
                get(b"k"),
            ]),
        ),
        step(
            "INCR creating, INCR, DECR to 0, DELETE, DELETE miss",
            225,
            &cat(&[
                bin(op::INCREMENT, &delta_extras(1, 10, 0), b"n", b""),
                bin(op::INCREMENT, &delta_extras(5, 10, 0), b"n", b""),
                bin(op::DECREMENT, &delta_extras(100, 10, 0), b"n", b""),
                bin(op::DELETE, b"", b"n", b""),
                bin(op::DELETE, b"", b"n", b""),
            ]),
        ),
        step(
            "INCR of a missing key that may not be created, GETQ miss, hit",
            226,
            &cat(&[
                bin(op::INCREMENT, &delta_extras(1, 10, u32::MAX), b"zz", b""),
                getq(b"zz"),
                get(b"k"),
            ]),
        ),
        step(
            "INCR of a non-number, GETQ miss, hit",
            227,
            &cat(&[
                bin(op::INCREMENT, &delta_extras(1, 10, 0), b"k", b""),
                getq(b"zz"),
                get(b"k"),
            ]),
        ),
        step(
            "APPEND, PREPEND, GETK, APPEND to a missing key",
            228,
            &cat(&[
                bin(op::APPEND, b"", b"k", b"+"),
                bin(op::PREPEND, b"", b"k", b"-"),
                bin(op::GETK, b"", b"k", b""),
                bin(op::APPEND, b"", b"zz", b"+"),
            ]),
        ),
        step(
            "APPEND with a wrong CAS: the error is written out",
            229,
            &cat(&[
                tagged(bin(op::APPEND, b"", b"k", b"+"), 0, 999),
                getq(b"zz"),
                get(b"k"),
            ]),
        ),
        step(
            "TOUCH, GAT, GATQ miss, GATK",
            230,
            &cat(&[
                bin(op::TOUCH, &ttl, b"k", b""),
                bin(op::GAT, &ttl, b"k", b""),
                bin(op::GATQ, &ttl, b"zz", b""),
                bin(op::GATK, &ttl, b"k", b""),
            ]),
        ),
        step(
            "GAT and TOUCH misses are errors, written out",
            231,
            &cat(&[
                bin(op::GAT, &ttl, b"zz", b""),
                getq(b"zz"),
                bin(op::TOUCH, &ttl, b"zz", b""),
                getq(b"zz"),
                get(b"k"),
            ]),
        ),
        step(
            "GETK and GATK misses are not errors: not written out",
            232,
            &cat(&[
                bin(op::GETK, b"", b"zz", b""),
                getq(b"zz"),
                bin(op::GATK, &ttl, b"zz", b""),
                getq(b"zz"),
                get(b"k"),
            ]),
        ),
        step(
            "DELETE miss, GETQ miss, hit",
            233,
            &cat(&[bin(op::DELETE, b"", b"zz", b""), getq(b"zz"), get(b"k")]),
        ),
        step(
            "STAT sizes, GETQ miss, hit: STAT does not write out",
            234,
            &cat(&[bin(op::STAT, b"", b"sizes", b""), getq(b"zz"), get(b"k")]),
        ),
        step(
            "STAT of an unknown group",
            235,
            &bin(op::STAT, b"", b"bogus", b""),
        ),
        step(
            "an unknown opcode, GETQ miss, hit: written out",
            236,
            &cat(&[bin(0x50, b"", b"", b""), getq(b"zz"), get(b"k")]),
        ),
        step(
            "an unknown opcode with a body: swallowed before anything is written out",
            237,
            &cat(&[bin(0x50, b"", b"", b"xyz"), getq(b"zz"), get(b"k")]),
        ),
        step(
            "an unknown opcode with a key: its body is swallowed again, eating the next header",
            238,
            &cat(&[bin(0x50, b"", b"ab", b"xyz"), get(b"k")]),
        ),
        step(
            "SASL mechanisms (no SASL here), GETQ miss, hit",
            239,
            &cat(&[
                bin(op::SASL_LIST_MECHS, b"", b"", b""),
                getq(b"zz"),
                get(b"k"),
            ]),
        ),
        step(
            "SASL auth with data, GETQ miss, hit",
            240,
            &cat(&[
                bin(op::SASL_AUTH, b"", b"PLAIN", b"abc"),
                getq(b"zz"),
                get(b"k"),
            ]),
        ),
        step(
            "-R: 21 GETQ misses, NOOP: memcached yields after the 21st request",
            241,
            &cat(&[getq(b"zz").repeat(21), noop()]),
        ),
        step(
            "-R: 20 GETQ misses, NOOP: no yield before NOOP",
            242,
            &cat(&[getq(b"zz").repeat(20), noop()]),
        ),
        step(
            "-R: 45 GETQ misses, NOOP: yields after the 21st and 41st",
            243,
            &cat(&[getq(b"zz").repeat(45), noop()]),
        ),
        step(
            "-R: miss, 21 GETQ misses, NOOP",
            244,
            &cat(&[get(b"zz"), getq(b"zz").repeat(21), noop()]),
        ),
        step("a binary header cut short: nothing", 245, &get(b"k")[..10]),
        step("23 bytes of NOOP: nothing", 246, &noop()[..23]),
        step(
            "a key cut short: nothing",
            247,
            &bin(op::GET, b"", b"abcdefghij", b"")[..27],
        ),
        step(
            "a hit, then a key cut short: the hit is answered",
            248,
            &cat(&[
                get(b"k"),
                bin(op::GET, b"", b"abcdefghij", b"")[..27].to_vec(),
            ]),
        ),
        step(
            "a 300-byte key cut short: not judged, nothing",
            249,
            &bin(op::GET, b"", &[b'a'; 300], b"")[..34],
        ),
        step(
            "a hit, then a header claiming a 65535-byte key",
            250,
            &cat(&[
                get(b"k"),
                bin_header(op::GET, 65535, 0, 65535),
                b"a".to_vec(),
            ]),
        ),
        step(
            "a hit, then a header claiming 255 bytes of extras",
            251,
            &cat(&[get(b"k"), bin_header(op::GET, 1, 255, 256), b"k".to_vec()]),
        ),
        step(
            "a key longer than the body, not all there: nothing",
            252,
            &cat(&[bin_header(op::GET, 5, 0, 1), b"k".to_vec()]),
        ),
        step(
            "a first byte 0x81 is text: ERROR for its line",
            253,
            &cat(&[vec![0x81], noop()[1..].to_vec()]),
        ),
        step(
            "binary, then text: the text is read as a binary header cut short",
            254,
            &cat(&[get(b"k"), b"version\r\n".to_vec()]),
        ),
        step(
            "text, then binary: the binary frame is read as a line",
            255,
            &cat(&[b"version\r\n".to_vec(), get(b"k")]),
        ),
        step(
            "text, then a binary NOOP: its opcode is a newline",
            256,
            &cat(&[b"version\r\n".to_vec(), noop()]),
        ),
        step(
            "FLUSH, then GET",
            257,
            &cat(&[bin(op::FLUSH, b"", b"", b""), get(b"k")]),
        ),
        step(
            "SET again, FLUSHQ, GETQ miss, GET miss",
            258,
            &cat(&[
                set_k.clone(),
                bin(op::FLUSHQ, b"", b"", b""),
                getq(b"zz"),
                get(b"k"),
            ]),
        ),
        step("SET again", 259, &set_k),
        // These leave memcached's connection closing after its next write-out, for good.
        step(
            "a hit, then a wrong magic: every reply of the datagram is dropped",
            260,
            &cat(&[get(b"k"), vec![0x81], noop()[1..].to_vec()]),
        ),
        step(
            "extras on a GET: Invalid arguments, and the rest is not read",
            261,
            &cat(&[getq(b"zz"), bin(op::GET, b"abcd", b"k", b""), get(b"k")]),
        ),
        step(
            "a hit, then a body too long for a GET",
            262,
            &cat(&[
                get(b"k"),
                bin_header(op::GET, 1, 0, 100),
                b"k".to_vec(),
                get(b"k"),
            ]),
        ),
        step(
            "a key longer than the body, all there: Unknown command, and the rest is not read",
            263,
            &cat(&[bin_header(op::GET, 5, 0, 1), b"kkkkk".to_vec(), get(b"k")]),
        ),
        step(
            "a 300-byte key, all there: Invalid arguments",
            264,
            &cat(&[bin(op::GET, b"", &[b'a'; 300], b""), get(b"k")]),
        ),
        step(
            "NOOP with a body: Invalid arguments",
            265,
            &cat(&[bin(op::NOOP, b"", b"", b"x"), get(b"k")]),
        ),
        step(
            "QUIT, then GET: not read",
            266,
            &cat(&[bin(op::QUIT, b"", b"", b""), get(b"k")]),
        ),
        step(
            "GET, then QUIT",
            267,
            &cat(&[get(b"k"), bin(op::QUIT, b"", b"", b"")]),
        ),
        step(
            "QUITQ alone: a bare header",
            268,
            &bin(op::QUITQ, b"", b"", b""),
        ),
        step(
            "hit, QUITQ: its empty response is retired",
            269,
            &cat(&[get(b"k"), bin(op::QUITQ, b"", b"", b"")]),
        ),
        step(
            "QUITQ, then GET: a bare header",
            270,
            &cat(&[bin(op::QUITQ, b"", b"", b""), get(b"k")]),
        ),
    ]
}
