//! Each test mirrors a behaviour observed on the memcached 1.6.18 binary (started with
//! `memcached -p <port> -l 127.0.0.1 -U 0` and asked over a socket); the name says which.

use super::*;

fn request(buf: &[u8]) -> (Request<'_>, usize) {
    match parse(buf) {
        Parse::Request { request, consumed } => (request, consumed),
        other => panic!("expected a request for {buf:?}, got {other:?}"),
    }
}

fn error(buf: &[u8]) -> ProtocolError {
    match parse(buf) {
        Parse::Error {
            error, consumed, ..
        } => {
            assert_eq!(consumed, buf.len(), "an error drops exactly its line");
            error
        }
        other => panic!("expected an error for {buf:?}, got {other:?}"),
    }
}

fn reply(buf: &[u8]) -> &'static [u8] {
    error(buf).reply()
}

fn keys<'a>(keys: Keys<'a>) -> Vec<&'a [u8]> {
    keys.collect()
}

fn store(buf: &[u8]) -> (StoreCommand, &[u8], u32, i64, usize, u64, bool) {
    match request(buf).0 {
        Request::Store {
            command,
            key,
            flags,
            exptime,
            bytes,
            cas,
            noreply,
        } => (command, key, flags, exptime, bytes, cas, noreply),
        other => panic!("expected a store for {buf:?}, got {other:?}"),
    }
}

fn line_of(len: usize, prefix: &[u8]) -> Vec<u8> {
    let mut line = prefix.to_vec();
    line.resize(len, b'a');
    line
}

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

// --- retrieval --------------------------------------------------------------------

#[test]
fn get_and_gets_need_a_key() {
    assert_eq!(reply(b"get\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"get \r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"gets\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"gat\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"gxyz a\r\n"), b"ERROR\r\n");
}

