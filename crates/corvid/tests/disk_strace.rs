//! Workers never read the disk: Corvid runs under `strace -f`, values go to disk, gets
//! read them back, and every `pread64`/`preadv`/`preadv2` in the trace is matched to the
//! name of the thread that made it (`/proc/PID/task/TID/comm`). The IO threads
//! (`ext-io-N`) must have read (so the check saw real disk reads), and no worker
//! (`worker-N`) may have. `scripts/test` installs strace.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{free_port, TempDir};

const READS: &str = "pread64,preadv,preadv2";

/// strace and the server it runs: the server is stopped on drop (SIGTERM), and strace
/// ends with it. Without the server's pid, strace itself is killed.
struct Traced {
    strace: Child,
    server: Option<u32>,
}

impl Drop for Traced {
    fn drop(&mut self) {
        match self.server {
            // SAFETY: kill(2) on the server strace started; strace has not reaped it
            // (it waits for its tracee), so the pid is still the server's.
            Some(pid) => unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            },
            None => {
                let _ = self.strace.kill();
            }
        }
        let _ = self.strace.wait();
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads until `end` closes the reply.
fn reply(s: &mut TcpStream, req: &[u8], end: &[u8]) -> Vec<u8> {
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while !out.ends_with(end) {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "server closed");
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn stat(port: u16, name: &str) -> u64 {
    let text = String::from_utf8(reply(&mut connect(port), b"stats\r\n", b"END\r\n")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("STAT {name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in stats"))
}

/// Calls to the read syscalls per thread name ("ext-io-N", "worker-N", ...), from a
/// trace written with `strace -f -o` (each line starts with the thread id).
fn reads_by_thread(trace: &Path, names: &HashMap<String, String>) -> HashMap<String, usize> {
    let text = std::fs::read_to_string(trace).expect("read the trace");
    let mut counts = HashMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(2, char::is_whitespace);
        let (Some(tid), Some(call)) = (parts.next(), parts.next()) else {
            continue;
        };
        let call = call.trim_start();
        if !READS.split(',').any(|r| call.starts_with(&format!("{r}("))) {
            continue;
        }
        let name = names
            .get(tid)
            .cloned()
            .unwrap_or_else(|| format!("? {tid}"));
        let name = name
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string();
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

/// Thread id -> name of every thread of `pid`.
fn thread_names(pid: u32) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir") {
        let task = task.unwrap();
        let tid = task.file_name().to_string_lossy().into_owned();
        if let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) {
            names.insert(tid, comm.trim().to_string());
        }
    }
    names
}

#[test]
fn workers_never_call_pread_only_io_threads_do() {
    let strace_ok = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=none", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        strace_ok,
        "strace is missing or cannot trace here (scripts/test installs it; it needs ptrace)"
    );
    let dir = TempDir::new("strace");
    let trace = dir.path().join("trace");
    let pid_file = dir.path().join("pid");
    let port = free_port();
    let ext = format!(
        "ext_page_size=8,ext_wbuf_size=2,ext_item_age=0,ext_path={}:64m",
        dir.path().join("ext").display()
    );
    let strace = Command::new("strace")
        .args(["-f", "-qq", "-e", &format!("trace={READS}"), "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_corvid"))
        .args(support::loopback_args(port, 2))
        .args(support::server_backend_args())
        .args(["-m", "16", "-o", &ext, "-P"])
        .arg(&pid_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start strace");
    let mut traced = Traced {
        strace,
        server: None,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut s = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "corvid did not start under strace"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // The pid file is written before the listeners accept; poll it anyway.
    let pid = support::pid_file::wait_for_pid(&pid_file, Duration::from_secs(30));
    traced.server = Some(pid);

    // 300 values of 20 KB (6 MB: three 2 MiB write buffers reach the file), then
    // filler until the background writer has moved them all.
    let value = vec![b'v'; 20_000];
    let set = |s: &mut TcpStream, key: &str, v: &[u8]| {
        let mut req = format!("set {key} 0 0 {}\r\n", v.len()).into_bytes();
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
        assert_eq!(reply(s, &req, b"\r\n"), b"STORED\r\n");
    };
    for i in 0..300 {
        set(&mut s, &format!("k{i}"), &value);
    }
    let mut filler = 0;
    while stat(port, "extstore_objects_written") < 300 {
        assert!(
            Instant::now() < deadline + Duration::from_secs(60),
            "values never went to disk"
        );
        for _ in 0..200 {
            filler += 1;
            set(&mut s, &format!("filler{filler}"), &[b'f'; 400]);
        }
    }
    // Gets of every value (text and meta), until the IO threads have read some
    // from the file (the newest may still be served from a write buffer in memory).
    let mut names = HashMap::new();
    let mut counts = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while counts.get("ext-io-").copied().unwrap_or(0) == 0 {
        assert!(
            Instant::now() < deadline,
            "no pread by an IO thread: {counts:?}"
        );
        for i in 0..300 {
            let got = reply(&mut s, format!("get k{i}\r\n").as_bytes(), b"END\r\n");
            assert!(got.len() > value.len(), "k{i} was not served");
        }
        s.write_all(b"mg k1 v\r\n").unwrap();
        let mut got = vec![0u8; "VA 20000\r\n".len() + value.len() + 2];
        s.read_exact(&mut got).unwrap();
        assert!(got.starts_with(b"VA 20000\r\nvvv"), "mg k1 v");
        names.extend(thread_names(pid));
        counts = reads_by_thread(&trace, &names);
    }
    eprintln!("read calls by thread: {counts:?}");
    assert!(stat(port, "get_extstore") > 0, "the gets went to disk");
    let workers: usize = counts
        .iter()
        .filter(|(name, _)| name.starts_with("worker"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(workers, 0, "workers read the disk: {counts:?}");
}
