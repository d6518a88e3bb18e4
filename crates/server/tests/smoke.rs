//! The server in-process on an ephemeral port: the basic request/reply cycle over TCP
//! and a Unix socket, pipelining, and a large value through the zero-copy path.

mod backend;

use server::{Server, ServerConfig};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use store::{Store, StoreConfig};

fn start(config: ServerConfig) -> (std::net::SocketAddr, &'static Store) {
    let store: &'static Store =
        Box::leak(Box::new(Store::new(StoreConfig::default()).expect("store")));
    let mut config = config;
    config.tcp = vec!["127.0.0.1:0".parse().expect("addr")];
    config.threads = 2;
    config.io_backend = backend::io_backend();
    let server = Server::bind(config, store).expect("bind");
    let addr = server.local_addrs()[0];
    std::thread::spawn(move || server.run());
    (addr, store)
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// Reads until `want` bytes arrived.
fn read_n(s: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut out = vec![0; want];
    s.read_exact(&mut out).expect("read");
    out
}

#[test]
fn set_get_delete_round_trip() {
    let (addr, _) = start(ServerConfig::default());
    let mut s = connect(addr);
    s.write_all(b"set k 5 0 3\r\nabc\r\nget k\r\ndelete k\r\nget k\r\n")
        .expect("write");
    let want = b"STORED\r\nVALUE k 5 3\r\nabc\r\nEND\r\nDELETED\r\nEND\r\n";
    assert_eq!(read_n(&mut s, want.len()), want);
}

#[test]
fn value_split_byte_by_byte_is_reassembled() {
    let (addr, _) = start(ServerConfig::default());
    let mut s = connect(addr);
    s.set_nodelay(true).expect("nodelay");
    for b in b"set k 0 0 5\r\nhello\r\nget k\r\n" {
        s.write_all(&[*b]).expect("write");
    }
    let want = b"STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n";
    assert_eq!(read_n(&mut s, want.len()), want);
}

#[test]
fn large_value_goes_through_a_reservation_and_comes_back_pinned() {
    let (addr, store) = start(ServerConfig::default());
    let mut s = connect(addr);
    let value: Vec<u8> = (0..500_000u32).map(|i| (i % 251) as u8).collect();
    let mut req = format!("set big 1 0 {}\r\n", value.len()).into_bytes();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\nget big\r\n");
    s.write_all(&req).expect("write");
    let mut want = format!("STORED\r\nVALUE big 1 {}\r\n", value.len()).into_bytes();
    want.extend_from_slice(&value);
    want.extend_from_slice(b"\r\nEND\r\n");
    assert_eq!(read_n(&mut s, want.len()), want);
    assert_eq!(store.open_reservations(), 0);
}

#[test]
fn pipelined_batch_is_answered_in_order() {
    let (addr, _) = start(ServerConfig::default());
    let mut s = connect(addr);
    let mut req = Vec::new();
    let mut want = Vec::new();
    for i in 0..200 {
        req.extend_from_slice(format!("set k{i} 0 0 2\r\nv{}\r\n", i % 10).as_bytes());
        want.extend_from_slice(b"STORED\r\n");
    }
    for i in 0..200 {
        req.extend_from_slice(format!("get k{i}\r\n").as_bytes());
        want.extend_from_slice(format!("VALUE k{i} 0 2\r\nv{}\r\nEND\r\n", i % 10).as_bytes());
    }
    s.write_all(&req).expect("write");
    assert_eq!(read_n(&mut s, want.len()), want);
}

#[test]
fn unix_socket_serves_too() {
    let dir = std::env::temp_dir().join(format!("corvid-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("s.sock");
    let store: &'static Store =
        Box::leak(Box::new(Store::new(StoreConfig::default()).expect("store")));
    let config = ServerConfig {
        unix_socket: Some(path.clone()),
        threads: 1,
        io_backend: backend::io_backend(),
        ..ServerConfig::default()
    };
    let server = Server::bind(config, store).expect("bind");
    std::thread::spawn(move || server.run());
    let mut s = std::os::unix::net::UnixStream::connect(&path).expect("connect");
    s.write_all(b"set u 0 0 1\r\nx\r\nget u\r\n")
        .expect("write");
    let want = b"STORED\r\nVALUE u 0 1\r\nx\r\nEND\r\n";
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got).expect("read");
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&dir);
}
