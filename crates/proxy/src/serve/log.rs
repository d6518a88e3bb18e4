//! The proxy's log (nutcracker's `-o`): one stamped line per event.

use std::io::Write;
use std::sync::Mutex;

/// Where the proxy logs (nutcracker's `-o`): one line per event (reloads, stats port).
pub struct Log {
    out: Mutex<Box<dyn Write + Send>>,
}

impl Log {
    pub fn new(out: Box<dyn Write + Send>) -> Log {
        Log {
            out: Mutex::new(out),
        }
    }

    /// Writes one line, stamped with the time, as nutcracker's log lines are.
    pub fn line(&self, text: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "[{}.{:03}] {text}", now.as_secs(), now.subsec_millis());
        let _ = out.flush();
    }
}
