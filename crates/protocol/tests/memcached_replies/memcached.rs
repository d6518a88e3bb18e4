//! A fresh memcached 1.6.18 (`-U 0 -t 1`) on a port it picks itself, stopped on drop.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Memcached {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

impl Memcached {
    /// Starts `memcached -U 0` on a port it picks itself (`-p -1`: no other process can
    /// take it between a probe and the bind) and polls until it accepts.
    pub(crate) fn start() -> Memcached {
        let binary = std::env::var("MEMCACHED_BIN").unwrap_or_else(|_| "/usr/bin/memcached".into());
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port_file =
            std::env::temp_dir().join(format!("protocol-mc-{}-{n}.port", std::process::id()));
        let _ = std::fs::remove_file(&port_file);
        let mut cmd = Command::new(&binary);
        cmd.args(["-p", "-1", "-l", "127.0.0.1", "-U", "0", "-t", "1"])
            .env("MEMCACHED_PORT_FILENAME", &port_file);
        if running_as_root() {
            cmd.args(["-u", "root"]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{binary}: {e} (./scripts/test installs Debian's memcached)")
            });
        let mut server = Memcached { child, port: 0 };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            // memcached writes "TCP INET: <port>" once it is bound.
            let port = std::fs::read_to_string(&port_file).ok().and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("TCP INET: "))
                    .and_then(|p| p.trim().parse::<u16>().ok())
            });
            if let Some(port) = port {
                server.port = port;
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    let _ = std::fs::remove_file(&port_file);
                    return server;
                }
            }
            assert!(
                server.child.try_wait().ok().flatten().is_none(),
                "memcached exited before accepting"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("memcached did not start");
    }

    pub(crate) fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}
