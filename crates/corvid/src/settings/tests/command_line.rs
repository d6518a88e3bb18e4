//! The command line as a whole: memcached's defaults, getopt's syntax (program name,
//! short and long boolean flags, clusters, counted `-v`, unique long prefixes, its error
//! messages), words that are not options, `-h`/`-V`/`-i`, and a typical init-script line.

use super::*;

#[test]
fn defaults_are_memcached_defaults() {
    let s = serve(&[]);
    assert_eq!(s.port, 11211);
    assert_eq!(s.udp_port, 0);
    assert_eq!(s.unix_socket, None);
    assert_eq!(s.unix_mask, 0o700);
    assert!(s.listen.is_empty());
    assert_eq!(s.memory_limit, 64 << 20);
    assert!(!s.no_evict);
    assert_eq!(s.max_conns, 1024);
    assert_eq!(s.threads, 4);
    assert_eq!(s.item_size_max, 1 << 20);
    assert_eq!(s.verbose, 0);
    assert_eq!(s.reqs_per_event, 20);
    assert!(!s.cas_disabled);
    assert!(!s.allow_shutdown);
    assert_eq!(s.protocol, ProtocolMode::Auto);
    assert_eq!(s.user, None);
    assert_eq!(s.idle_timeout, 0);
    assert!(s.warnings.is_empty());
    assert!(!s.daemonize);
    assert_eq!(s.pid_file, None);
    assert_eq!(s.backlog, 1024);
    assert!(s.flush_enabled && s.dump_enabled && s.watch_enabled && s.maxconns_fast);
    assert!(!s.lock_memory && !s.enable_coredumps);
    assert_eq!(s.tcp_port(), Some(11211));
    assert_eq!(s, Settings::default());
}

#[test]
fn program_name_is_skipped_only_when_it_is_not_a_flag() {
    assert_eq!(serve(&["corvid", "-p", "1"]).port, 1);
    assert_eq!(serve(&["/usr/bin/corvid", "-p1"]).port, 1);
    assert_eq!(serve(&["-p", "1"]).port, 1);
}

/// A flag's short form, its long form, and how to see it took effect.
type Switch = (&'static str, &'static str, fn(&Settings) -> bool);

#[test]
fn boolean_flags_short_and_long() {
    let cases: &[Switch] = &[
        ("-M", "--disable-evictions", |s| s.no_evict),
        ("-C", "--disable-cas", |s| s.cas_disabled),
        ("-A", "--enable-shutdown", |s| s.allow_shutdown),
        ("-d", "--daemon", |s| s.daemonize),
        ("-k", "--lock-memory", |s| s.lock_memory),
        ("-r", "--enable-coredumps", |s| s.enable_coredumps),
        ("-F", "--disable-flush-all", |s| !s.flush_enabled),
        ("-X", "--disable-dumping", |s| !s.dump_enabled),
        ("-W", "--disable-watch", |s| !s.watch_enabled),
    ];
    for (short, long, check) in cases {
        assert!(!check(&Settings::default()), "{short} is off by default");
        for form in [short, long] {
            let s = serve(&[form]);
            assert!(check(&s), "{form}");
            assert!(s.warnings.is_empty(), "{form}: {:?}", s.warnings);
        }
    }
}

#[test]
fn clustered_flags() {
    let s = serve(&["-MCAd"]);
    assert!(s.no_evict && s.cas_disabled && s.allow_shutdown && s.daemonize);
    let s = serve(&["-vvc5"]);
    assert_eq!((s.verbose, s.max_conns), (2, 5));
}

#[test]
fn verbosity_counts() {
    assert_eq!(serve(&["-v"]).verbose, 1);
    assert_eq!(serve(&["-vv"]).verbose, 2);
    assert_eq!(serve(&["-vvv"]).verbose, 3);
    assert_eq!(serve(&["-v", "-v", "--verbose"]).verbose, 3);
    assert_eq!(serve(&["--verbose=1"]).verbose, 1);
    let many = vec!["-v"; 300];
    assert_eq!(serve(&many).verbose, u8::MAX);
}

