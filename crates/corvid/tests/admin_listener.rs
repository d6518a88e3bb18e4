//! `--admin ADDR:PORT` (config key `admin`) starts the admin HTTP listener from the
//! command line and from a config file; a bad address is refused. What the listener
//! serves is tested in-process in crates/server/tests/admin.rs.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use support::{Implementation, Server, TempDir, Transport};

fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    l.local_addr().expect("addr").port()
}

/// corvid with an admin listener on a free port, given by `admin_args`; retried when
/// someone took the port between the probe and the bind.
fn start(admin_args: impl Fn(&str) -> Vec<String>) -> (Server, SocketAddr) {
    for _ in 0..5 {
        let admin = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let args = admin_args(&admin.to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match Server::try_start(Implementation::Corvid, &args, Transport::Tcp) {
            Ok(server) => return (server, admin),
            Err(refusal) if refusal.output.contains("in use") => continue,
            Err(refusal) => panic!("{}", refusal.report),
        }
    }
    panic!("no free port for the admin listener");
}

fn health(admin: SocketAddr) -> String {
    let mut s = TcpStream::connect(admin).expect("connect to the admin listener");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(b"GET /health HTTP/1.0\r\n\r\n").expect("write");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read");
    reply
}

#[test]
fn admin_flag_serves_health() {
    let (_server, admin) = start(|a| vec!["--admin".into(), a.into()]);
    let reply = health(admin);
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nOK\n"), "{reply}");
}

#[test]
fn admin_config_key_serves_health() {
    let dir = TempDir::new("admin-config");
    let file = dir.path().join("corvid.toml");
    let (_server, admin) = start(|a| {
        std::fs::write(&file, format!("admin = \"{a}\"\n")).expect("write config");
        vec!["--config".into(), file.display().to_string()]
    });
    assert!(health(admin).starts_with("HTTP/1.1 200 OK\r\n"));
}

#[test]
fn a_bad_admin_address_is_refused() {
    let refusal = Server::try_start(
        Implementation::Corvid,
        &["--admin", "localhost"],
        Transport::Tcp,
    )
    .err()
    .expect("refused");
    assert_eq!(refusal.code, Some(64), "{}", refusal.report);
    assert!(refusal.output.contains("--admin"), "{}", refusal.report);
}
