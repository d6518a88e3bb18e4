//! `-S` (binary SASL) against memcached 1.6.18 started with `-S`: the scripts under
//! tests/scripts/sasl/ byte for byte, and CRAM-MD5, whose challenge differs from server
//! to server, by computing each server's answer. The users are made at test time:
//! memcached reads them from a Cyrus sasldb (`saslpasswd2`, Debian's sasl2-bin, and a
//! `memcached.conf` with `mech_list: cram-md5 plain` under `SASL_CONF_PATH`), corvid from
//! the `user:password` file `MEMCACHED_SASL_PWDB` names.

#[macro_use]
mod support;

use std::io::{Read, Write};
use support::{Implementation, Server, TempDir, Transport};

const USERS: &[(&str, &str)] = &[("foo", "bar"), ("baaaz", "quux")];

/// The environment both servers start with, and the directory holding its files.
fn sasl_env() -> (TempDir, Vec<(String, String)>) {
    let dir = TempDir::new("sasl");
    let db = dir.path().join("sasldb2");
    for (user, pass) in USERS {
        let mut child = std::process::Command::new("saslpasswd2")
            .args(["-p", "-a", "memcached", "-c", "-f"])
            .arg(&db)
            .arg(user)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("saslpasswd2 (Debian's sasl2-bin, which ./scripts/test installs)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(pass.as_bytes())
            .expect("password");
        assert!(child.wait().expect("saslpasswd2").success());
    }
    std::fs::write(
        dir.path().join("memcached.conf"),
        format!("mech_list: cram-md5 plain\nsasldb_path: {}\n", db.display()),
    )
    .expect("memcached.conf");
    let pwdb = dir.path().join("pwdb");
    let lines: String = USERS.iter().map(|(u, p)| format!("{u}:{p}\n")).collect();
    std::fs::write(&pwdb, lines).expect("pwdb");
    let env = vec![
        (
            "SASL_CONF_PATH".to_string(),
            dir.path().display().to_string(),
        ),
        (
            "MEMCACHED_SASL_PWDB".to_string(),
            pwdb.display().to_string(),
        ),
    ];
    (dir, env)
}

#[test]
fn plain_matches_memcached() {
    let (_dir, env) = sasl_env();
    support::with_server_env(&env, || {
        support::suite::check("sasl", "plain", Implementation::Corvid);
        support::suite::check("sasl", "plain", Implementation::Memcached);
    });
}

#[test]
fn every_script_file_has_a_test() {
    support::suite::assert_all_listed("sasl", &["plain"]);
}

fn frame(opcode: u8, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80, opcode];
    f.extend_from_slice(&(key.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(&((key.len() + value.len()) as u32).to_be_bytes());
    f.extend_from_slice(&[0; 12]);
    f.extend_from_slice(key);
    f.extend_from_slice(value);
    f
}

/// One response: (opcode, status, body).
fn response(s: &mut impl Read) -> (u8, u16, Vec<u8>) {
    let mut head = [0u8; 24];
    s.read_exact(&mut head).expect("response header");
    let len = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("response body");
    (head[1], u16::from_be_bytes([head[6], head[7]]), body)
}

/// HMAC-MD5 as RFC 2104 defines it (the test's own, independent of the server's).
fn hmac_md5(key: &[u8], message: &[u8]) -> String {
    use md5::{Digest, Md5};
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Md5::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Md5::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn cram_md5_logs_in_as_with_memcached() {
    let (_dir, env) = sasl_env();
    for implementation in [Implementation::Memcached, Implementation::Corvid] {
        let server = support::with_server_env(&env, || {
            Server::start(implementation, &["-S"], Transport::Tcp)
        });
        let name = implementation.name();
        let mut outcomes = Vec::new();
        for password in ["bar", "wrong"] {
            let mut s =
                std::net::TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .expect("timeout");
            // VERSION is served before authenticating.
            s.write_all(&frame(0x0b, b"", b"")).expect("version");
            let (_, status, version) = response(&mut s);
            assert_eq!(status, 0, "{name}");
            assert!(version.starts_with(b"1.6.18"), "{name}");
            s.write_all(&frame(0x21, b"CRAM-MD5", b"")).expect("start");
            let (_, status, challenge) = response(&mut s);
            assert_eq!(status, 0x21, "{name}: start must ask to continue");
            assert!(
                challenge.starts_with(b"<") && challenge.ends_with(b">"),
                "{name}"
            );
            let answer = format!("foo {}", hmac_md5(password.as_bytes(), &challenge));
            s.write_all(&frame(0x22, b"CRAM-MD5", answer.as_bytes()))
                .expect("step");
            outcomes.push(response(&mut s));
            // Logged in or not shows in what a get gets.
            s.write_all(&frame(0x00, b"k", b"")).expect("get");
            outcomes.push(response(&mut s));
        }
        assert_eq!(
            outcomes,
            vec![
                (0x22, 0, b"Authenticated".to_vec()),
                (0x00, 0x01, b"Not found".to_vec()),
                (0x22, 0x20, b"Auth failure.".to_vec()),
                (0x00, 0x20, b"Auth failure.".to_vec()),
            ],
            "{name}"
        );
    }
}
