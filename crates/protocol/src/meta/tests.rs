use super::*;

fn ok(line: &[u8]) -> Request<'_> {
    match parse(line) {
        Ok(r) => r,
        Err(e) => panic!("{:?} rejected: {e:?}", String::from_utf8_lossy(line)),
    }
}

fn err(line: &[u8]) -> Rejected {
    match parse(line) {
        Ok(r) => panic!("{:?} accepted: {r:?}", String::from_utf8_lossy(line)),
        Err(e) => e,
    }
}

fn reply(line: &[u8], status: Status, facts: Facts<'_>) -> String {
    let r = ok(line);
    let mut out = Vec::new();
    write_status(&mut out, status, &r.flags, &facts);
    String::from_utf8(out).expect("utf8")
}

#[test]
fn recognises_meta_lines_like_memcached() {
    assert!(is_meta(b"mg foo v"));
    assert!(is_meta(b"  mn"));
    assert!(is_meta(b"mx foo"));
    assert!(!is_meta(b"m foo"));
    assert!(!is_meta(b"mget foo"));
    assert!(!is_meta(b"get foo"));
    assert!(!is_meta(b""));
}

#[test]
fn parses_every_get_flag() {
    let r = ok(b"mg Zm9v b c f h k l Oxy q s t u v N30 R10 T-1 E5");
    assert_eq!(r.command, Command::Get);
    let f = r.flags;
    assert!(f.cas && f.client_flags && f.hit_before && f.key && f.last_access);
    assert!(f.quiet && f.size && f.ttl && f.no_bump && f.value);
    assert_eq!(f.opaque, Some(&b"Oxy"[..]));
    assert_eq!(
        (f.vivify, f.recache, f.set_ttl),
        (Some(30), Some(10), Some(-1))
    );
    assert_eq!(f.new_cas, Some(5));
    // "foo" is not base64 of anything: b decodes it, which fails.
    assert_eq!(err(b"mg foo b").error, MetaError::DecodingKey);
    assert_eq!(ok(b"mg Zm9v b").key(), b"foo");
    assert_eq!(ok(b"mg Zm9v b").wire_key(), b"Zm9v");
}

#[test]
fn parses_set_length_flags_and_modes() {
    let r = ok(b"ms k 12 T30 F7 C99 I MA c k");
    assert_eq!((r.command, r.datalen), (Command::Set, 12));
    assert_eq!(r.flags.set_ttl, Some(30));
    assert_eq!(r.flags.set_client_flags, Some(7));
    assert_eq!(r.flags.compare_cas, Some(99));
    assert!(r.flags.invalidate);
    assert_eq!(r.flags.mode.and_then(Mode::set), Some(Mode::Append));
    // 64-bit flags wrap to 32 bits, as memcached stores them.
    assert_eq!(ok(b"ms k 1 F4294967297").flags.set_client_flags, Some(1));
}

