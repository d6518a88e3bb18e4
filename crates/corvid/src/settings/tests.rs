//! Each expected message below was taken from memcached 1.6.18 given the same flags,
//! unless the test says Corvid deliberately differs.

use std::ffi::OsString;
use std::path::PathBuf;

use super::*;

fn parse(args: &[&str]) -> Result<Command, SettingsError> {
    parse_args(args.iter().map(OsString::from))
}

fn serve(args: &[&str]) -> Settings {
    match parse(args) {
        Ok(Command::Serve(s)) => *s,
        other => panic!("{args:?} gave {other:?}"),
    }
}

/// The message and exit status of a refused command line.
fn error(args: &[&str]) -> (String, i32) {
    match parse(args) {
        Err(e) => (e.to_string(), e.exit_code()),
        Ok(other) => panic!("{args:?} was accepted: {other:?}"),
    }
}

fn message(args: &[&str]) -> String {
    error(args).0
}

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

#[test]
fn port_forms_and_tcp_off() {
    assert_eq!(serve(&["-p", "12345"]).port, 12345);
    assert_eq!(serve(&["-p12345"]).port, 12345);
    assert_eq!(serve(&["--port=12345"]).port, 12345);
    assert_eq!(serve(&["--port", "12345"]).port, 12345);
    assert_eq!(serve(&["-p", "65535"]).port, 65535);
    let off = serve(&["-p", "0"]);
    assert_eq!((off.port, off.tcp_port()), (0, None));
    // The last of repeated flags wins, as with getopt.
    assert_eq!(serve(&["-p", "1", "-p", "2"]).port, 2);
}

#[test]
fn port_errors() {
    assert_eq!(
        error(&["-p", "65536"]),
        ("ERROR: Invalid port number 65536.".into(), 64)
    );
    assert_eq!(
        message(&["-p", "70000"]),
        "ERROR: Invalid port number 70000."
    );
    // memcached reads these with atoi (TCP off, or an ephemeral port); Corvid refuses.
    assert_eq!(
        error(&["-p", "abc"]),
        ("Invalid number for -p: \"abc\"".into(), 64)
    );
    // -1 is memcached's "any free port" (tests/port_file.rs); below it, memcached's
    // bind fails (exit 71) and Corvid refuses the number.
    assert_eq!(message(&["-p", "-2"]), "ERROR: Invalid port number -2.");
    assert_eq!(message(&["-U", "-2"]), "ERROR: Invalid port number -2.");
    assert_eq!(
        message(&["-p", "11211x"]),
        "Invalid number for -p: \"11211x\""
    );
    assert_eq!(
        message(&["-U", "70000"]),
        "ERROR: Invalid port number 70000."
    );
}

#[test]
fn minus_one_asks_for_any_free_port() {
    let s = serve(&["-p", "-1"]);
    assert_eq!((s.port, s.tcp_port()), (-1, Some(0)));
    let s = serve(&["-p", "-1", "-U", "-1"]);
    assert_eq!((s.udp_port, s.udp_bind_port()), (-1, Some(0)));
    // As memcached: -U without -p moves TCP too, to "any free port" as well.
    let s = serve(&["-U", "-1"]);
    assert_eq!((s.port, s.udp_port), (-1, -1));
    assert_eq!(serve(&["-U", "0"]).udp_bind_port(), None);
    assert_eq!(serve(&["-s", "/x", "-U", "5"]).udp_bind_port(), None);
}

#[test]
fn udp_moves_tcp_when_p_is_absent() {
    let s = serve(&["-U", "23470"]);
    assert_eq!((s.udp_port, s.port), (23470, 23470));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let s = serve(&["-p", "1", "--udp-port=2"]);
    assert_eq!((s.port, s.udp_port), (1, 2));
    let s = serve(&["-U", "0"]);
    assert_eq!((s.port, s.udp_port), (11211, 0));
    assert!(s.warnings.is_empty());
}

