//! A server's `-P` pid file, read once the server has written it.
//!
//! The pid file is how a test learns the pid of a server it did not start directly (under
//! strace), and checks that `-P` works; the server writes it just after binding, so a test
//! polls for it instead of sleeping.

use std::path::Path;
use std::time::{Duration, Instant};

/// The pid in `path`, polled for until `within` has passed (then the test fails).
pub fn wait_for_pid(path: &Path, within: Duration) -> u32 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "no pid file at {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
