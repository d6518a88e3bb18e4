//! Authentication beyond what memcached's behaviour pins (tests/auth_differential.rs and
//! tests/sasl.rs compare with memcached): a login value over 16 KiB, SIGHUP reloading the
//! users (a bad file keeps the old ones; connections already logged in stay so),
//! passwords never in `stats`, a login over TLS.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};
use support::text::TextClient;
use support::{Implementation, Server, Stream, TempDir, Transport};

fn login(c: &mut TextClient, user: &str, pass: &str) -> String {
    let value = format!("{user} {pass}");
    c.send(format!("set auth 0 0 {}\r\n{value}\r\n", value.len()).as_bytes());
    c.line()
}

fn hup(server: &Server) {
    let pid = server.pid() as i32;
    // SAFETY: kill() with a pid this test spawned and a valid signal number.
    let sent = unsafe { libc::kill(pid, libc::SIGHUP) };
    assert_eq!(sent, 0);
}

#[test]
fn authfile_logins_reload_on_sighup_and_stay_out_of_stats() {
    let dir = TempDir::new("auth");
    let file = dir.path().join("authfile");
    std::fs::write(&file, "foo:s3cret-one\n").expect("write");
    let path = file.display().to_string();
    let server = Server::start(Implementation::Corvid, &["-Y", &path], Transport::Tcp);
    let mut old = TextClient::connect(&server);
    assert_eq!(login(&mut old, "foo", "s3cret-one"), "STORED");
    assert_eq!(old.set("k", b"v"), "STORED");
    let settings = old.stats_group("settings");
    assert_eq!(settings["auth_enabled_ascii"], path);
    let everything = format!("{:?}{:?}", old.stats(), settings);
    assert!(!everything.contains("s3cret"), "a password in stats");

    // A new file: new logins follow it, the old connection stays logged in.
    std::fs::write(&file, "bar:s3cret-two\n").expect("write");
    hup(&server);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = TextClient::connect(&server);
        if login(&mut c, "bar", "s3cret-two") == "STORED" {
            assert_eq!(
                login(&mut TextClient::connect(&server), "foo", "s3cret-one"),
                "CLIENT_ERROR authentication failure"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SIGHUP never reloaded the authfile"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(old.get("k").as_deref(), Some(&b"v"[..]));

    // A malformed file keeps the users loaded before, and says why without the secret.
    std::fs::write(&file, "no colon s3cret-three\n").expect("write");
    hup(&server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("line 1") {
        assert!(
            Instant::now() < deadline,
            "no reload error: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = TextClient::connect(&server);
    assert_eq!(login(&mut c, "bar", "s3cret-two"), "STORED");
    let log = server.log();
    assert!(!log.contains("s3cret"), "a password in the log: {log}");
}

#[test]
fn a_login_value_over_16_kib_is_refused_and_closed() {
    let server = Server::start(
        Implementation::Corvid,
        &["-Y", "tests/scripts/auth/authfile"],
        Transport::Tcp,
    );
    let mut raw = server.connect();
    raw.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    raw.write_all(b"set a 0 0 20000\r\n").expect("write");
    let _ = raw.write_all(&vec![b'x'; 20_002]);
    let mut got = Vec::new();
    let _ = raw.read_to_end(&mut got);
    assert_eq!(got, b"CLIENT_ERROR unauthenticated\r\n");
    // Other clients are served.
    let mut c = TextClient::connect(&server);
    assert_eq!(login(&mut c, "foo", "bar"), "STORED");
}

#[test]
fn an_authfile_login_over_tls() {
    let server = Server::start(
        Implementation::Corvid,
        &["-Y", "tests/scripts/auth/authfile"],
        Transport::Tls,
    );
    let mut c = TextClient::connect(&server);
    assert!(matches!(server.connect(), Stream::Tls(_)));
    c.send(b"get k\r\n");
    assert_eq!(c.line(), "CLIENT_ERROR unauthenticated");
    assert_eq!(login(&mut c, "baaaz", "quux"), "STORED");
    assert_eq!(c.get("k"), None);
}

#[test]
fn a_sasl_request_over_4_kib_is_refused_and_closed() {
    let dir = TempDir::new("pwdb");
    let pwdb = dir.path().join("pwdb");
    std::fs::write(&pwdb, "foo:bar\n").expect("write");
    let env = vec![(
        "MEMCACHED_SASL_PWDB".to_string(),
        pwdb.display().to_string(),
    )];
    let server = support::with_server_env(&env, || {
        Server::start(Implementation::Corvid, &["-S"], Transport::Tcp)
    });
    let mut raw = server.connect();
    raw.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut frame = vec![0x80, 0x21, 0, 5, 0, 0, 0, 0];
    frame.extend_from_slice(&100_000u32.to_be_bytes());
    frame.extend_from_slice(&[0; 12]);
    frame.extend_from_slice(b"PLAIN");
    raw.write_all(&frame).expect("write");
    let mut got = Vec::new();
    let _ = raw.read_to_end(&mut got);
    assert_eq!(&got[24..], b"Auth failure.");
    assert_eq!(u16::from_be_bytes([got[6], got[7]]), 0x20);
}