#[test]
fn unix_socket_turns_tcp_and_udp_off() {
    let s = serve(&["-s", "/tmp/c.sock", "-U", "5"]);
    assert_eq!(s.unix_socket, Some(PathBuf::from("/tmp/c.sock")));
    assert_eq!(s.tcp_port(), None);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        serve(&["--unix-socket=/x"]).unix_socket,
        Some(PathBuf::from("/x"))
    );
}

#[test]
fn memory_file_is_taken() {
    assert_eq!(serve(&[]).memory_file, None);
    for args in [
        &["-e", "/dev/shm/m"][..],
        &["-e/dev/shm/m"],
        &["--memory-file=/dev/shm/m"],
        &["--memory-file", "/dev/shm/m"],
    ] {
        let s = serve(args);
        assert_eq!(
            s.memory_file.as_deref(),
            Some(std::path::Path::new("/dev/shm/m"))
        );
        assert!(s.warnings.is_empty(), "{args:?}: {:?}", s.warnings);
    }
    assert_eq!(error(&["-e", ""]).0, "-e: the memory file name is empty");
}

#[test]
fn unix_mask_is_octal() {
    assert_eq!(serve(&["-a", "755"]).unix_mask, 0o755);
    assert_eq!(serve(&["-a0777"]).unix_mask, 0o777);
    assert_eq!(serve(&["--unix-mask=7777"]).unix_mask, 0o7777);
    assert_eq!(
        error(&["-a", "9"]),
        ("Invalid octal mask for -a: \"9\"".into(), 64)
    );
    assert_eq!(
        message(&["-a", "abc"]),
        "Invalid octal mask for -a: \"abc\""
    );
    assert_eq!(
        message(&["-a", "17777"]),
        "Invalid octal mask for -a: \"17777\""
    );
}

#[test]
fn listen_lists_add_up() {
    assert_eq!(serve(&["-l", "127.0.0.1"]).listen, ["127.0.0.1"]);
    assert_eq!(
        serve(&[
            "-l",
            "127.0.0.1,::1",
            "--listen=10.0.0.1:5",
            "-l",
            "127.0.0.1"
        ])
        .listen,
        ["127.0.0.1", "::1", "10.0.0.1:5"]
    );
    assert_eq!(serve(&["-l", "127.0.0.1,"]).listen, ["127.0.0.1"]);
    assert_eq!(
        error(&["-l", "notls:127.0.0.1"]),
        (
            "'notls' option is valid only when SSL is enabled".into(),
            71
        )
    );
    assert_eq!(
        error(&["-l", "mtls:127.0.0.1"]),
        ("'mtls' option is valid only when SSL is enabled".into(), 71)
    );
    // -Z may come after the prefixed address.
    let s = serve(&["-l", "notls:127.0.0.1:1,mtls:127.0.0.1:2", "-Z"]);
    assert_eq!(s.listen, ["notls:127.0.0.1:1", "mtls:127.0.0.1:2"]);
    assert!(s.tls_enabled);
}

#[test]
fn tls_options_take_memcached_numbers_and_refuse_what_rustls_lacks() {
    let s = serve(&[
        "-Z",
        "-o",
        "ssl_chain_cert=/c,ssl_key=/k,ssl_verify_mode=2,ssl_min_version=3,ssl_wbuf_size=4",
    ]);
    assert_eq!(
        s.tls.chain_cert.as_deref(),
        Some(std::path::Path::new("/c"))
    );
    assert_eq!(s.tls.verify_mode, channel::tls::VerifyMode::Require);
    assert_eq!(s.tls.min_version, channel::tls::MinVersion::Tls13);
    assert_eq!(s.tls.wbuf_size, 4096);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let (text, code) = error(&["-o", "ssl_min_version=1"]);
    assert!(text.contains("TLS 1.0 and 1.1 are not supported"), "{text}");
    assert_eq!(code, 1);
    assert_eq!(
        error(&["-o", "ssl_verify_mode=4"]).0,
        "Invalid ssl_verify_mode. Use help to see valid options."
    );
    assert!(error(&["-o", "ssl_keyformat=3"])
        .0
        .contains("OpenSSL engine"));
    assert_eq!(
        error(&["-Z", "-p", "0"]),
        (
            "ERROR: You cannot enable SSL without a TCP port.".into(),
            64
        )
    );
    assert_eq!(
        error(&["-Z", "-s", "/tmp/x.sock"]),
        (
            "ERROR: You cannot enable SSL without a TCP port.".into(),
            64
        )
    );
}

