#![no_main]
//! `corvid proxy`'s serving path end to end, in process: the input's first part is what
//! a client sends (text, meta or binary, as its first byte decides), the rest is what
//! the backends answer to anything they read. The proxy's dispatcher parses, routes and
//! forwards the requests (multi-gets split over the two backends, binary translated to
//! meta); its framing reads the backends' replies, which it passes on, translates back to
//! binary or reassembles. Nothing may panic (a panic on any thread aborts the run), and
//! every session must end: the client half-closes and reads until the proxy closes,
//! within a deadline far above the 50 ms backend timeout.
//!
//! Input: two bytes (big-endian) give the client part's length, then the client part,
//! then the backends' reply bytes.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use proxy::serve::{serve, IoBackend, Log, ServeOptions};
use proxy::ProxyConfig;

/// What the backends answer to each read, for the current input.
static REPLY: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// A backend that answers every read with [`REPLY`].
fn backend(mut stream: TcpStream) {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let reply = REPLY.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if stream.write_all(&reply).is_err() {
                    return;
                }
            }
        }
    }
}

fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a backend");
    let addr = listener.local_addr().expect("its address");
    (listener, addr)
}

/// The proxy, started once for the whole run, in front of two fake backends.
fn proxy() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let mut servers = String::new();
        for _ in 0..2 {
            let (listener, addr) = listen();
            servers.push_str(&format!("   - {addr}:1\n"));
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    std::thread::spawn(move || backend(stream));
                }
            });
        }
        let port = listen().1.port();
        let yaml = format!(
            "fuzz:\n  listen: 127.0.0.1:{port}\n  hash: md5\n  timeout: 50\n  servers:\n{servers}"
        );
        let config = ProxyConfig::from_twemproxy_yaml(&yaml).expect("a valid configuration");
        let options = ServeOptions {
            threads: 1,
            stats: None,
            stats_interval: Duration::from_secs(30),
            load: Arc::new(|| Err("no reload while fuzzing".to_string())),
            log: Arc::new(Log::new(Box::new(std::io::sink()))),
            io_backend: IoBackend::Epoll,
        };
        std::thread::spawn(move || serve(config, options));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "the proxy never listened");
            std::thread::sleep(Duration::from_millis(5));
        }
        addr
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let split = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 2);
    let (client, replies) = data[2..].split_at(split);
    let addr = proxy();
    *REPLY.lock().unwrap_or_else(|e| e.into_inner()) = replies.to_vec();
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(8)));
    if stream.write_all(client).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = vec![0u8; 1 << 16];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            // libFuzzer's timer signal (-timeout) lands on any thread.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("the proxy never ended the session: {e}"),
        }
    }
});
