//! `-o io_backend=uring`: each worker does its connections' IO on an io_uring of its own;
//! where the kernel refuses io_uring (here a seccomp filter fails `io_uring_setup`, as a
//! container's profile may), the server says so in one line and serves on epoll.
//! (Every other socket-level test runs on io_uring too when `CORVID_IO_BACKEND=uring`:
//! scripts/test does that.)

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::TempDir;

/// The line a refused ring prints.
const REFUSED: &str = "io_uring unavailable";

/// A corvid killed on drop, its output in a file.
struct Running {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Descriptors of the process that are io_urings.
    fn rings(&self) -> usize {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).expect("fd dir");
        fds.filter_map(Result::ok)
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter(|target| target.to_string_lossy().contains("io_uring"))
            .count()
    }
}

/// Starts corvid with two workers on io_uring; `refuse` installs a seccomp filter that
/// fails `io_uring_setup` with EPERM in the child before it runs.
fn start(refuse: bool) -> Running {
    let dir = TempDir::new("io-backend");
    let port = support::free_port();
    let log = std::fs::File::create(dir.path().join("log")).expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_corvid"));
    command
        .args(support::loopback_args(port, 2))
        .args(["-o", "io_backend=uring"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup"))
        .stderr(log);
    if refuse {
        // SAFETY: the closure runs in the forked child before exec and only calls
        // prctl, which is async-signal-safe; the filter it installs lives on its stack
        // for the duration of the call (the kernel copies it).
        unsafe {
            command.pre_exec(refuse_io_uring);
        }
    }
    let child = command.spawn().expect("run corvid");
    let running = Running { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "corvid never listened: {}",
            running.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    running
}

/// A seccomp filter: `io_uring_setup` fails with EPERM, everything else is allowed.
fn refuse_io_uring() -> std::io::Result<()> {
    const IO_URING_SETUP: u32 = libc::SYS_io_uring_setup as u32;
    let stmt = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let filter = [
        // The system call number (offset 0 of seccomp_data).
        stmt((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, 0),
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: IO_URING_SETUP,
        },
        stmt(
            (libc::BPF_RET | libc::BPF_K) as u16,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        stmt(
            (libc::BPF_RET | libc::BPF_K) as u16,
            libc::SECCOMP_RET_ALLOW,
        ),
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: plain prctl calls; `program` points at `filter`, both alive for the call.
    let failed = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program as *const libc::sock_fprog,
            ) != 0
    };
    if failed {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A set, a get, and a value larger than a read buffer (received into its
/// reservation) both ways.
fn serves(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let big = vec![b'v'; 300_000];
    let mut request = b"set a 0 0 5\r\nhello\r\nget a\r\n".to_vec();
    request.extend_from_slice(format!("set big 0 0 {}\r\n", big.len()).as_bytes());
    request.extend_from_slice(&big);
    request.extend_from_slice(b"\r\nget big\r\n");
    s.write_all(&request).expect("write");
    let mut expected = b"STORED\r\nVALUE a 0 5\r\nhello\r\nEND\r\nSTORED\r\n".to_vec();
    expected.extend_from_slice(format!("VALUE big 0 {}\r\n", big.len()).as_bytes());
    expected.extend_from_slice(&big);
    expected.extend_from_slice(b"\r\nEND\r\n");
    let mut got = vec![0u8; expected.len()];
    s.read_exact(&mut got).expect("the replies");
    assert!(got == expected, "replies differ");
}

#[test]
fn workers_serve_on_rings_of_their_own() {
    let r = start(false);
    serves(r.port);
    assert_eq!(r.rings(), 2, "one ring per worker");
    assert!(!r.log().contains(REFUSED), "{}", r.log());
}

#[test]
fn a_kernel_that_refuses_io_uring_gets_one_line_and_epoll() {
    let r = start(true);
    serves(r.port);
    assert_eq!(r.rings(), 0);
    let log = r.log();
    assert_eq!(
        log.matches(REFUSED).count(),
        1,
        "one line, not one per worker: {log}"
    );
    assert!(log.contains("using epoll"), "{log}");
}

#[test]
fn an_unknown_backend_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_corvid"))
        .args(["-p", "0", "-U", "0", "-o", "io_backend=kqueue"])
        .output()
        .expect("run corvid");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Unknown io_backend"), "{text}");
}