#[test]
fn memory_limit_is_mebibytes() {
    assert_eq!(serve(&["-m", "1024"]).memory_limit, 1 << 30);
    assert_eq!(serve(&["--memory-limit=128"]).memory_limit, 128 << 20);
    assert_eq!(serve(&["-m2", "-I", "1m"]).memory_limit, 2 << 20);
    assert_eq!(
        error(&["-m", "0"]),
        (
            "Cannot set item size limit higher than 1/2 of memory max.".into(),
            64
        )
    );
    assert_eq!(
        message(&["-m", "1"]),
        "Cannot set item size limit higher than 1/2 of memory max."
    );
    // memcached's atoi reads "1g" as 1 MiB; Corvid refuses it rather than guess.
    assert_eq!(message(&["-m", "1g"]), "Invalid number for -m: \"1g\"");
    assert_eq!(message(&["-m", "-1"]), "Invalid number for -m: \"-1\"");
    assert_eq!(
        message(&["-m", "99999999999999999"]),
        "Invalid number for -m: \"99999999999999999\""
    );
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
fn connection_limit() {
    assert_eq!(serve(&["-c", "10"]).max_conns, 10);
    assert_eq!(serve(&["--conn-limit=4096"]).max_conns, 4096);
    let expected = ("Maximum connections must be greater than 0".to_string(), 1);
    assert_eq!(error(&["-c", "0"]), expected);
    assert_eq!(error(&["-c", "-1"]), expected);
    assert_eq!(message(&["-c", "abc"]), "Invalid number for -c: \"abc\"");
}

#[test]
fn threads() {
    assert_eq!(serve(&["-t", "2"]).threads, 2);
    assert_eq!(serve(&["--threads=8"]).threads, 8);
    let expected = ("Number of threads must be greater than 0".to_string(), 1);
    assert_eq!(error(&["-t", "0"]), expected);
    assert_eq!(error(&["-t", "-1"]), expected);
    let s = serve(&["-t", "65"]);
    assert_eq!(s.threads, 65);
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].starts_with("-t 65: "), "{:?}", s.warnings);
    assert!(serve(&["-t", "64"]).warnings.is_empty());
}

#[test]
fn requests_per_event() {
    assert_eq!(serve(&["-R", "5"]).reqs_per_event, 5);
    assert_eq!(serve(&["--max-reqs-per-event=100"]).reqs_per_event, 100);
    assert_eq!(
        error(&["-R", "0"]),
        (
            "Number of requests per event must be greater than 0".into(),
            1
        )
    );
    // memcached accepts a negative -R; Corvid does not.
    assert_eq!(
        message(&["-R", "-1"]),
        "Number of requests per event must be greater than 0"
    );
}

#[test]
fn item_size_units() {
    assert_eq!(serve(&["-I", "1m"]).item_size_max, 1 << 20);
    assert_eq!(serve(&["-I", "2M"]).item_size_max, 2 << 20);
    assert_eq!(serve(&["-I", "1536k"]).item_size_max, 1536 << 10);
    assert_eq!(serve(&["-I", "512K"]).item_size_max, 512 << 10);
    assert_eq!(serve(&["-I", "1048576"]).item_size_max, 1 << 20);
    assert_eq!(serve(&["--max-item-size=4m"]).item_size_max, 4 << 20);
    assert_eq!(serve(&["-m", "4096", "-I", "1024m"]).item_size_max, 1 << 30);
    // g is Corvid's addition: memcached's atoi would read "1g" as 1 byte.
    assert_eq!(serve(&["-m", "4096", "-I", "1g"]).item_size_max, 1 << 30);
}

