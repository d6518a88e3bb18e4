//! The admin listener (`--admin`) of a live in-process server: `/metrics` as Prometheus
//! reads it (checked by `promtool check metrics`, the Prometheus project's own linter),
//! `/health`, `/stats` as JSON, and the latency histograms in `stats latency`.

mod backend;

use server::admin::Pages;
use server::cache::Cache;
use server::runtime::RuntimeStats;
use server::{Server, ServerConfig};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use store::{Store, StoreConfig};

fn leaked_store() -> &'static Store {
    Box::leak(Box::new(Store::new(StoreConfig::default()).expect("store")))
}

/// A server with an admin listener, both on ephemeral ports: (cache port, admin port).
fn start() -> (SocketAddr, SocketAddr) {
    let config = ServerConfig {
        tcp: vec!["127.0.0.1:0".parse().expect("addr")],
        threads: 2,
        admin: Some("127.0.0.1:0".parse().expect("addr")),
        io_backend: backend::io_backend(),
        ..ServerConfig::default()
    };
    let server = Server::bind(config, leaked_store()).expect("bind");
    let addr = server.local_addrs()[0];
    let admin = server.admin_addr().expect("admin bound");
    std::thread::spawn(move || server.run());
    (addr, admin)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s
}

/// Sends `request` on a connection of its own and reads the reply to the server's close:
/// (status, head, body).
fn http(admin: SocketAddr, request: &str) -> (u16, String, Vec<u8>) {
    let mut s = connect(admin);
    s.write_all(request.as_bytes()).expect("write");
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("read to close");
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8(reply[..split].to_vec()).expect("utf8 head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let body = reply[split + 4..].to_vec();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())
        .expect("Content-Length");
    assert_eq!(length, body.len(), "{head}");
    (status, head, body)
}

fn get(admin: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    http(admin, &format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"))
}

/// Sends cache requests and reads until the reply ends with `end`.
fn exchange(s: &mut TcpStream, request: &[u8], end: &[u8]) -> Vec<u8> {
    s.write_all(request).expect("write");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.ends_with(end) {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed; so far: {}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&buf[..n]);
    }
    reply
}

/// Polls `read` until it holds every one of `wants`: a turn's latencies are recorded
/// just after its replies are handed to the kernel, so a client can read a reply before
/// its request is counted.
fn eventually(what: &str, wants: &[&str], mut read: impl FnMut() -> String) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = read();
        if wants.iter().all(|w| text.contains(w)) {
            return text;
        }
        let missing: Vec<_> = wants.iter().filter(|w| !text.contains(*w)).collect();
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: no {missing:?} in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Some traffic of several kinds: text, meta and a pipelined multi-get.
fn traffic(addr: SocketAddr) {
    let mut s = connect(addr);
    for i in 0..10 {
        let set = format!("set k{i} 0 0 1\r\nx\r\n");
        exchange(&mut s, set.as_bytes(), b"STORED\r\n");
    }
    exchange(
        &mut s,
        b"get k1 k2 nope\r\nget k3\r\n",
        b"END\r\nVALUE k3 0 1\r\nx\r\nEND\r\n",
    );
    exchange(&mut s, b"mg k4 v\r\nmn\r\n", b"MN\r\n");
}

fn promtool() -> String {
    std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into())
}

