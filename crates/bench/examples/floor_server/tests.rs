//! The floor server over real sockets, on both backends: the reply bytes of a get and a
//! set, and a short `corvid bench` run that must count no errors.

use crate::{listen, serve, Backend};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A floor server on a port of its own, served by a thread that lives as long as the
/// test binary (the loop never returns).
fn start(backend: Backend, value_size: usize) -> SocketAddr {
    start_storing(backend, value_size, None)
}

fn start_storing(backend: Backend, value_size: usize, store: Option<usize>) -> SocketAddr {
    let listener = listen("127.0.0.1", 0).expect("listen");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || serve(listener, backend, value_size, store));
    addr
}

fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut got = vec![0; len];
    stream.read_exact(&mut got).expect("the whole reply");
    got
}

fn expected_get(key: &str, id: u64, size: usize) -> Vec<u8> {
    let content = bench::Content::new(1, bench::SizeDist::Fixed(16), bench::SizeDist::Fixed(size))
        .expect("content");
    let mut want = format!("VALUE {key} 0 {size}\r\n").into_bytes();
    content.push_value(id, size, &mut want);
    want.extend_from_slice(b"\r\nEND\r\n");
    want
}

#[test]
fn a_get_and_a_set_get_the_right_bytes_on_both_backends() {
    for backend in [Backend::Epoll, Backend::Uring] {
        for size in [100, 65536] {
            let addr = start(backend, size);
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            stream.write_all(b"get k000000000000007\r\n").expect("send");
            let want = expected_get("k000000000000007", 7, size);
            assert_eq!(
                read_exactly(&mut stream, want.len()),
                want,
                "{backend:?} {size}"
            );
            // A set whose data block comes in two pieces, then a get behind it.
            let mut set = format!("set k1 0 0 {size}\r\n").into_bytes();
            set.extend(std::iter::repeat_n(b'x', size / 2));
            stream.write_all(&set).expect("send");
            stream.flush().expect("flush");
            let mut rest = vec![b'y'; size - size / 2];
            rest.extend_from_slice(b"\r\nget k000000000000008\r\n");
            stream.write_all(&rest).expect("send");
            let mut want = b"STORED\r\n".to_vec();
            want.extend(expected_get("k000000000000008", 8, size));
            assert_eq!(
                read_exactly(&mut stream, want.len()),
                want,
                "{backend:?} {size}"
            );
            // `quit` closes.
            stream.write_all(b"quit\r\n").expect("send");
            let mut end = Vec::new();
            assert_eq!(stream.read_to_end(&mut end).expect("end of stream"), 0);
        }
    }
}

#[test]
fn with_a_store_a_get_returns_what_a_set_sent_on_both_backends() {
    for backend in [Backend::Epoll, Backend::Uring] {
        for size in [100, 65536] {
            let addr = start_storing(backend, size, Some(8 * size));
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            let value: Vec<u8> = (0..size).map(|i| b'a' + (i % 23) as u8).collect();
            // The line and a little of the value first, then the rest: on epoll the rest
            // is received straight into the slot.
            let mut set = format!("set k3 0 0 {size}\r\n").into_bytes();
            set.extend_from_slice(&value[..10]);
            stream.write_all(&set).expect("send");
            // Only makes the two parts likely to arrive apart (the direct receive); the
            // reply must be the same either way.
            std::thread::sleep(Duration::from_millis(20));
            let mut rest = value[10..].to_vec();
            rest.extend_from_slice(b"\r\nget k3\r\n");
            stream.write_all(&rest).expect("send");
            let mut want = format!("STORED\r\nVALUE k3 0 {size}\r\n").into_bytes();
            want.extend_from_slice(&value);
            want.extend_from_slice(b"\r\nEND\r\n");
            assert_eq!(
                read_exactly(&mut stream, want.len()),
                want,
                "{backend:?} {size}"
            );
        }
    }
}

#[test]
fn corvid_bench_counts_no_errors_on_both_backends() {
    for (backend, store) in [
        (Backend::Epoll, false),
        (Backend::Uring, false),
        (Backend::Epoll, true),
        (Backend::Uring, true),
    ] {
        for size in [100, 65536] {
            // With a store, as many slots as keys: each key its own.
            let addr = start_storing(backend, size, store.then_some(1000 * size));
            let mut config = bench::Config::new(bench::Target::Tcp(addr));
            config.connections = 8;
            config.pipeline = 4;
            config.keys = 1000;
            config.value_size = bench::SizeDist::Fixed(size);
            config.ratio = bench::Ratio {
                get: 1,
                set: 1,
                delete: 0,
            };
            config.prefill = true;
            config.stop = bench::Stop::Requests(2000);
            let report = bench::run(&config).expect("the run completes");
            assert_eq!(report.errors, 0, "{backend:?} {size}: {}", report.table());
            assert_eq!(report.requests, 2000);
            assert!(report.hits > 0, "{backend:?} {size}: no hits");
        }
    }
}