#[test]
fn item_size_limits() {
    let too_small = (
        "Item max size cannot be less than 1024 bytes.".to_string(),
        64,
    );
    assert_eq!(error(&["-I", "1000"]), too_small);
    assert_eq!(error(&["-I", "1023"]), too_small);
    assert_eq!(error(&["-I", "-5"]), too_small);
    assert_eq!(error(&["-I", "0k"]), too_small);
    assert_eq!(
        error(&["-I", "33m"]),
        (
            "Cannot set item size limit higher than 1/2 of memory max.".into(),
            64
        )
    );
    assert_eq!(
        message(&["-I", "2g"]),
        "Cannot set item size limit higher than 1/2 of memory max."
    );
    assert_eq!(
        message(&["-m", "8192", "-I", "2g"]),
        "Cannot set item size limit higher than a gigabyte."
    );
    assert_eq!(
        message(&["-m", "4096", "-I", "1025m"]),
        "Cannot set item size limit higher than a gigabyte."
    );
    // Too large to represent is simply too large.
    assert_eq!(
        message(&["-m", "99999", "-I", "99999999999g"]),
        "Cannot set item size limit higher than 1/2 of memory max."
    );
    for bad in ["abc", "1mb", "1.5m", "m", "1t", ""] {
        assert_eq!(
            error(&["-I", bad]),
            (format!("Invalid number for -I: \"{bad}\""), 64)
        );
    }
}

#[test]
fn item_size_follows_memcacheds_slab_rules() {
    // memcached 1.6.18 refuses -I below its 512k slab chunk, and non-multiples of it.
    assert_eq!(
        message(&["-I", "1k"]),
        "slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 1024)"
    );
    assert_eq!(
        message(&["-I", "100k"]),
        "slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 102400)"
    );
    assert_eq!(
        message(&["-I", "600k"]),
        "-I (item_size_max: 614400) must be evenly divisible by slab_chunk_max (bytes: 524288)"
    );
    assert_eq!(serve(&["-I", "512k"]).item_size_max, 512 << 10);
    // ... unless -o slab_chunk_max (in bytes, in 1.6.18) says otherwise.
    let s = serve(&["-I", "1k", "-o", "slab_chunk_max=1024"]);
    assert_eq!(s.item_size_max, 1024);
    assert_eq!(
        s.warnings,
        ["-o slab_chunk_max: not used by corvid; ignored"]
    );
    assert_eq!(
        serve(&["-o", "slab_chunk_max=4", "-I", "100k"]).item_size_max,
        102400
    );
    assert_eq!(
        message(&["-I", "100k", "-o", "slab_chunk_max=3"]),
        "-I (item_size_max: 102400) must be evenly divisible by slab_chunk_max (bytes: 3)"
    );
    assert_eq!(
        message(&["-I", "1k", "-o", "slab_chunk_max=1025"]),
        "slab_chunk_max (bytes: 1025) cannot be larger than -I (item_size_max 1024)"
    );
    assert_eq!(
        message(&["-o", "slab_chunk_max=2097152", "-I", "2m"]),
        "slab_chunk_max (bytes: 2097152) must divide evenly into 1048576 (slab_page_size)"
    );
    assert_eq!(
        error(&["-o", "slab_chunk_max=0"]),
        ("slab_chunk_max must be greater than 0".into(), 1)
    );
    assert_eq!(
        message(&["-o", "slab_chunk_max=abc"]),
        "could not parse argument to slab_chunk_max"
    );
    assert_eq!(
        message(&["-o", "slab_chunk_max"]),
        "Missing slab_chunk_max argument"
    );
}

#[test]
fn protocol_modes() {
    assert_eq!(serve(&["-B", "auto"]).protocol, ProtocolMode::Auto);
    assert_eq!(serve(&["-B", "ascii"]).protocol, ProtocolMode::Ascii);
    assert!(serve(&["-B", "ascii"]).warnings.is_empty());
    let s = serve(&["--protocol=binary"]);
    assert_eq!(s.protocol, ProtocolMode::Binary);
    // Binary is served: no warning any more.
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        error(&["-B", "http"]),
        (
            "Invalid value for binding protocol: http -- should be one of auto, binary, or ascii"
                .into(),
            64
        )
    );
    assert!(message(&["-B", "ASCII"]).starts_with("Invalid value for binding protocol: ASCII"));
}

