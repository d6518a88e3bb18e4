//! Where a request line ends (CRLF or bare LF, NUL, spaces and tabs), how long a line
//! without a newline may wait (memcached's 2048-byte rule and its exceptions for long
//! gets), and the HTTP rule (a request line closes the connection silently).

use super::*;

// --- line framing ---------------------------------------------------------------

#[test]
fn crlf_and_bare_lf_both_end_a_line() {
    assert_eq!(request(b"get a\r\n").1, 7);
    assert_eq!(request(b"get a\n").1, 6);
    assert_eq!(
        keys(match request(b"get a\n").0 {
            Request::Get { keys: k, .. } => k,
            _ => unreachable!(),
        }),
        [b"a"]
    );
}

#[test]
fn consumed_stops_at_the_first_newline_leaving_pipelined_bytes() {
    let buf = b"get a\r\nget b\r\nset k 0 0 1\r\nx\r\n";
    let (_, consumed) = request(buf);
    assert_eq!(consumed, 7);
    let (_, consumed2) = request(&buf[consumed..]);
    assert_eq!(consumed2, 7);
    let (req, consumed3) = request(&buf[14..]);
    assert!(matches!(req, Request::Store { bytes: 1, .. }));
    assert_eq!(&buf[14 + consumed3..], b"x\r\n");
}

#[test]
fn no_newline_yet_is_incomplete() {
    assert_eq!(parse(b""), Parse::Incomplete { close: false });
    assert_eq!(parse(b"get a\r"), Parse::Incomplete { close: false });
    assert_eq!(parse(b"set k 0 0 1"), Parse::Incomplete { close: false });
}

#[test]
fn command_names_are_case_sensitive() {
    assert_eq!(reply(b"GET a\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"Get a\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"SET k 0 0 1\r\n"), b"ERROR\r\n");
}

#[test]
fn empty_and_blank_lines_are_error() {
    assert_eq!(reply(b"\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"\n"), b"ERROR\r\n");
    assert_eq!(reply(b" \r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"   \r\n"), b"ERROR\r\n");
}

#[test]
fn one_byte_commands_are_error() {
    assert_eq!(reply(b"x\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"xy\r\n"), b"ERROR\r\n");
}

#[test]
fn leading_and_repeated_spaces_are_ignored() {
    match request(b"  get  a  b \r\n").0 {
        Request::Get { kind, keys: k } => {
            assert_eq!(kind, GetKind::Get);
            assert_eq!(keys(k), [&b"a"[..], b"b"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tabs_are_not_separators() {
    // "get\ta" is one token: a g-command with too few tokens.
    assert_eq!(reply(b"get\ta\r\n"), b"ERROR\r\n");
    // memcached stores and returns keys with tabs and control bytes in them.
    assert_eq!(store(b"set a\tb 0 0 1\r\n").1, b"a\tb");
    assert_eq!(store(b"set a\x01b 0 0 1\r\n").1, b"a\x01b");
}

#[test]
fn only_the_last_cr_before_lf_is_stripped() {
    match request(b"get a\r\r\n").0 {
        Request::Get { keys: k, .. } => assert_eq!(keys(k), [b"a\r"]),
        other => panic!("{other:?}"),
    }
    match request(b"get a\rb\r\n").0 {
        Request::Get { keys: k, .. } => assert_eq!(keys(k), [b"a\rb"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_nul_byte_ends_the_line_early() {
    // memcached reads the line as a C string: "get a\0b c" looks up "a" only.
    let (req, consumed) = request(b"get a\x00b c\r\n");
    assert_eq!(consumed, 11);
    match req {
        Request::Get { keys: k, .. } => assert_eq!(keys(k), [b"a"]),
        other => panic!("{other:?}"),
    }
    // ...and "set k 0 0 1\0junk" is a valid set.
    assert_eq!(store(b"set k 0 0 1\x00junk\r\n").4, 1);
}

// --- the 2048-byte rule ----------------------------------------------------------

#[test]
fn unterminated_line_of_2048_bytes_waits() {
    let line = line_of(2048, b"set ");
    assert_eq!(parse(&line), Parse::Incomplete { close: false });
}

#[test]
fn unterminated_line_of_2049_bytes_closes() {
    let line = line_of(2049, b"set ");
    assert_eq!(parse(&line), Parse::Incomplete { close: true });
    assert_eq!(
        parse(&line_of(5000, b"")),
        Parse::Incomplete { close: true }
    );
}

#[test]
fn unterminated_long_get_and_gets_lines_wait() {
    assert_eq!(
        parse(&line_of(2049, b"get ")),
        Parse::Incomplete { close: false }
    );
    assert_eq!(
        parse(&line_of(2049, b"gets ")),
        Parse::Incomplete { close: false }
    );
    assert_eq!(
        parse(&line_of(100_000, b"get ")),
        Parse::Incomplete { close: false }
    );
}

#[test]
fn unterminated_long_gat_or_tabbed_get_closes() {
    assert_eq!(
        parse(&line_of(2049, b"gat 1 ")),
        Parse::Incomplete { close: true }
    );
    assert_eq!(
        parse(&line_of(2049, b"get\t")),
        Parse::Incomplete { close: true }
    );
    assert_eq!(
        parse(&line_of(2049, b"get")),
        Parse::Incomplete { close: true }
    );
}

#[test]
fn up_to_100_leading_spaces_before_a_long_get() {
    let mut hundred = vec![b' '; 100];
    hundred.extend_from_slice(b"get ");
    assert_eq!(
        parse(&line_of(2049, &hundred)),
        Parse::Incomplete { close: false }
    );
    let mut too_many = vec![b' '; 101];
    too_many.extend_from_slice(b"get ");
    assert_eq!(
        parse(&line_of(2049, &too_many)),
        Parse::Incomplete { close: true }
    );
}

#[test]
fn long_lines_with_a_newline_are_parsed() {
    // A set line of 3000 bytes arriving whole is fine: its 7th token is ignored.
    let mut line = line_of(3000, b"set k 0 0 1 ");
    line.extend_from_slice(b"\r\n");
    assert_eq!(store(&line).4, 1);
}

#[test]
fn long_multiget_is_one_request() {
    let mut line = b"get".to_vec();
    for i in 0..600 {
        line.extend_from_slice(format!(" k{i}").as_bytes());
    }
    line.extend_from_slice(b"\r\n");
    let (req, consumed) = request(&line);
    assert_eq!(consumed, line.len());
    match req {
        Request::Get { keys: k, .. } => {
            let all = keys(k);
            assert_eq!(all.len(), 600);
            assert_eq!(all[599], b"k599");
        }
        other => panic!("{other:?}"),
    }
}

// --- the HTTP rule ----------------------------------------------------------------

#[test]
fn http_request_lines_close_silently() {
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\n"),
        Parse::Incomplete { close: true }
    );
    assert_eq!(
        parse(b"POST /x HTTP/1.0\r\n"),
        Parse::Incomplete { close: true }
    );
    assert_eq!(parse(b"xx HTTP/\r\n"), Parse::Incomplete { close: true });
}

#[test]
fn http_rule_does_not_apply_to_known_command_families() {
    // "get / HTTP/1.1" is a multi-get of "/" and "HTTP/1.1"; "set ..." is a bad set.
    assert!(matches!(
        request(b"get / HTTP/1.1\r\n").0,
        Request::Get { .. }
    ));
    assert_eq!(reply(b"set / HTTP/1.1\r\n"), b"ERROR\r\n");
}