#[test]
fn gets_returns_cas_kind() {
    match request(b"gets a b\r\n").0 {
        Request::Get { kind, keys: k } => {
            assert_eq!(kind, GetKind::Gets);
            assert_eq!(keys(k), [&b"a"[..], b"b"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bget_is_an_old_alias_of_get() {
    assert!(matches!(
        request(b"bget a\r\n").0,
        Request::Get {
            kind: GetKind::Get,
            ..
        }
    ));
    assert_eq!(reply(b"bget\r\n"), b"ERROR\r\n");
}

#[test]
fn key_of_250_bytes_is_fine_251_is_bad_format() {
    let mut ok = b"get ".to_vec();
    ok.extend_from_slice(&[b'k'; 250]);
    ok.extend_from_slice(b"\r\n");
    assert!(matches!(request(&ok).0, Request::Get { .. }));
    let mut bad = b"get ".to_vec();
    bad.extend_from_slice(&[b'k'; 251]);
    bad.extend_from_slice(b"\r\n");
    assert_eq!(reply(&bad), b"CLIENT_ERROR bad command line format\r\n");
}

#[test]
fn multiget_with_one_long_key_is_only_the_error() {
    // memcached sends no VALUE for the hits before the bad key, even past 24 tokens.
    let mut line = b"get a".to_vec();
    for _ in 0..30 {
        line.extend_from_slice(b" k1");
    }
    line.push(b' ');
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b"\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
}

#[test]
fn gat_reads_exptime_then_keys() {
    match request(b"gat 10 a b\r\n").0 {
        Request::Gat {
            kind,
            exptime,
            keys: k,
        } => {
            assert_eq!(kind, GetKind::Get);
            assert_eq!(exptime, 10);
            assert_eq!(keys(k), [&b"a"[..], b"b"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        request(b"gats -1 a\r\n").0,
        Request::Gat {
            kind: GetKind::Gets,
            exptime: -1,
            ..
        }
    ));
}

#[test]
fn gat_without_keys_is_valid_and_answers_end() {
    match request(b"gat 10\r\n").0 {
        Request::Gat { keys: k, .. } => assert!(k.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn gat_bad_exptime() {
    assert_eq!(
        reply(b"gat abc a\r\n"),
        b"CLIENT_ERROR invalid exptime argument\r\n"
    );
}

#[test]
fn gat_long_key() {
    let mut line = b"gat 1 a ".to_vec();
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b"\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
}

// --- storage ----------------------------------------------------------------------

#[test]
fn every_storage_command() {
    for (name, command) in [
        (&b"set"[..], StoreCommand::Set),
        (b"add", StoreCommand::Add),
        (b"replace", StoreCommand::Replace),
        (b"append", StoreCommand::Append),
        (b"prepend", StoreCommand::Prepend),
    ] {
        let mut line = name.to_vec();
        line.extend_from_slice(b" key 5 100 3\r\n");
        assert_eq!(store(&line), (command, &b"key"[..], 5, 100, 3, 0, false));
    }
    assert_eq!(
        store(b"cas key 1 2 3 99\r\n"),
        (StoreCommand::Cas, &b"key"[..], 1, 2, 3, 99, false)
    );
    assert_eq!(
        store(b"cas key 1 2 3 99 noreply\r\n"),
        (StoreCommand::Cas, &b"key"[..], 1, 2, 3, 99, true)
    );
}

#[test]
fn storage_token_counts() {
    assert_eq!(reply(b"set k 0 0\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"set k\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"set k 0 0 1 noreply x\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"cas k 0 0 1\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"cas k 0 0 1 1 noreply x\r\n"), b"ERROR\r\n");
}

#[test]
fn storage_extra_token_that_is_not_noreply_is_ignored() {
    assert!(!store(b"set k 0 0 1 junk\r\n").6);
}

#[test]
fn storage_noreply() {
    assert!(store(b"set k 0 0 1 noreply\r\n").6);
}

#[test]
fn storage_key_of_251_bytes() {
    let mut line = b"set ".to_vec();
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b" 0 0 1\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
    let mut line = b"set ".to_vec();
    line.extend_from_slice(&[b'k'; 250]);
    line.extend_from_slice(b" 0 0 1\r\n");
    assert_eq!(store(&line).1.len(), 250);
}

#[test]
fn storage_flags_are_u32_truncated_from_64_bits() {
    assert_eq!(store(b"set k 4294967295 0 1\r\n").2, u32::MAX);
    // memcached stores flags 0 for 4294967296 and 1 for 4294967297.
    assert_eq!(store(b"set k 4294967296 0 1\r\n").2, 0);
    assert_eq!(store(b"set k 4294967297 0 1\r\n").2, 1);
    assert_eq!(store(b"set k +5 0 1\r\n").2, 5);
}

#[test]
fn storage_bad_flags() {
    assert_eq!(error(b"set k -1 0 1\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"set k abc 0 1\r\n"), ProtocolError::BadFormat);
    assert_eq!(
        error(b"set k 18446744073709551616 0 1\r\n"),
        ProtocolError::BadFormat
    );
}

#[test]
fn storage_exptime() {
    assert_eq!(store(b"set k 0 -1 1\r\n").3, -1);
    assert_eq!(store(b"set k 0 2592000 1\r\n").3, 2_592_000);
    assert_eq!(store(b"set k 0 4294967296 1\r\n").3, 0);
    assert_eq!(error(b"set k 0 abc 1\r\n"), ProtocolError::BadFormat);
}

#[test]
fn storage_bytes_limits() {
    assert_eq!(store(b"set k 0 0 0\r\n").4, 0);
    assert_eq!(store(b"set k 0 0 01\r\n").4, 1);
    assert_eq!(store(b"set k 0 0 +1\r\n").4, 1);
    // memcached adds 2 to an int: 2147483645 is the largest length it accepts.
    assert_eq!(store(b"set k 0 0 2147483645\r\n").4, 2_147_483_645);
    assert_eq!(error(b"set k 0 0 2147483646\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"set k 0 0 2147483647\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"set k 0 0 -1\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"set k 0 0 abc\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"set k 0 0 1x\r\n"), ProtocolError::BadFormat);
}

#[test]
fn storage_cas_unique() {
    assert_eq!(store(b"cas k 0 0 1 18446744073709551615\r\n").5, u64::MAX);
    assert_eq!(error(b"cas k 0 0 1 -1\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"cas k 0 0 1 abc\r\n"), ProtocolError::BadFormat);
    assert_eq!(
        error(b"cas k 0 0 1 18446744073709551616\r\n"),
        ProtocolError::BadFormat
    );
}

#[test]
fn noreply_silences_storage_line_errors() {
    // memcached sends nothing for these, then reads the data line as a command.
    assert_eq!(error(b"set k abc 0 1 noreply\r\n"), ProtocolError::Silenced);
    assert_eq!(reply(b"set k 0 0 -1 noreply\r\n"), b"");
    // "cas k 0 0 1 noreply": noreply is the last token, and also a bad cas unique.
    assert_eq!(error(b"cas k 0 0 1 noreply\r\n"), ProtocolError::Silenced);
}

#[test]
fn noreply_does_not_silence_wrong_token_counts() {
    assert_eq!(reply(b"set k 0 noreply\r\n"), b"ERROR\r\n");
}

// --- incr / decr ------------------------------------------------------------------

#[test]
fn incr_and_decr() {
    assert_eq!(
        request(b"incr k 1\r\n").0,
        Request::Delta {
            incr: true,
            key: b"k",
            delta: 1,
            noreply: false
        }
    );
    assert_eq!(
        request(b"decr k 18446744073709551615 noreply\r\n").0,
        Request::Delta {
            incr: false,
            key: b"k",
            delta: u64::MAX,
            noreply: true
        }
    );
}

#[test]
fn incr_bad_delta() {
    let invalid = b"CLIENT_ERROR invalid numeric delta argument\r\n";
    assert_eq!(reply(b"incr k -1\r\n"), invalid);
    assert_eq!(reply(b"incr k abc\r\n"), invalid);
    assert_eq!(reply(b"incr k 18446744073709551616\r\n"), invalid);
    // noreply in the middle is just a bad delta.
    assert_eq!(reply(b"incr k noreply 1\r\n"), invalid);
}

#[test]
fn incr_odd_deltas_memcached_accepts() {
    let delta = |buf| match request(buf).0 {
        Request::Delta { delta, .. } => delta,
        other => panic!("{other:?}"),
    };
    assert_eq!(delta(b"incr n -0\r\n"), 0);
    assert_eq!(delta(b"incr n +3\r\n"), 3);
    // strtoull negates in 64 bits: memcached turns 5 into 6 with this one.
    assert_eq!(delta(b"incr n -18446744073709551615\r\n"), 1);
    // A 4th token that is not noreply is ignored.
    assert_eq!(delta(b"incr k 1 2\r\n"), 1);
}

#[test]
fn incr_token_counts_and_long_key() {
    assert_eq!(reply(b"incr k\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"incr k 1 noreply x\r\n"), b"ERROR\r\n");
    let mut line = b"incr ".to_vec();
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b" 1\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
}

#[test]
fn incr_noreply_silences_bad_delta() {
    assert_eq!(error(b"incr k abc noreply\r\n"), ProtocolError::Silenced);
}

// --- touch ------------------------------------------------------------------------

#[test]
fn touch() {
    assert_eq!(
        request(b"touch k 10\r\n").0,
        Request::Touch {
            key: b"k",
            exptime: 10,
            noreply: false
        }
    );
    assert_eq!(
        request(b"touch k 10 noreply\r\n").0,
        Request::Touch {
            key: b"k",
            exptime: 10,
            noreply: true
        }
    );
}

#[test]
fn touch_errors() {
    assert_eq!(
        reply(b"touch k abc\r\n"),
        b"CLIENT_ERROR invalid exptime argument\r\n"
    );
    assert_eq!(reply(b"touch k\r\n"), b"ERROR\r\n");
    assert_eq!(error(b"touch k abc noreply\r\n"), ProtocolError::Silenced);
    // Out of 64-bit range is refused; inside it, truncated to 32 bits.
    assert_eq!(
        error(b"touch t 9223372036854775808\r\n"),
        ProtocolError::InvalidExptime
    );
    assert!(matches!(
        request(b"touch t 4294967296\r\n").0,
        Request::Touch { exptime: 0, .. }
    ));
    let mut line = b"touch ".to_vec();
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b" 1\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
}

// --- delete -----------------------------------------------------------------------

#[test]
fn delete_forms_memcached_accepts() {
    let del = |buf| request(buf).0;
    assert_eq!(
        del(b"delete k\r\n"),
        Request::Delete {
            key: b"k",
            noreply: false
        }
    );
    // A hold time of 0 is accepted for old clients.
    assert_eq!(
        del(b"delete k 0\r\n"),
        Request::Delete {
            key: b"k",
            noreply: false
        }
    );
    assert_eq!(
        del(b"delete k noreply\r\n"),
        Request::Delete {
            key: b"k",
            noreply: true
        }
    );
    assert_eq!(
        del(b"delete k 0 noreply\r\n"),
        Request::Delete {
            key: b"k",
            noreply: true
        }
    );
}

#[test]
fn delete_with_a_nonzero_hold_time_gets_the_usage_error() {
    let usage = b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
    assert_eq!(reply(b"delete k 1\r\n"), usage);
    assert_eq!(reply(b"delete k 0 0\r\n"), usage);
    assert_eq!(reply(b"delete k noreply 0\r\n"), usage);
    assert_eq!(error(b"delete k 1 noreply\r\n"), ProtocolError::Silenced);
}

#[test]
fn delete_token_counts_and_long_key() {
    assert_eq!(reply(b"delete\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"delete k 0 noreply x\r\n"), b"ERROR\r\n");
    let mut line = b"delete ".to_vec();
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b"\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
}

// --- flush_all --------------------------------------------------------------------

#[test]
fn flush_all_forms() {
    let flush = |buf| request(buf).0;
    assert_eq!(
        flush(b"flush_all\r\n"),
        Request::FlushAll {
            exptime: 0,
            noreply: false
        }
    );
    assert_eq!(
        flush(b"flush_all -1\r\n"),
        Request::FlushAll {
            exptime: -1,
            noreply: false
        }
    );
    assert_eq!(
        flush(b"flush_all noreply\r\n"),
        Request::FlushAll {
            exptime: 0,
            noreply: true
        }
    );
    assert_eq!(
        flush(b"flush_all 10 noreply\r\n"),
        Request::FlushAll {
            exptime: 10,
            noreply: true
        }
    );
    // With a delay, a third token that is not noreply is ignored.
    assert_eq!(
        flush(b"flush_all 10 junk\r\n"),
        Request::FlushAll {
            exptime: 10,
            noreply: false
        }
    );
}

#[test]
fn flush_all_errors() {
    let invalid = b"CLIENT_ERROR invalid exptime argument\r\n";
    assert_eq!(reply(b"flush_all abc\r\n"), invalid);
    assert_eq!(reply(b"flush_all noreply 0\r\n"), invalid);
    assert_eq!(error(b"flush_all abc noreply\r\n"), ProtocolError::Silenced);
    assert_eq!(reply(b"flush_all 1 2 3\r\n"), b"ERROR\r\n");
}

// --- the rest ---------------------------------------------------------------------

#[test]
fn version_and_quit_ignore_arguments() {
    assert_eq!(request(b"version\r\n").0, Request::Version);
    assert_eq!(request(b"version x y\r\n").0, Request::Version);
    assert_eq!(request(b"quit\r\n").0, Request::Quit);
    assert_eq!(request(b"quit now\r\n").0, Request::Quit);
}

#[test]
fn verbosity() {
    assert_eq!(
        request(b"verbosity 1\r\n").0,
        Request::Verbosity { noreply: false }
    );
    assert_eq!(
        request(b"verbosity 1 noreply\r\n").0,
        Request::Verbosity { noreply: true }
    );
    // A second token that is not noreply is ignored.
    assert_eq!(
        request(b"verbosity 1 2\r\n").0,
        Request::Verbosity { noreply: false }
    );
    assert_eq!(reply(b"verbosity\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"verbosity 1 2 3\r\n"), b"ERROR\r\n");
    assert_eq!(
        reply(b"verbosity abc\r\n"),
        b"CLIENT_ERROR bad command line format\r\n"
    );
    // "verbosity noreply": the level is "noreply", bad, and silenced.
    assert_eq!(error(b"verbosity noreply\r\n"), ProtocolError::Silenced);
}

#[test]
fn shutdown_modes() {
    assert_eq!(
        request(b"shutdown\r\n").0,
        Request::Shutdown { graceful: false }
    );
    assert_eq!(
        request(b"shutdown  graceful \r\n").0,
        Request::Shutdown { graceful: true }
    );
    // With -A, memcached answers these; without it, SHUTDOWN_NOT_ENABLED.
    let invalid = b"CLIENT_ERROR invalid shutdown mode\r\n";
    assert_eq!(reply(b"shutdown x\r\n"), invalid);
    assert_eq!(reply(b"shutdown graceful x\r\n"), invalid);
    assert_eq!(reply(b"shutdown noreply\r\n"), invalid);
}

#[test]
fn stats_arguments_are_passed_through() {
    match request(b"stats\r\n").0 {
        Request::Stats { args } => assert!(args.is_empty()),
        other => panic!("{other:?}"),
    }
    match request(b"stats detail on\r\n").0 {
        Request::Stats { args } => assert_eq!(keys(args), [&b"detail"[..], b"on"]),
        other => panic!("{other:?}"),
    }
    let mut line = b"stats".to_vec();
    for _ in 0..30 {
        line.extend_from_slice(b" a");
    }
    line.extend_from_slice(b"\r\n");
    match request(&line).0 {
        Request::Stats { args } => assert_eq!(args.count(), 30),
        other => panic!("{other:?}"),
    }
}

#[test]
fn meta_commands_are_left_to_the_meta_parser() {
    // The server hands `m?` lines to protocol::meta before this parser sees them.
    for line in [&b"mg k v\r\n"[..], b"mn\r\n"] {
        assert_eq!(error(line), ProtocolError::UnknownCommand);
    }
}

#[test]
fn watch_and_lru_crawler_parse_so_the_server_can_refuse_them() {
    // memcached 1.6.18 under -W / -X answers these with refusals the server reproduces.
    assert!(matches!(
        request(b"watch\r\n").0,
        Request::Watch { args, noreply: false } if args.is_empty()
    ));
    let Request::Watch { args, noreply } = request(b"watch fetchers noreply\r\n").0 else {
        panic!("not a watch");
    };
    assert!(noreply);
    assert_eq!(args.collect::<Vec<_>>(), [&b"fetchers"[..], b"noreply"]);
    assert_eq!(request(b"refresh_certs\r\n").0, Request::RefreshCerts);
    assert_eq!(
        request(b"refresh_certs now please\r\n").0,
        Request::RefreshCerts
    );
    match request(b"lru_crawler metadump all\r\n").0 {
        Request::LruCrawler { args } => {
            assert_eq!(keys(args), vec![&b"metadump"[..], b"all"]);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn extstore_lines_parse_with_their_arguments() {
    match request(b"extstore max_frag 0.5\r\n").0 {
        Request::Extstore { args } => assert_eq!(keys(args), vec![&b"max_frag"[..], b"0.5"]),
        other => panic!("unexpected {other:?}"),
    }
    match request(b"extstore\r\n").0 {
        Request::Extstore { args } => assert!(keys(args).is_empty()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn more_than_23_tokens_make_single_key_commands_error() {
    let mut line = b"set k 0 0 1".to_vec();
    for _ in 0..20 {
        line.extend_from_slice(b" a");
    }
    line.extend_from_slice(b"\r\n");
    assert_eq!(reply(&line), b"ERROR\r\n");
}

// --- replies ----------------------------------------------------------------------

#[test]
fn static_replies_are_memcached_bytes() {
    assert_eq!(
        CLIENT_ERROR_BAD_DATA_CHUNK,
        b"CLIENT_ERROR bad data chunk\r\n"
    );
    assert_eq!(
        CLIENT_ERROR_NON_NUMERIC,
        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    );
    assert_eq!(
        SERVER_ERROR_TOO_LARGE,
        b"SERVER_ERROR object too large for cache\r\n"
    );
    assert_eq!(
        SERVER_ERROR_OUT_OF_MEMORY_STORING,
        b"SERVER_ERROR out of memory storing object\r\n"
    );
    assert_eq!(
        ERROR_TOO_MANY_CONNECTIONS,
        b"ERROR Too many open connections\r\n"
    );
    assert_eq!(SHUTDOWN_NOT_ENABLED, b"ERROR: shutdown not enabled\r\n");
}

#[test]
fn every_error_reply_ends_in_crlf_except_silenced() {
    for error in [
        ProtocolError::UnknownCommand,
        ProtocolError::BadFormat,
        ProtocolError::BadDeleteFormat,
        ProtocolError::InvalidExptime,
        ProtocolError::InvalidDelta,
        ProtocolError::InvalidShutdownMode,
    ] {
        assert!(error.reply().ends_with(b"\r\n"), "{error:?}");
    }
    assert!(ProtocolError::Silenced.reply().is_empty());
}

#[test]
fn multiget_with_a_too_long_key_still_looks_up_the_keys_before_it() {
    // memcached 1.6.18: `get a b <251 bytes> c` counts get_hits/get_misses for a and b,
    // then answers only CLIENT_ERROR bad command line format.
    let line = format!("get a b {} c\r\n", "k".repeat(251));
    match parse(line.as_bytes()) {
        Parse::Error {
            error: ProtocolError::BadFormat,
            attempted: Attempt::Lookups { touch: None, keys },
            ..
        } => assert_eq!(keys.collect::<Vec<_>>(), vec![&b"a"[..], b"b"]),
        other => panic!("unexpected {other:?}"),
    }
    let line = format!("gat 10 {} c\r\n", "k".repeat(251));
    match parse(line.as_bytes()) {
        Parse::Error {
            attempted:
                Attempt::Lookups {
                    touch: Some(10),
                    keys,
                },
            ..
        } => assert!(keys.is_empty()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_rejected_flush_all_still_counts_as_a_flush() {
    match parse(b"flush_all abc\r\n") {
        Parse::Error {
            attempted: Attempt::Flush,
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    match parse(b"flush_all 1 2 3 4\r\n") {
        Parse::Error {
            attempted: Attempt::Nothing,
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
}