#[test]
fn help_version_license() {
    for args in [
        &["-h"][..],
        &["--help"],
        &["-h", "-c", "0"],
        &["-p", "1", "-h"],
    ] {
        match parse(args) {
            Ok(Command::Help(text)) => {
                assert!(text.contains("-p, --port=<num>"), "{text}");
                assert!(text.contains("-o, --extended"));
                assert!(text.contains("idle_timeout"));
            }
            other => panic!("{args:?}: {other:?}"),
        }
    }
    let version = format!(
        "corvid {} (memcached 1.6.18 compatible)",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(parse(&["-V"]), Ok(Command::Version(version.clone())));
    assert_eq!(parse(&["--version"]), Ok(Command::Version(version)));
    match parse(&["-i"]) {
        Ok(Command::Help(text)) => assert!(text.contains("MIT")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(parse(&["--license"]), Ok(Command::Help(_))));
    // Flags are read in order: a bad value before -h is reported.
    assert_eq!(
        message(&["-c", "0", "-h"]),
        "Maximum connections must be greater than 0"
    );
}

#[test]
fn help_lists_every_long_name() {
    let Ok(Command::Help(text)) = parse(&["-h"]) else {
        panic!("no help");
    };
    for long in [
        "port",
        "udp-port",
        "unix-socket",
        "unix-mask",
        "enable-shutdown",
        "listen",
        "daemon",
        "enable-coredumps",
        "user",
        "memory-limit",
        "disable-evictions",
        "conn-limit",
        "lock-memory",
        "verbose",
        "help",
        "license",
        "version",
        "pidfile",
        "slab-growth-factor",
        "slab-min-size",
        "enable-largepages",
        "threads",
        "max-reqs-per-event",
        "disable-cas",
        "listen-backlog",
        "protocol",
        "max-item-size",
        "enable-sasl",
        "disable-flush-all",
        "disable-dumping",
        "disable-watch",
        "auth-file",
        "memory-file",
        "enable-ssl",
        "napi-ids",
        "extended",
    ] {
        assert!(
            text.contains(&format!("--{long}")),
            "--{long} missing from help"
        );
    }
}

#[test]
fn getopt_errors_exit_1() {
    assert_eq!(error(&["-x"]), ("corvid: invalid option -- 'x'".into(), 1));
    assert_eq!(
        error(&["--bogus"]),
        ("corvid: unrecognized option '--bogus'".into(), 1)
    );
    assert_eq!(
        error(&["-p"]),
        ("corvid: option requires an argument -- 'p'".into(), 1)
    );
    assert_eq!(
        error(&["-m"]),
        ("corvid: option requires an argument -- 'm'".into(), 1)
    );
    assert_eq!(
        message(&["-Mvvc"]),
        "corvid: option requires an argument -- 'c'"
    );
    assert_eq!(
        message(&["--mem=2"]),
        "corvid: option '--mem=2' is ambiguous; possibilities: '--memory-limit' '--memory-file'"
    );
    // Long prefixes that are unique work.
    assert_eq!(serve(&["--memory-l=128"]).memory_limit, 128 << 20);
    assert_eq!(serve(&["--thr", "3"]).threads, 3);
}

#[test]
fn stray_words_are_ignored_with_a_warning() {
    let s = serve(&["corvid", "-p", "1", "foo", "--", "-p", "2"]);
    assert_eq!(s.port, 1);
    assert_eq!(
        s.warnings,
        [
            "ignoring argument \"foo\": not an option",
            "ignoring argument \"-p\": not an option",
            "ignoring argument \"2\": not an option"
        ]
    );
}

#[test]
fn a_typical_init_script_line() {
    let s = serve(&[
        "/usr/bin/memcached",
        "-m",
        "1024",
        "-p",
        "11211",
        "-u",
        "memcache",
        "-l",
        "127.0.0.1",
        "-c",
        "4096",
        "-t",
        "8",
        "-v",
        "-P",
        "/var/run/memcached.pid",
    ]);
    assert_eq!(
        (s.memory_limit, s.port, s.max_conns, s.threads, s.verbose),
        (1 << 30, 11211, 4096, 8, 1)
    );
    assert_eq!(s.listen, ["127.0.0.1"]);
    assert!(s.warnings.is_empty());
}