#[test]
fn metrics_pass_promtool_and_hold_the_latency_histograms() {
    let (addr, admin) = start();
    traffic(addr);
    let listener = format!("listener=\"tcp:{addr}\"");
    let wants = [
        "corvid_cmd_get_total 5\n",
        "corvid_cmd_set_total 10\n",
        "corvid_curr_items 10\n",
        "corvid_uptime_seconds ",
        "corvid_read_bytes_total ",
        "corvid_command_duration_seconds_count{command=\"set\"} 10\n",
        "corvid_command_duration_seconds_count{command=\"get\"} 2\n",
        "corvid_command_duration_seconds_count{command=\"mg\"} 1\n",
        "corvid_command_duration_seconds_bucket{le=\"+Inf\",command=\"set\"} 10\n",
        "corvid_worker_commands_total{worker=\"0\",command=\"get\"} ",
        "corvid_worker_read_bytes_total{worker=\"1\"} ",
        &listener,
        "corvid_build_info{version=",
        "# EOF\n",
    ];
    let openmetrics = "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;\
                       version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n\r\n";
    let text = eventually("/metrics", &wants, || {
        let (status, head, body) = http(admin, openmetrics);
        assert_eq!(status, 200, "{head}");
        assert!(
            head.contains("Content-Type: application/openmetrics-text"),
            "{head}"
        );
        String::from_utf8(body).expect("utf8")
    });
    // Buckets are cumulative and end with the count.
    let set_buckets: Vec<u64> = text
        .lines()
        .filter(|l| {
            l.starts_with("corvid_command_duration_seconds_bucket{")
                && l.contains("command=\"set\"")
        })
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("count")
        })
        .collect();
    assert!(
        set_buckets.windows(2).all(|w| w[0] <= w[1]),
        "{set_buckets:?}"
    );
    assert_eq!(set_buckets.last(), Some(&10));

    // Without asking for OpenMetrics (curl, promtool): the Prometheus text format 0.0.4,
    // which is what promtool reads.
    let (status, head, body) = get(admin, "/metrics");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let text = String::from_utf8(body).expect("utf8");
    assert!(
        text.contains("# TYPE corvid_cmd_get_total counter\n"),
        "{text}"
    );
    assert!(!text.contains("# EOF"), "{text}");
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool (Debian package prometheus; ./scripts/test installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn health_stats_json_and_errors() {
    let (addr, admin) = start();
    traffic(addr);
    let (status, _, body) = get(admin, "/health");
    assert_eq!((status, &body[..]), (200, &b"OK\n"[..]));

    let (status, head, body) = get(admin, "/stats");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: application/json"), "{head}");
    let text = String::from_utf8(body).expect("utf8");
    for want in ["\"curr_items\":10", "\"cmd_get\":5", "\"version\":\""] {
        assert!(text.contains(want), "no {want} in {text}");
    }
    eventually(
        "/stats/latency",
        &["\"set:count\":10", "\"mg:count\":1"],
        || {
            let (status, _, body) = get(admin, "/stats/latency");
            assert_eq!(status, 200);
            String::from_utf8(body).expect("utf8")
        },
    );
    let (status, _, body) = get(admin, "/stats/settings");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("\"maxconns\":"));

    assert_eq!(get(admin, "/nope").0, 404);
    assert_eq!(get(admin, "/stats/nope").0, 404);
    assert_eq!(http(admin, "POST /metrics HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(http(admin, "hello\r\n\r\n").0, 400);
    // A client that sends half a request and goes away costs nothing.
    drop(TcpStream::connect(admin).expect("connect"));
    assert_eq!(get(admin, "/health").0, 200);
}

#[test]
fn stats_latency_lists_each_answered_command() {
    let (addr, _) = start();
    traffic(addr);
    let mut s = connect(addr);
    let wants = [
        "STAT set:count 10\r\n",
        "STAT get:count 2\r\n",
        "STAT mg:count 1\r\n",
        "STAT mn:count 1\r\n",
        "STAT set:p99_us ",
        "STAT set:sum_us ",
        "STAT set:bucket_",
    ];
    let text = eventually("stats latency", &wants, || {
        let reply = exchange(&mut s, b"stats latency\r\n", b"END\r\n");
        String::from_utf8(reply).expect("utf8")
    });
    assert!(
        !text.contains("STAT delete:"),
        "unanswered commands are left out:\n{text}"
    );
    // stats reset empties them; this `stats` itself is then the only request counted.
    exchange(&mut s, b"stats reset\r\n", b"RESET\r\n");
    let text = String::from_utf8(exchange(&mut s, b"stats latency\r\n", b"END\r\n")).expect("utf8");
    assert!(!text.contains("STAT set:"), "{text}");
}

#[test]
fn health_says_503_once_shutting_down() {
    let config = Arc::new(ServerConfig::default());
    let cache = Arc::new(Cache::new(leaked_store(), config, Vec::new()));
    let runtime = Arc::new(RuntimeStats::new(1, Vec::new()));
    let pages = Pages::new(cache, runtime.clone());
    assert_eq!(pages.respond(b"GET", b"/health", b"").status, 200);
    runtime.accepting.store(0, Relaxed);
    let page = pages.respond(b"GET", b"/health", b"");
    assert_eq!(
        (page.status, &page.body[..]),
        (503, &b"shutting down\n"[..])
    );
}

/// Every metric the Grafana dashboard in contrib/ queries is one a live server exports.
#[test]
fn the_grafana_dashboard_queries_only_exported_metrics() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contrib/grafana/corvid.json"
    );
    let text = std::fs::read_to_string(path).expect("read the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let exprs: Vec<&str> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");

    let (addr, admin) = start();
    traffic(addr);
    let (_, _, body) = get(admin, "/metrics");
    let metrics = String::from_utf8(body).expect("utf8");
    for expr in exprs {
        let mut rest = expr;
        while let Some(at) = rest.find("corvid_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            let sample = |line: &str| {
                line.strip_prefix(name.as_str())
                    .is_some_and(|after| after.starts_with(['{', ' ']))
            };
            assert!(
                metrics.lines().any(sample),
                "the dashboard queries {name} ({expr}), which /metrics lacks"
            );
        }
    }
}