#[test]
fn errors_match_memcached() {
    use MetaError::*;
    let cases: &[(&[u8], MetaError, usize)] = &[
        (b"mg", UnknownCommand, 0),
        (b"mx foo", UnknownCommand, 0),
        (b"mg foo !", InvalidFlag, 0),
        (b"mg foo 1", InvalidFlag, 0),
        (b"mg foo x", InvalidFlag, 0),
        (b"mg foo v v", DuplicateFlag, 0),
        (b"mg foo T", BadToken, 0),
        (b"mg foo Tx", BadToken, 0),
        (b"mg foo Tx !", InvalidFlag, 0),
        (b"mg @@@ b", DecodingKey, 0),
        (b"mg Zm9 b", DecodingKey, 0),
        (b"mg Zm9v= b", DecodingKey, 0),
        (
            b"mg a a b c d e f g h i j k l m n o p q r s",
            GetFlagsTooLong,
            0,
        ),
        (b"ms foo", BadCommandLineFormat, 0),
        (b"ms foo abc", BadCommandLineFormat, 0),
        (b"ms foo -1", BadCommandLineFormat, 0),
        (b"ms foo 1 MZ", InvalidSetMode, 3),
        (b"ms foo 1 Mxx", MTokenLength, 3),
        (b"ms foo 1 Fx", BadCommandLineFormat, 3),
        (b"ms foo 1 Cx", BadToken, 3),
        (b"ms foo 10 S2", InvalidFlag, 12),
        (
            b"ms foo 1 O12345678901234567890123456789012 MZ",
            InvalidSetMode,
            3,
        ),
        (b"md foo x x", InvalidOrDuplicateFlag, 0),
        (b"md foo !", InvalidOrDuplicateFlag, 0),
        (b"ma foo MII", InvalidOrDuplicateFlag, 0),
        (b"ma foo Dabc", InvalidOrDuplicateFlag, 0),
        (b"ma foo MX", InvalidArithmeticMode, 0),
        (b"me", BadCommandLineFormat, 0),
        (b"me foo b", BadCommandLineFormat, 0),
    ];
    for (line, error, swallow) in cases {
        let got = err(line);
        assert_eq!(
            (got.error, got.swallow),
            (*error, *swallow),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    let long_key = [b'k'; 251];
    let mut line = b"mg ".to_vec();
    line.extend_from_slice(&long_key);
    assert_eq!(err(&line).error, BadCommandLineFormat);
    assert_eq!(
        MetaError::OpaqueTooLong.reply(),
        b"CLIENT_ERROR opaque token too long\r\n"
    );
}

#[test]
fn a_long_opaque_is_the_servers_to_refuse_for_mg_and_ma() {
    assert!(ok(b"mg foo O12345678901234567890123456789012").opaque_too_long());
    assert!(ok(b"ma foo O12345678901234567890123456789012").opaque_too_long());
    assert!(!ok(b"mg foo O1234567890123456789012345678901").opaque_too_long());
}

#[test]
fn opaque_of_31_bytes_is_accepted() {
    let r = ok(b"mg foo O1234567890123456789012345678901");
    assert_eq!(r.flags.opaque.map(<[u8]>::len), Some(32));
}

#[test]
fn numbers_follow_safe_strtol() {
    assert_eq!(number::i32_token(b"+5"), Some(5));
    assert_eq!(number::i32_token(b"-5"), Some(-5));
    // memcached stores strtol's long into an int32 unchecked.
    assert_eq!(number::i32_token(b"2147483648"), Some(i32::MIN));
    assert_eq!(number::i32_token(b"99999999999999999999"), None);
    assert_eq!(number::i32_token(b""), None);
    assert_eq!(number::u64_token(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(number::u64_token(b"18446744073709551616"), None);
    assert_eq!(number::u64_token(b"-1"), None);
    assert_eq!(number::u64_token(b"-0"), Some(0));
}

#[test]
fn base64_round_trips() {
    let mut buf = [0u8; 16];
    for src in [&b"f"[..], b"fo", b"foo", b"foob", b"\x00\xff\x10"] {
        let mut enc = Vec::new();
        base64::encode(src, &mut enc);
        let n = base64::decode(&enc, &mut buf).expect("decodes");
        assert_eq!(&buf[..n], src);
    }
    assert_eq!(base64::decode(b"Zm8=", &mut buf), Some(2));
    // memcached's decoder: skips bytes outside the alphabet, stops after padding.
    assert_eq!(base64::decode(b"Zm==Zm9v", &mut buf), Some(1));
    assert_eq!(base64::decode(b"Z=9v", &mut buf), Some(2));
    assert_eq!(base64::decode(b"Zm9v!", &mut buf), Some(3));
    assert_eq!(base64::decode(b"Z===", &mut buf), None);
    assert_eq!(base64::decode(b"Zm9v=", &mut buf), None);
    assert_eq!(base64::decode(b"@@@@", &mut buf), None);
    assert_eq!(base64::decode(b"Zm9vYmFy", &mut buf[..5]), None);
}

#[test]
fn return_flags_in_request_order_then_z_x_w() {
    let facts = Facts {
        size: Some(2),
        ttl: Some(-1),
        cas: Some(7),
        client_flags: Some(0),
        last_access: Some(3),
        hit_before: Some(true),
        key: Some(b"foo"),
        already_won: true,
        stale: true,
        won: false,
        ..Facts::default()
    };
    assert_eq!(
        reply(b"mg foo s v f t c k h l O1", Status::Value(2), facts),
        "VA 2 s2 f0 t-1 c7 kfoo h1 l3 O1 Z X\r\n"
    );
    let miss = Facts {
        key: Some(b"foo"),
        binary_key: true,
        ..Facts::default()
    };
    assert_eq!(
        reply(b"mg Zm9v b k Oab c", Status::Miss, miss),
        "EN kZm9v b Oab\r\n"
    );
}

#[test]
fn debug_line_matches_memcached() {
    let mut out = Vec::new();
    write_debug(
        &mut out,
        &Debug {
            key: b"foo",
            binary_key: false,
            exp: -1,
            last_access: 1,
            cas: 3,
            fetched: true,
            class: 1,
            size: 64,
        },
    );
    assert_eq!(out, b"ME foo exp=-1 la=1 cas=3 fetch=yes cls=1 size=64\r\n");
}
