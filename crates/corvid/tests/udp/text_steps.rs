//! The text requests over UDP that memcached and corvid must answer datagram for datagram
//! alike: retrievals split over many datagrams, several commands per datagram, -R yields,
//! storage and arithmetic, noreply, errors, bad frame headers, and `quit` last.

use crate::datagram::header;
use crate::differential::{raw, step, Step};
pub(crate) fn value_set(key: &str, len: usize, fill: u8) -> Vec<u8> {
    let mut p = format!("set {key} 0 0 {len}\r\n").into_bytes();
    p.extend(std::iter::repeat_n(fill, len));
    p.extend_from_slice(b"\r\n");
    p
}

/// Everything both servers must answer identically, in order.
pub(crate) fn steps() -> Vec<Step> {
    let long_key = format!("get {}\r\n", "a".repeat(251));
    let with_payload = |mut h: Vec<u8>, p: &[u8]| {
        h.extend_from_slice(p);
        h
    };
    vec![
        step("set a small value", 1, b"set small 5 0 3\r\nabc\r\n"),
        step("set a 10 KiB value", 2, &value_set("big", 10240, b'x')),
        step("set a 60000-byte value", 3, &value_set("huge", 60000, b'y')),
        step("get a small value", 4, b"get small\r\n"),
        step("get a 10 KiB value: 8 datagrams", 5, b"get big\r\n"),
        step("one response object per key", 6, b"get big small big\r\n"),
        step("get a 60000-byte value: 44 datagrams", 7, b"get huge\r\n"),
        step("a miss", 8, b"get missing\r\n"),
        step("misses: a bare header, then END", 9, b"get m1 m2 m3\r\n"),
        step("miss then hit", 10, b"get missing small\r\n"),
        step("hit then miss", 11, b"get small missing\r\n"),
        step("gat", 12, b"gat 0 small missing\r\n"),
        step(
            "several commands in one datagram",
            13,
            b"get small\r\nget small\r\nversion\r\n",
        ),
        step(
            "an empty response right behind a sent one is not sent",
            14,
            b"version\r\nget zz small\r\nversion\r\n",
        ),
        step(
            "replies are written out after each retrieval",
            15,
            b"get small\r\nget zz zz\r\nversion\r\n",
        ),
        step(
            "after 21 requests memcached yields and writes out: the miss is a bare header",
            41,
            &[&b"touch zz 0 noreply\r\n".repeat(20)[..], b"version\r\nget zz small\r\n"].concat(),
        ),
        step(
            "one request fewer: the miss is retired behind VERSION",
            42,
            &[&b"touch zz 0 noreply\r\n".repeat(19)[..], b"version\r\nget zz small\r\n"].concat(),
        ),
        step(
            "storage commands",
            16,
            b"set k 0 0 2\r\nab\r\nadd k 0 0 1\r\nx\r\nappend k 0 0 1\r\nc\r\nprepend k 0 0 1\r\nz\r\nreplace q 0 0 1\r\nx\r\nget k\r\n",
        ),
        step(
            "delete, incr, decr, touch",
            17,
            b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr zz 1\r\ntouch n 0\r\ntouch zz 0\r\ndelete n\r\ndelete n\r\n",
        ),
        step(
            "noreply at the start: nothing for it",
            18,
            b"set n 0 0 1 noreply\r\n5\r\nget n\r\n",
        ),
        step(
            "noreply everywhere",
            19,
            b"incr n 1 noreply\r\ndelete zz noreply\r\nset o 0 0 1 noreply\r\n1\r\n",
        ),
        step("noreply then a reply", 20, b"incr n 1 noreply\r\nget n\r\n"),
        step("an unknown command", 21, b"garbage\r\n"),
        step("an empty line", 22, b"\r\n"),
        step("a bare newline", 23, b"\n"),
        step("a key too long", 24, long_key.as_bytes()),
        step(
            "a bad data chunk inside the datagram",
            25,
            b"set k 0 0 1\r\nxy\r\nget k\r\n",
        ),
        step("a bad number", 26, b"set k 0 0 x\r\nget k\r\n"),
        step("verbosity, stats reset", 27, b"verbosity 1\r\nstats reset\r\n"),
        step("stats detail, bad stats", 28, b"stats detail on\r\nstats bogus\r\n"),
        step("shutdown is not enabled", 29, b"shutdown\r\n"),
        step("a line without its newline", 30, b"get small"),
        step("binary noise without a newline", 31, b"\x00\x01\x02\xff"),
        raw("an empty datagram", Vec::new()),
        raw("three bytes", b"abc".to_vec()),
        raw("seven bytes", header(32, 0, 1, 0)[..7].to_vec()),
        raw("a header alone", header(33, 0, 1, 0)),
        raw(
            "total 2: requests spanning datagrams are dropped",
            with_payload(header(34, 0, 2, 0), b"get small\r\n"),
        ),
        raw(
            "total 0",
            with_payload(header(35, 0, 0, 0), b"get small\r\n"),
        ),
        raw(
            "sequence and reserved fields are ignored",
            with_payload(header(36, 5, 1, 7), b"get small\r\n"),
        ),
        step("the request id is echoed whole", 0xfffe, b"get small\r\n"),
        step("flush_all", 37, b"flush_all\r\nget small\r\n"),
        step(
            "flush_all noreply at the start",
            38,
            b"flush_all noreply\r\nget small\r\n",
        ),
        // memcached's quit sticks to its UDP connection for good, so these come last.
        step("quit after a reply: nothing for it", 39, b"version\r\nquit\r\n"),
        step("quit alone: a bare header", 40, b"quit\r\nversion\r\n"),
    ]
}
