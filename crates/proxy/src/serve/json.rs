//! twemproxy's stats port (`-s`, default 22222): a client connects, gets one JSON object
//! and the connection closes. The object has nutcracker's shape and names, so the
//! dashboards and scripts that read nutcracker read Corvid unchanged:
//!
//! ```text
//! {"service":"nutcracker", "source":"host", "version":"0.1.0", "uptime":7,
//!  "timestamp":1796533784, "total_connections":3, "curr_connections":2,
//!  "alpha": {"client_eof":1, ..., "fragments":0,
//!            "one": {"server_eof":0, ..., "out_queue_bytes":0, "latency_p99_us":210}}}
//! ```
//!
//! Counters are nutcracker's, per pool and per server; Corvid adds each server's health
//! and latency percentiles after them (readers of nutcracker's keys ignore the rest).
//! Like nutcracker, the numbers are refreshed at most every `-i` milliseconds.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use server::runtime::RuntimeStats;

use super::loaded::Current;
use super::stats::ProxyStats;

/// The JSON object, as nutcracker writes it (one line, then "\n").
pub fn twemproxy_json(
    current: &Current,
    stats: &ProxyStats,
    runtime: &RuntimeStats,
    uptime: Duration,
) -> String {
    let loaded = current.get();
    let totals = runtime.totals();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        "{{\"service\":\"nutcracker\", \"source\":\"{}\", \"version\":\"{}\", \"uptime\":{}, \
         \"timestamp\":{}, \"total_connections\":{}, \"curr_connections\":{}",
        escape(&hostname()),
        env!("CARGO_PKG_VERSION"),
        uptime.as_secs(),
        timestamp,
        totals.total_connections,
        runtime.curr_connections.load(Relaxed),
    );
    for (p, pool) in loaded.config.pools.iter().enumerate() {
        let ps = stats.pool(&pool.name);
        let _ = write!(
            out,
            ", \"{}\": {{\"client_eof\":{}, \"client_err\":{}, \"client_connections\":{}, \
             \"server_ejects\":{}, \"forward_error\":{}, \"fragments\":{}",
            escape(&pool.name),
            ps.sum(|c| &c.client_eof),
            ps.sum(|c| &c.client_err),
            ps.sum(|c| &c.client_connections),
            ps.sum(|c| &c.server_ejects),
            ps.sum(|c| &c.forward_error),
            ps.sum(|c| &c.fragments),
        );
        let first = loaded.first[p];
        for backend in &loaded.backends[first..first + pool.servers.len()] {
            let s = stats.backend(&backend.key);
            let _ = write!(
                out,
                ", \"{}\": {{\"server_eof\":{}, \"server_err\":{}, \"server_timedout\":{}, \
                 \"server_connections\":{}, \"server_ejected_at\":{}, \"requests\":{}, \
                 \"request_bytes\":{}, \"responses\":{}, \"response_bytes\":{}, \
                 \"in_queue\":0, \"in_queue_bytes\":0, \"out_queue\":{}, \"out_queue_bytes\":{}, \
                 \"server_ejections\":{}, \"latency_p50_us\":{}, \"latency_p90_us\":{}, \
                 \"latency_p99_us\":{}, \"latency_p999_us\":{}}}",
                escape(&backend.stats_name),
                s.sum(|c| &c.eof),
                s.sum(|c| &c.errors),
                s.sum(|c| &c.timeouts),
                s.sum(|c| &c.connections),
                s.max(|c| &c.ejected_at),
                s.sum(|c| &c.requests),
                s.sum(|c| &c.request_bytes),
                s.sum(|c| &c.responses),
                s.sum(|c| &c.response_bytes),
                s.sum(|c| &c.in_flight),
                s.sum(|c| &c.in_flight_bytes),
                s.sum(|c| &c.ejections),
                s.percentile(50.0),
                s.percentile(90.0),
                s.percentile(99.0),
                s.percentile(99.9),
            );
        }
        out.push('}');
    }
    out.push_str("}\n");
    out
}

/// Serves the JSON object on `addr` from a thread of its own until the process exits.
pub(crate) fn spawn(
    addr: SocketAddr,
    interval: Duration,
    current: Arc<Current>,
    stats: Arc<ProxyStats>,
    runtime: Arc<RuntimeStats>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let started = Instant::now();
    std::thread::Builder::new()
        .name("stats".into())
        .spawn(move || {
            let mut cached: Option<(Instant, String)> = None;
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let fresh = cached
                    .as_ref()
                    .is_some_and(|(at, _)| at.elapsed() < interval);
                if !fresh {
                    let json = twemproxy_json(&current, &stats, &runtime, started.elapsed());
                    cached = Some((Instant::now(), json));
                }
                if let Some((_, json)) = &cached {
                    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
                    let _ = conn.write_all(json.as_bytes());
                }
            }
        })?;
    Ok(bound)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// JSON string escaping for names taken from the configuration.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::Loaded;
    use crate::ProxyConfig;

    #[test]
    fn the_object_has_nutcrackers_shape() {
        let yaml = "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1 one\n   - 127.0.0.1:11212:1\n";
        let current =
            Current::new(Loaded::new(ProxyConfig::from_twemproxy_yaml(yaml).unwrap()).unwrap());
        let stats = ProxyStats::new(1);
        stats.backend("alpha:one").worker(0).add(|c| &c.requests, 4);
        let runtime = RuntimeStats::new(1, Vec::new());
        let json = twemproxy_json(&current, &stats, &runtime, Duration::from_secs(7));
        assert!(
            json.starts_with("{\"service\":\"nutcracker\", \"source\":\""),
            "{json}"
        );
        assert!(json.contains("\"uptime\":7, \"timestamp\":"));
        assert!(json.contains(", \"alpha\": {\"client_eof\":0, \"client_err\":0, \"client_connections\":0, \"server_ejects\":0, \"forward_error\":0, \"fragments\":0, \"one\": {\"server_eof\":0, \"server_err\":0, \"server_timedout\":0, \"server_connections\":0, \"server_ejected_at\":0, \"requests\":4,"), "{json}");
        assert!(
            json.contains("\"127.0.0.1:11212\": {\"server_eof\":0"),
            "{json}"
        );
        assert!(json.ends_with("}}}\n"));
        assert_eq!(escape("a\"b\\"), "a\\\"b\\\\");
    }
}
