//! A server whose memory can be watched (its pid from `-P`, RSS from /proc): how far RSS
//! may stay above its baseline once an attack is over, and polling until it settles or
//! until the server counts the connections left.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::text::TextClient;
use crate::support::{Implementation, Server, TempDir, Transport};

/// Allocator noise and lazily grown tables: how far above its baseline RSS may stay once
/// an attack is over.
pub(crate) const RSS_SLACK_KIB: u64 = 8 * 1024;

/// A corvid whose memory can be watched: its pid comes from `-P`.
pub(crate) struct Watched {
    pub(crate) server: Server,
    pub(crate) pid: u32,
    pub(crate) _dir: TempDir,
}

impl Watched {
    pub(crate) fn corvid(args: &[&str]) -> Watched {
        Watched::start(Implementation::Corvid, args)
    }

    pub(crate) fn start(implementation: Implementation, args: &[&str]) -> Watched {
        let dir = TempDir::new("pid");
        let pid_file: PathBuf = dir.path().join("pid");
        let pid_arg = pid_file.display().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-P", &pid_arg]);
        let server = Server::start(implementation, &all, Transport::Tcp);
        let pid = crate::support::pid_file::wait_for_pid(&pid_file, Duration::from_secs(10));
        Watched {
            server,
            pid,
            _dir: dir,
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.server.implementation().name()
    }

    pub(crate) fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    /// Polls until RSS is back within the slack of `baseline`, failing after 20 s (a
    /// loaded machine frees late; a server that keeps the memory fails all the same).
    pub(crate) fn settles_to(&self, baseline: u64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = self.rss_kib();
            if now <= baseline + RSS_SLACK_KIB {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: RSS {now} KiB after {what}, baseline {baseline} KiB",
                self.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `stats` until `curr_connections` is at most `n`.
    pub(crate) fn connections_drop_to(&self, client: &mut TextClient, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let open: u64 = client.stats()["curr_connections"]
                .parse()
                .expect("a number");
            if open <= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {open} connections still open, expected {n}",
                self.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub(crate) fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}