#[test]
fn user_pidfile_backlog() {
    let s = serve(&["-u", "nobody", "-P", "/run/c.pid", "-b", "512"]);
    assert_eq!(s.user.as_deref(), Some("nobody"));
    assert_eq!(s.pid_file, Some(PathBuf::from("/run/c.pid")));
    assert_eq!(s.backlog, 512);
    let s = serve(&["--user=memcache", "--pidfile=/p", "--listen-backlog=0"]);
    assert_eq!(s.user.as_deref(), Some("memcache"));
    assert_eq!(s.pid_file, Some(PathBuf::from("/p")));
    assert_eq!(s.backlog, 0);
    assert_eq!(message(&["-b", "-1"]), "Invalid number for -b: \"-1\"");
}

#[test]
fn ignored_flags_warn_once_each() {
    let cases: &[(&[&str], &str)] = &[
        (&["-L"], "-L: large pages are not supported; ignored"),
        (
            &["--enable-largepages"],
            "-L: large pages are not supported; ignored",
        ),
        (&["-f", "1.5"], "-f: corvid has no slab classes; ignored"),
        (
            &["--slab-growth-factor=2"],
            "-f: corvid has no slab classes; ignored",
        ),
        (&["-n", "64"], "-n: corvid has no slab classes; ignored"),
        (
            &["--slab-min-size=64"],
            "-n: corvid has no slab classes; ignored",
        ),
        (
            &["-D", ":"],
            "-D: per-prefix stats are not supported; ignored",
        ),
        (&["-N", "2"], "-N: NAPI ids are not supported; ignored"),
        (&["--napi-ids=2"], "-N: NAPI ids are not supported; ignored"),
    ];
    for (args, warning) in cases {
        assert_eq!(serve(args).warnings, [*warning], "{args:?}");
    }
    assert_eq!(serve(&["-L", "-L"]).warnings.len(), 1);
}

#[test]
fn ignored_flags_still_check_their_values() {
    assert_eq!(
        error(&["-f", "1"]),
        ("Factor must be greater than 1".into(), 1)
    );
    assert_eq!(message(&["-f", "0.5"]), "Factor must be greater than 1");
    assert_eq!(message(&["-f", "abc"]), "Invalid number for -f: \"abc\"");
    assert_eq!(
        error(&["-n", "0"]),
        ("Chunk size must be greater than 0".into(), 1)
    );
    assert_eq!(error(&["-D", ""]), ("No delimiter specified".into(), 1));
    assert_eq!(
        error(&["-N", "0"]),
        (
            "Maximum number of NAPI IDs must be greater than 0".into(),
            1
        )
    );
    assert_eq!(
        error(&["-N", "5", "-t", "2"]),
        (
            "Number of napi_ids(5) cannot be greater than number of threads(2)".into(),
            64
        )
    );
}

