//! `MEMCACHED_PORT_FILENAME` and `-p -1`: test harnesses start memcached on ports the
//! kernel picks and read them from the file it writes. Corvid must write the same lines,
//! at the same moment (once it listens), and leave the file behind, as memcached does.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Implementation, TempDir};

const DEADLINE: Duration = Duration::from_secs(10);

/// A server started with the port file variable set, killed on drop.
struct Started {
    child: Child,
    file: PathBuf,
    _dir: TempDir,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn start(implementation: Implementation, args: &[&str]) -> Started {
    let dir = TempDir::new(implementation.name());
    let file = dir.path().join("ports");
    let binary = match implementation {
        Implementation::Memcached => support::memcached_binary(),
        Implementation::Corvid | Implementation::Proxy => {
            PathBuf::from(env!("CARGO_BIN_EXE_corvid"))
        }
    };
    let mut command = Command::new(binary);
    command.args(args).args(["-t", "2"]);
    if implementation == Implementation::Memcached && running_as_root() {
        command.args(["-u", "root"]);
    }
    if implementation == Implementation::Corvid {
        command.args(support::server_backend_args());
    }
    let child = command
        .env("MEMCACHED_PORT_FILENAME", &file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    Started {
        child,
        file,
        _dir: dir,
    }
}

/// Polls until the file appears (it is renamed into place whole).
fn wait_for(path: &Path) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `(line without its port, port)` for each line.
fn parse(text: &str) -> Vec<(String, u16)> {
    text.lines()
        .map(|line| {
            let (head, port) = line.rsplit_once(": ").expect("a `KIND FAMILY: port` line");
            (head.to_string(), port.parse().expect("a port number"))
        })
        .collect()
}

fn answers_tcp(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"version\r\n");
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).is_ok() && &reply == b"VERSION "
}

fn answers_udp(addr: SocketAddr) -> bool {
    let local = if addr.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let Ok(s) = UdpSocket::bind(local) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    // memcached's UDP frame: request id 7, sequence 0, one datagram, reserved.
    let request = b"\x00\x07\x00\x00\x00\x01\x00\x00version\r\n";
    let mut reply = [0u8; 64];
    s.send_to(request, addr).is_ok()
        && s.recv(&mut reply)
            .is_ok_and(|n| n > 16 && &reply[8..16] == b"VERSION ")
}

#[test]
fn the_port_file_lists_the_sockets_as_memcacheds_does() {
    let cases: &[&[&str]] = &[
        &["-p", "-1", "-U", "0", "-l", "127.0.0.1"],
        &["-p", "-1", "-U", "-1", "-l", "127.0.0.1"],
        // -U without -p moves TCP along, to a free port of its own.
        &["-U", "-1", "-l", "127.0.0.1"],
        // Every interface: one line per family.
        &["-p", "-1", "-U", "-1"],
    ];
    for args in cases {
        let memcached = start(Implementation::Memcached, args);
        let corvid = start(Implementation::Corvid, args);
        let expected = wait_for(&memcached.file);
        let got = wait_for(&corvid.file);
        let shape = |text: &str| {
            parse(text)
                .into_iter()
                .map(|(head, _)| head)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shape(&got),
            shape(&expected),
            "{args:?}: corvid wrote {got:?}"
        );
        assert!(got.ends_with('\n'), "{got:?}");
        for (head, port) in parse(&got) {
            assert_ne!(port, 0, "{args:?}: {got:?}");
            let ip = if head.ends_with("INET6") {
                "[::1]"
            } else {
                "127.0.0.1"
            };
            let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
            let answers = if head.starts_with("TCP") {
                answers_tcp(addr)
            } else {
                answers_udp(addr)
            };
            assert!(answers, "{args:?}: nothing answers on {head}: {port}");
        }
    }
}

#[test]
fn the_port_file_is_left_behind_and_a_unix_socket_writes_none() {
    let mut corvid = start(
        Implementation::Corvid,
        &["-p", "-1", "-U", "0", "-l", "127.0.0.1"],
    );
    let text = wait_for(&corvid.file);
    // SIGTERM: a clean exit, after which memcached leaves the file too.
    let pid = corvid.child.id() as i32;
    // SAFETY: kill() on the pid of a child we own and have not reaped.
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let status = corvid.child.wait().expect("wait for corvid");
    assert!(status.success(), "{status}");
    assert_eq!(std::fs::read_to_string(&corvid.file).ok(), Some(text));
    let lock = corvid.file.with_file_name("ports.lck");
    assert!(!lock.exists(), "the .lck file was renamed away");

    let dir = TempDir::new("unix");
    let socket = dir.path().join("sock");
    let corvid = start(Implementation::Corvid, &["-s", socket.to_str().unwrap()]);
    let deadline = Instant::now() + DEADLINE;
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "corvid never listened on {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!corvid.file.exists());
    assert!(!corvid.file.with_file_name("ports.lck").exists());
}
