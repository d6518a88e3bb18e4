//! Where corvid listens and as whom: TCP and UDP ports (`-p -U`, `-1` for any free port),
//! the Unix socket and its mask (`-s -a`), `-l` lists, TLS options (`-Z`, `-o ssl_*`),
//! and the process's user, pid file and listen backlog (`-u -P -b`).

use std::path::PathBuf;

use super::*;

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
