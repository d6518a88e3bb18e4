//! SIGTERM while 50 clients pipeline: every reply the server began is delivered whole (a
//! client never sees half a `VALUE` block), and the process exits 0 within 5 s.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Server, TempDir};

const CLIENTS: usize = 50;
const VALUE_LEN: usize = 20_000;
const BATCH: usize = 8;

fn value(client: usize, i: usize) -> Vec<u8> {
    (0..VALUE_LEN)
        .map(|j| b'a' + ((client + i + j) % 26) as u8)
        .collect()
}

/// One pipelining client: a writer thread sends batches of `set` + `get` for as long as
/// the server reads; this thread parses the replies. Returns how many replies arrived
/// whole, failing if the stream ends in the middle of one.
fn pipeline(
    port: u16,
    id: usize,
    replies: Arc<AtomicUsize>,
    connected: Arc<AtomicUsize>,
) -> Result<usize, String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    connected.fetch_add(1, Ordering::Relaxed);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        let mut i = 0;
        loop {
            let mut batch = Vec::new();
            for _ in 0..BATCH {
                batch.extend_from_slice(format!("set c{id}k{i} 0 0 {VALUE_LEN}\r\n").as_bytes());
                batch.extend_from_slice(&value(id, i));
                batch.extend_from_slice(format!("\r\nget c{id}k{i}\r\n").as_bytes());
                i += 1;
            }
            if writer.write_all(&batch).is_err() {
                return;
            }
        }
    });
    let mut reader = stream;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let mut whole = 0;
    let mut i = 0;
    let mut ended = "a close".to_string();
    loop {
        // Parse every whole reply buffered: STORED, then the VALUE block of the same key.
        loop {
            let stored = b"STORED\r\n";
            let header = format!("VALUE c{id}k{i} 0 {VALUE_LEN}\r\n");
            let block = header.len() + VALUE_LEN + 2 + 5;
            if whole % 2 == 0 {
                if buf.len() < stored.len() {
                    break;
                }
                if &buf[..stored.len()] != stored {
                    return Err(format!(
                        "client {id}: expected STORED, got {:?}",
                        String::from_utf8_lossy(&buf[..buf.len().min(80)])
                    ));
                }
                buf.drain(..stored.len());
            } else {
                if buf.len() < block {
                    break;
                }
                let mut expected = header.into_bytes();
                expected.extend_from_slice(&value(id, i));
                expected.extend_from_slice(b"\r\nEND\r\n");
                if buf[..block] != expected[..] {
                    return Err(format!("client {id}: reply {i} differs"));
                }
                buf.drain(..block);
                i += 1;
            }
            whole += 1;
            replies.fetch_add(1, Ordering::Relaxed);
        }
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "client {id}: the server neither answered nor closed"
                ));
            }
            // A reset after the last whole reply is a close; a torn reply shows below.
            Err(e) => {
                ended = e.to_string();
                break;
            }
        }
    }
    let _ = reader.shutdown(Shutdown::Both);
    if !buf.is_empty() {
        return Err(format!(
            "client {id}: the stream ended ({ended}) inside a reply ({} bytes of it) after \
             {whole} whole ones",
            buf.len()
        ));
    }
    Ok(whole)
}

#[test]
fn sigterm_while_fifty_clients_pipeline_finishes_replies_and_exits_zero() {
    let dir = TempDir::new("term");
    let pid_file = dir.path().join("pid");
    let pid_arg = pid_file.display().to_string();
    let mut server = Server::corvid(&["-c", "200", "-P", &pid_arg]);
    let pid = support::pid_file::wait_for_pid(&pid_file, Duration::from_secs(10));
    let port = server.port();
    let replies = Arc::new(AtomicUsize::new(0));
    let connected = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let replies = replies.clone();
            let connected = connected.clone();
            std::thread::spawn(move || pipeline(port, id, replies, connected))
        })
        .collect();
    // Signal once every client is connected and the pipelines are well under way (a
    // client connecting after the signal would find the listener closed, which says
    // nothing about replies in flight).
    let deadline = Instant::now() + Duration::from_secs(20);
    while connected.load(Ordering::Relaxed) < CLIENTS
        || replies.load(Ordering::Relaxed) < CLIENTS * 20
    {
        assert!(
            Instant::now() < deadline,
            "only {} replies before the signal",
            replies.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success(), "kill -TERM {pid}");
    // The drain deadline is 4 s; on a loaded 2-CPU machine 50 clients' threads and the
    // server's may get little CPU, so the exit is given far more than that.
    let status = server.wait_for_exit(Duration::from_secs(30));
    let took = signalled.elapsed();
    let finished = AtomicBool::new(true);
    let mut total = 0;
    for c in clients {
        match c.join().expect("a client thread") {
            Ok(n) => total += n,
            Err(e) => {
                eprintln!("{e}");
                finished.store(false, Ordering::Relaxed);
            }
        }
    }
    let status = status.unwrap_or_else(|| panic!("corvid still running 30 s after SIGTERM"));
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    assert!(
        finished.load(Ordering::Relaxed),
        "some client saw a torn reply (above)"
    );
    eprintln!("{total} whole replies; exited {took:?} after SIGTERM");
    assert!(
        !pid_file.exists(),
        "the pid file was not removed on a clean exit"
    );
}
