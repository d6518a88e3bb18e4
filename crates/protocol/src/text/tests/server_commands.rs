//! Commands about the server rather than items: `version`, `quit`, `verbosity`,
//! `shutdown`, `stats`, `watch`, `lru_crawler`, `extstore`; meta lines left to the meta
//! parser; the token limit of single-key commands.

use super::*;

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
