use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::proxy_command::usage;

fn parse(args: &[&str]) -> Result<ProxyCommand, String> {
    parse_args(args.iter().map(OsString::from)).map_err(|e| e.message)
}

fn settings(args: &[&str]) -> ProxySettings {
    match parse(args).unwrap() {
        ProxyCommand::Run(s) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults_are_debian_nutcrackers() {
    let s = settings(&[]);
    assert_eq!(s.conf_file, PathBuf::from("/etc/nutcracker/nutcracker.yml"));
    assert_eq!(
        s.output,
        PathBuf::from("/var/log/nutcracker/nutcracker.log")
    );
    assert_eq!(s.stats_port, 22222);
    assert_eq!(s.stats_addr, "0.0.0.0");
    assert_eq!(s.stats_interval, Duration::from_millis(30_000));
    assert_eq!(s.verbosity, 5);
    assert_eq!(s.mbuf_size, 16_384);
    assert!(!s.daemonize && !s.test_conf);
    assert_eq!(s.pid_file, None);
    assert_eq!(s.threads, 4);
    assert_eq!(s.toml, None);
}

#[test]
fn every_flag_short_and_long() {
    let s = settings(&[
        "-c",
        "a.yml",
        "-s",
        "2000",
        "-a",
        "127.0.0.1",
        "-i",
        "100",
        "-o",
        "/tmp/l",
        "-v",
        "7",
        "-d",
        "-p",
        "/tmp/p",
        "-m",
        "1024",
        "-t",
    ]);
    assert_eq!(s.conf_file, PathBuf::from("a.yml"));
    assert_eq!(s.stats_port, 2000);
    assert_eq!(s.stats_addr, "127.0.0.1");
    assert_eq!(s.stats_interval, Duration::from_millis(100));
    assert_eq!(s.output, PathBuf::from("/tmp/l"));
    assert_eq!(s.verbosity, 7);
    assert!(s.daemonize && s.test_conf);
    assert_eq!(s.pid_file, Some(PathBuf::from("/tmp/p")));
    assert_eq!(s.mbuf_size, 1024);
    let l = settings(&[
        "--conf-file=b.yml",
        "--stats-port",
        "3000",
        "--stats-addr=::1",
        "--stats-interval=5",
        "--output=/tmp/o",
        "--verbose=11",
        "--daemonize",
        "--pid-file=/tmp/q",
        "--mbuf-size=512",
        "--test-conf",
        "--threads=2",
        "--toml",
        "r.toml",
        "--explain=k1",
        "--explain",
        "k2",
        "--io-backend=uring",
    ]);
    assert_eq!(l.conf_file, PathBuf::from("b.yml"));
    assert_eq!(l.stats_port, 3000);
    assert_eq!(l.verbosity, 11);
    assert_eq!(l.threads, 2);
    assert_eq!(l.toml, Some(PathBuf::from("r.toml")));
    assert_eq!(l.explain, ["k1", "k2"]);
    assert_eq!(l.io_backend, server::IoBackend::Uring);
    assert_eq!(settings(&[]).io_backend, server::IoBackend::Epoll);
    // Both spellings of the verbosity flag, and unique prefixes.
    assert_eq!(settings(&["--verbosity=3"]).verbosity, 3);
    assert_eq!(settings(&["--verbos=3"]).verbosity, 3);
    assert_eq!(settings(&["--conf=x"]).conf_file, PathBuf::from("x"));
}

#[test]
fn verbosity_above_eleven_is_eleven() {
    assert_eq!(settings(&["-v", "12"]).verbosity, 11);
    assert_eq!(settings(&["-v", "0"]).verbosity, 0);
}

#[test]
fn version_help_and_stats_end_the_command() {
    let describe = |help, stats| Ok(ProxyCommand::Describe { help, stats });
    assert_eq!(parse(&["-V"]), describe(false, false));
    assert_eq!(parse(&["-t", "-V"]), describe(false, false));
    assert_eq!(parse(&["-h"]), describe(true, false));
    assert_eq!(parse(&["-D"]), describe(false, true));
    assert_eq!(parse(&["-hD"]), describe(true, true));
    // Words that are not options are ignored, as nutcracker ignores them.
    assert!(matches!(parse(&["extra", "-t"]), Ok(ProxyCommand::Run(_))));
}

#[test]
fn nutcrackers_messages_for_bad_values() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["-s", "0"],
            "corvid: option -s value 0 is not a valid port",
        ),
        (
            &["-s", "70000"],
            "corvid: option -s value 70000 is not a valid port",
        ),
        (&["-s", "abc"], "corvid: option -s requires a number"),
        (&["-s", "-1"], "corvid: option -s requires a number"),
        (&["--stats-port=x"], "corvid: option -s requires a number"),
        (&["-v", "x"], "corvid: option -v requires a number"),
        (&["-vv"], "corvid: option -v requires a number"),
        (&["-i", "x"], "corvid: option -i requires a number"),
        (&["-m", "x"], "corvid: option -m requires a non-zero number"),
        (&["-m", "0"], "corvid: option -m requires a non-zero number"),
        (
            &["-m", "1"],
            "corvid: mbuf chunk size must be between 512 and 16777216 bytes",
        ),
        (
            &["-m", "16777217"],
            "corvid: mbuf chunk size must be between 512 and 16777216 bytes",
        ),
        (&["-c"], "corvid: option -c requires a file name"),
        (&["--conf-file"], "corvid: option -c requires a file name"),
        (&["-o"], "corvid: option -o requires a file name"),
        (&["-p"], "corvid: option -p requires a file name"),
        (&["-a"], "corvid: option -a requires a string"),
        (&["-s"], "corvid: option -s requires a number"),
        (&["-x"], "corvid: invalid option -- 'x'"),
        (
            &["--threads=0"],
            "corvid: option --threads must be at least 1",
        ),
        (&["--explain"], "corvid: option --explain requires a key"),
        (
            &["--io-backend"],
            "corvid: option --io-backend requires epoll or uring",
        ),
        (
            &["--io-backend=kqueue"],
            "corvid: option --io-backend must be epoll or uring, not 'kqueue'",
        ),
        (&["--bogus"], "corvid: unrecognized option '--bogus'"),
    ];
    for (args, message) in cases {
        assert_eq!(parse(args).unwrap_err(), *message, "{args:?}");
    }
    let ambiguous = parse(&["--stats"]).unwrap_err();
    assert!(
        ambiguous.starts_with("corvid: option '--stats' is ambiguous"),
        "{ambiguous}"
    );
}

#[test]
fn usage_lists_every_option() {
    let text = usage::usage();
    for spec in OPTIONS {
        let long = spec.long.unwrap();
        assert!(
            text.contains(&format!("--{long}")) || long == "verbosity",
            "{long}"
        );
    }
}