#[test]
fn logins_serve_one_protocol_and_never_udp_as_memcached() {
    let s = serve(&["-Y", "/etc/auth"]);
    assert_eq!(
        s.auth_file.as_deref(),
        Some(std::path::Path::new("/etc/auth"))
    );
    assert_eq!(s.protocol, ProtocolMode::Ascii);
    assert_eq!(serve(&["-S"]).protocol, ProtocolMode::Binary);
    assert_eq!(
        serve(&["-S", "-B", "binary"]).protocol,
        ProtocolMode::Binary
    );
    assert_eq!(
        serve(&["--auth-file=/x", "-B", "ascii"]).protocol,
        ProtocolMode::Ascii
    );
    for (args, text) in [
        (
            &["-Y", "/x", "-B", "auto"][..],
            "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.",
        ),
        (
            &["-Y", "/x", "-U", "5"],
            "Cannot use UDP with ascii authentication enabled (-U 0 to disable)",
        ),
        (
            &["-S", "-B", "ascii"],
            "ERROR: You cannot allow the ASCII protocol while using SASL.",
        ),
        (
            &["--enable-sasl", "-U", "5"],
            "ERROR: Cannot enable UDP while using binary SASL authentication.",
        ),
    ] {
        assert_eq!(error(args), (text.to_string(), 64), "{args:?}");
    }
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
fn idle_timeout_is_applied() {
    let s = serve(&["-o", "idle_timeout=30"]);
    assert_eq!(s.idle_timeout, 30);
    assert!(s.warnings.is_empty());
    assert_eq!(serve(&["--extended=idle_timeout=5"]).idle_timeout, 5);
    assert_eq!(serve(&["-oidle_timeout=7"]).idle_timeout, 7);
    assert_eq!(
        error(&["-o", "idle_timeout"]),
        ("Missing numeric argument for idle_timeout".into(), 1)
    );
    assert_eq!(
        message(&["-o", "idle_timeout=abc"]),
        "could not parse argument to idle_timeout"
    );
}

#[test]
fn maxconns_fast_and_modern() {
    assert!(!serve(&["-o", "no_maxconns_fast"]).maxconns_fast);
    assert!(serve(&["-o", "no_maxconns_fast,maxconns_fast"]).maxconns_fast);
    let s = serve(&["-o", "modern"]);
    assert!(s.warnings.is_empty());
}

#[test]
fn extended_lists_parse_like_getsubopt() {
    let s = serve(&["-o", "idle_timeout=5,no_maxconns_fast,"]);
    assert_eq!((s.idle_timeout, s.maxconns_fast), (5, false));
    assert_eq!(serve(&["-o", ""]), Settings::default());
    let s = serve(&["-o", "idle_timeout=5", "-o", "hashpower=20"]);
    assert_eq!(s.idle_timeout, 5);
    assert_eq!(s.warnings, ["-o hashpower: not used by corvid; ignored"]);
    // Flag keys ignore a value, as in memcached.
    assert!(serve(&["-o", "modern=1"]).warnings.is_empty());
    assert_eq!(
        error(&["-o", "idle_timeout=5,bogus"]),
        ("Illegal suboption \"bogus\"".into(), 1)
    );
    assert_eq!(message(&["-o", "bogus=1"]), "Illegal suboption \"bogus=1\"");
    assert_eq!(
        message(&["-o", ",idle_timeout=5"]),
        "Illegal suboption \"\""
    );
    assert_eq!(message(&["-o", "a,,b"]), "Illegal suboption \"a\"");
    assert_eq!(
        message(&["-o", "lru_segmented"]),
        "Illegal suboption \"lru_segmented\""
    );
    assert_eq!(
        message(&["-o", "proxy_config=x"]),
        "Illegal suboption \"proxy_config=x\""
    );
    assert_eq!(
        message(&["-o"]),
        "corvid: option requires an argument -- 'o'"
    );
}

/// Every -o key memcached 1.6.18 (Debian build: TLS and extstore, no proxy) accepts,
/// with a value it accepts.
const ACCEPTED_KEYS: &[&str] = &[
    "hashpower=16",
    "no_hashexpand",
    "slab_reassign",
    "slab_automove",
    "slab_automove=1",
    "slab_automove_ratio=0.5",
    "slab_automove_window=30",
    "tail_repair_time=60",
    "hash_algorithm=xxh3",
    "hash_algorithm=jenkins",
    "hash_algorithm=murmur3",
    "lru_crawler",
    "lru_crawler_sleep=100",
    "lru_crawler_tocrawl=0",
    "lru_maintainer",
    "hot_lru_pct=20",
    "warm_lru_pct=40",
    "hot_max_factor=0.2",
    "warm_max_factor=2.0",
    "temporary_ttl=61",
    "watcher_logbuf_size=256",
    "worker_logbuf_size=64",
    "slab_sizes=96-120",
    "slab_chunk_max=524288",
    "track_sizes",
    "no_inline_ascii_resp",
    "inline_ascii_resp",
    "no_modern",
    "no_chunked_items",
    "no_slab_reassign",
    "no_slab_automove",
    "no_lru_crawler",
    "no_lru_maintainer",
    "no_drop_privileges",
    "drop_privileges",
    "resp_obj_mem_limit=1",
    "read_buf_mem_limit=0",
    "ssl_kernel_tls",
    "sock_cookie_id=1",
    "ext_page_size=64",
    "ext_wbuf_size=4",
    "ext_threads=1",
    "ext_io_depth=1",
    "ext_path=/tmp/e:64m",
    "ext_item_size=512",
    "ext_item_age=10",
    "ext_low_ttl=0",
    "ext_recache_rate=2000",
    "ext_compact_under=1",
    "ext_drop_under=1",
    "ext_max_sleep=100",
    "ext_max_frag=0.8",
    "slab_automove_freeratio=0.01",
    "ext_drop_unread",
];

#[test]
fn every_memcached_extended_key_is_accepted_with_one_warning() {
    for item in ACCEPTED_KEYS {
        let s = serve(&["-o", item]);
        let key = item.split('=').next().unwrap_or_default();
        // The disk tier's keys are served, not ignored: no warning.
        if key.starts_with("ext_") {
            assert!(s.warnings.is_empty(), "{item}: {:?}", s.warnings);
            continue;
        }
        assert_eq!(s.warnings.len(), 1, "{item}: {:?}", s.warnings);
        assert!(
            s.warnings[0].starts_with(&format!("-o {key}: ")),
            "{:?}",
            s.warnings
        );
    }
    // One line per key, however often it is given.
    let s = serve(&[
        "-o",
        "temporary_ttl=1,temporary_ttl=2",
        "-o",
        "temporary_ttl=3",
    ]);
    assert_eq!(s.warnings.len(), 1);
}

#[test]
fn extended_keys_that_need_a_value_say_so() {
    let cases = [
        ("hashpower", "Missing numeric argument for hashpower"),
        (
            "tail_repair_time",
            "Missing numeric argument for tail_repair_time",
        ),
        ("hash_algorithm", "Missing hash_algorithm argument"),
        ("lru_crawler_sleep", "Missing lru_crawler_sleep value"),
        ("lru_crawler_tocrawl", "Missing lru_crawler_tocrawl value"),
        (
            "slab_automove_ratio",
            "Missing slab_automove_ratio argument",
        ),
        (
            "slab_automove_window",
            "Missing slab_automove_window argument",
        ),
        ("hot_lru_pct", "Missing hot_lru_pct argument"),
        ("warm_lru_pct", "Missing warm_lru_pct argument"),
        ("hot_max_factor", "Missing hot_max_factor argument"),
        ("warm_max_factor", "Missing warm_max_factor argument"),
        ("temporary_ttl", "Missing temporary_ttl argument"),
        (
            "watcher_logbuf_size",
            "Missing watcher_logbuf_size argument",
        ),
        ("worker_logbuf_size", "Missing worker_logbuf_size argument"),
        ("read_buf_mem_limit", "Missing read_buf_mem_limit argument"),
        ("slab_sizes", "Missing slab_sizes argument"),
        ("sock_cookie_id", "Missing sock_cookie_id argument"),
        ("ssl_chain_cert", "Missing ssl_chain_cert argument"),
        ("ssl_key", "Missing ssl_key argument"),
        ("ssl_verify_mode", "Missing ssl_verify_mode argument"),
        ("ssl_keyformat", "Missing ssl_keyformat argument"),
        ("ssl_ciphers", "Missing ssl_ciphers argument"),
        ("ssl_ca_cert", "Missing ssl_ca_cert argument"),
        ("ssl_wbuf_size", "Missing ssl_wbuf_size argument"),
        ("ssl_min_version", "Missing ssl_min_version argument"),
        ("ext_page_size", "Missing ext_page_size argument"),
        ("ext_wbuf_size", "Missing ext_wbuf_size argument"),
        ("ext_threads", "Missing ext_threads argument"),
        ("ext_io_depth", "Missing ext_io_depth argument"),
        ("ext_item_size", "Missing ext_item_size argument"),
        ("ext_item_age", "Missing ext_item_age argument"),
        ("ext_low_ttl", "Missing ext_low_ttl argument"),
        ("ext_recache_rate", "Missing ext_recache_rate argument"),
        ("ext_compact_under", "Missing ext_compact_under argument"),
        ("ext_drop_under", "Missing ext_drop_under argument"),
        ("ext_max_sleep", "Missing ext_max_sleep argument"),
        ("ext_max_frag", "Missing ext_max_frag argument"),
        (
            "slab_automove_freeratio",
            "Missing slab_automove_freeratio argument",
        ),
        (
            "ext_path",
            "missing argument to ext_path, ie: ext_path=/d/file:5G",
        ),
    ];
    for (key, expected) in cases {
        assert_eq!(error(&["-o", key]), (expected.to_string(), 1), "{key}");
    }
}

#[test]
fn extended_values_memcached_checks() {
    let cases: &[(&str, &str)] = &[
        (
            "hashpower=11",
            "Initial hashtable multiplier of 11 is too low",
        ),
        (
            "hashpower=33",
            "Initial hashtable multiplier of 33 is too high",
        ),
        (
            "tail_repair_time=9",
            "Cannot set tail_repair_time to less than 10 seconds",
        ),
        (
            "hash_algorithm=md5",
            "Unknown hash_algorithm option (jenkins, murmur3, xxh3)",
        ),
        (
            "lru_crawler_sleep=1000001",
            "LRU crawler sleep must be between 0 and 1 second",
        ),
        (
            "lru_crawler_tocrawl=-1",
            "lru_crawler_tocrawl takes a numeric 32bit value",
        ),
        ("hot_lru_pct=80", "hot_lru_pct must be > 1 and < 80"),
        ("warm_lru_pct=0", "warm_lru_pct must be > 1 and < 80"),
        ("hot_max_factor=0", "hot_max_factor must be > 0"),
        ("warm_max_factor=-1", "warm_max_factor must be > 0"),
        ("slab_automove=3", "slab_automove must be between 0 and 2"),
        (
            "slab_automove_ratio=0",
            "slab_automove_ratio must be > 0 and < 1",
        ),
        ("slab_automove_window=2", "slab_automove_window must be > 2"),
        (
            "ssl_verify_mode=4",
            "Invalid ssl_verify_mode. Use help to see valid options.",
        ),
        (
            "ssl_min_version=4",
            "Invalid ssl_min_version. Use help to see valid options.",
        ),
        (
            "ssl_keyformat=x",
            "could not parse argument to ssl_keyformat",
        ),
        (
            "watcher_logbuf_size=abc",
            "could not parse argument to watcher_logbuf_size",
        ),
        (
            "read_buf_mem_limit=abc",
            "could not parse argument to read_buf_mem_limit",
        ),
        ("ext_threads=x", "could not parse argument to ext_threads"),
        ("ext_max_frag=x", "could not parse argument to ext_max_frag"),
        (
            "ext_path=/tmp/e",
            // memcached 1.6.18 prints both lines.
            "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)\n\
             failed to parse ext_path argument",
        ),
    ];
    for (item, expected) in cases {
        assert_eq!(error(&["-o", item]), (expected.to_string(), 1), "{item}");
    }
    assert_eq!(
        error(&["-o", "hot_lru_pct=50,warm_lru_pct=40"]),
        (
            "hot_lru_pct + warm_lru_pct cannot be more than 80% combined".into(),
            64
        )
    );
    assert_eq!(
        error(&["-o", "no_lru_maintainer,temporary_ttl=10"]),
        (
            "temporary_ttl requires lru_maintainer to be enabled".into(),
            64
        )
    );
    assert_eq!(serve(&["-o", "hot_lru_pct=1"]).warnings.len(), 1);
}

#[test]
fn non_utf8_paths_are_kept_and_other_values_refused() {
    use std::os::unix::ffi::OsStringExt;
    let odd = OsString::from_vec(vec![b'/', 0xff]);
    let got = parse_args([OsString::from("-s"), odd.clone()]);
    match got {
        Ok(Command::Serve(s)) => assert_eq!(s.unix_socket, Some(PathBuf::from(odd.clone()))),
        other => panic!("{other:?}"),
    }
    let err = parse_args([OsString::from("-u"), odd]).unwrap_err();
    assert_eq!(err.to_string(), "-u: argument is not valid UTF-8");
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
