//! `corvid proxy` against `nutcracker` itself (Debian's 0.5.0): the same configuration
//! files and the same command lines, the same verdicts and the same messages.
//!
//! nutcracker's `-t` prints only the verdict and logs the reason; it logs it when started
//! with `-o FILE`, so that is how its reasons are read here. Corvid's `-t` prints the
//! reason, then the verdict.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const CORVID: &str = env!("CARGO_BIN_EXE_corvid");

fn nutcracker() -> PathBuf {
    ["/usr/sbin/nutcracker", "/usr/bin/nutcracker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nutcracker (apt-get install nutcracker)")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "corvid-proxy-cli-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(program: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run")
}

fn free_port() -> String {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port().to_string())
        .expect("port")
}

/// Why nutcracker refuses `file`: the lines it logs about the configuration.
fn nutcracker_reasons(file: &str, dir: &Path) -> Vec<String> {
    let log = dir.join("nutcracker.log");
    let _ = std::fs::remove_file(&log);
    let log_arg = log.to_str().expect("utf-8");
    let port = free_port();
    let output = run(
        &nutcracker(),
        &["-c", file, "-o", log_arg, "-s", &port, "-a", "127.0.0.1"],
        dir,
    );
    assert!(!output.status.success(), "nutcracker accepted {file}");
    std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("nc_conf.c:") || l.contains("nc_util.c:"))
        // "[2026-01-01 00:00:00.000] nc_conf.c:529 conf: ..." -> "conf: ..."
        .filter_map(|l| l.split_once("] ").map(|(_, rest)| rest))
        .filter_map(|l| l.split_once(' ').map(|(_, message)| message.to_string()))
        .collect()
}

/// Configurations nutcracker refuses, each with its own mistake.
const INVALID: &[&str] = &[
    "a:\n  listen: 127.0.0.1:22121\n  foo: bar\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n",
    "a:\n  listen: 127.0.0.1:22121\n  hash: md5\n  hash: md5\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  hash: fnv1a_65\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:99999\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:0\n",
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211\n",
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:0:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:x\n",
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1 name with space\n",
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1\n   - 127.0.0.1:11211:2\n",
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1 x\n   - 127.0.0.1:11212:2 x\n",
    "a:\n  listen: 127.0.0.1:22121\n  redis: yes\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  timeout: -1\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  backlog: 0x10\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  hash_tag: \"{\"\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  distribution: vnode\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  server_connections: 0\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  redis_auth: pw\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  hash:\n   - md5\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  x:\n    y: z\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a\n",
    "a: b\n",
    "",
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1\n---\nb:\n  listen: 127.0.0.1:22122\n  servers:\n   - 127.0.0.1:6379:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1\nb:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1\na:\n  listen: 127.0.0.1:22122\n  servers:\n   - 127.0.0.1:6379:1\n",
    "a:\n  listen: nosuchhost.invalid:22121\n  servers:\n   - 127.0.0.1:6379:1\n",
    "a:\n  listen: \"[::1]:22121\"\n  servers:\n   - 127.0.0.1:6379:1\n",
];

/// Configurations nutcracker accepts.
const VALID: &[&str] = &[
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: 127.0.0.1:22121\n  hash: md5\n  hash_tag: \"{}\"\n  distribution: modula\n  timeout: 400\n  backlog: 1024\n  client_connections: 10\n  redis: false\n  tcpkeepalive: true\n  redis_db: 3\n  preconnect: true\n  auto_eject_hosts: true\n  server_connections: 2\n  server_retry_timeout: 100\n  server_failure_limit: 3\n  servers:\n   - 127.0.0.1:11211:1\n",
    "a:\n  listen: /tmp/corvid-proxy-cli.sock 0666\n  servers:\n   - /tmp/mc.sock:1 one\n   - /tmp/mc2.sock:2\n",
    "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:99999999999\n",
    "a:\n  listen: \"127.0.0.1:22121\"\n  timeout: \"400\"\n  servers:\n   - \"127.0.0.1:11211:1\"\n",
    "b:\n  listen: 127.0.0.1:22121\n  servers:\n   - h1:11211:1 x\n   - h2:11211:1 xx\na:\n  listen: 127.0.0.1:22122\n  servers:\n   - h:1:1\n",
];

#[test]
fn test_conf_agrees_with_nutcracker() {
    let dir = TempDir::new();
    let mut differences = Vec::new();
    for (i, yaml) in INVALID.iter().chain(VALID).enumerate() {
        let file = format!("conf{i}.yml");
        std::fs::write(dir.0.join(&file), yaml).expect("write");
        let theirs = run(&nutcracker(), &["-t", "-c", &file], &dir.0);
        let ours = run(Path::new(CORVID), &["proxy", "-t", "-c", &file], &dir.0);
        let stderr = String::from_utf8_lossy(&ours.stderr).into_owned();
        let verdict = if theirs.status.success() {
            "ok"
        } else {
            "invalid"
        };
        let expected_last =
            format!("corvid proxy: configuration file '{file}' syntax is {verdict}");
        let mut lines: Vec<String> = stderr.lines().map(str::to_string).collect();
        let last = lines.pop().unwrap_or_default();
        if ours.status.code() != theirs.status.code() || last != expected_last {
            differences.push(format!(
                "{yaml:?}: nutcracker {:?}, corvid {:?}: {stderr}",
                theirs.status.code(),
                ours.status.code()
            ));
            continue;
        }
        if !theirs.status.success() {
            let reasons = nutcracker_reasons(&file, &dir.0);
            if reasons != lines {
                differences.push(format!(
                    "{yaml:?}:\n  nutcracker {reasons:?}\n  corvid     {lines:?}"
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Bad command lines: the same exit status, and the same first line with the program's
/// name changed.
#[test]
fn flag_errors_agree_with_nutcracker() {
    let dir = TempDir::new();
    let cases: &[&[&str]] = &[
        &["-s", "0"],
        &["-s", "abc"],
        &["-s", "70000"],
        &["-s", "-1"],
        &["-v", "x"],
        &["-vv"],
        &["-i", "x"],
        &["-i", "-1"],
        &["-m", "x"],
        &["-m", "0"],
        &["-m", "1"],
        &["-m", "100000000"],
        &["-x"],
        &["-c"],
        &["--conf-file"],
        &["-o"],
        &["-p"],
        &["-a"],
        &["-s"],
        &["--stats-port=x"],
        &["--verbose"],
    ];
    let mut differences = Vec::new();
    for args in cases {
        let theirs = run(&nutcracker(), args, &dir.0);
        let mut ours_args = vec!["proxy"];
        ours_args.extend_from_slice(args);
        let ours = run(Path::new(CORVID), &ours_args, &dir.0);
        let first = |o: &Output| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        };
        let expected = first(&theirs).replacen("nutcracker:", "corvid:", 1);
        if ours.status.code() != theirs.status.code() || first(&ours) != expected {
            differences.push(format!(
                "{args:?}: nutcracker {:?} {expected:?}, corvid {:?} {:?}",
                theirs.status.code(),
                ours.status.code(),
                first(&ours)
            ));
        }
        assert!(String::from_utf8_lossy(&ours.stderr).contains("Usage: corvid proxy"));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn version_help_and_stats_go_to_stderr_and_exit_0() {
    let dir = TempDir::new();
    for (flag, expect) in [
        ("-V", "This is corvid-"),
        ("-h", "Usage: corvid proxy"),
        ("-D", "server stats:"),
    ] {
        let output = run(Path::new(CORVID), &["proxy", flag], &dir.0);
        assert!(output.status.success(), "{flag}");
        assert!(output.stdout.is_empty(), "{flag}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(expect),
            "{flag}"
        );
    }
}

#[test]
fn a_listen_address_in_use_stops_serving_with_its_reason() {
    let dir = TempDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let stats = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("stats port")
        .port();
    let yaml = format!("alpha:\n  listen: 127.0.0.1:{port}\n  servers:\n   - 127.0.0.1:11211:1\n");
    std::fs::write(dir.0.join("busy.yml"), yaml).expect("write");
    let stats = stats.to_string();
    let args = [
        "proxy",
        "-c",
        "busy.yml",
        "-s",
        &stats,
        "-a",
        "127.0.0.1",
        "-o",
        "log",
    ];
    let output = run(Path::new(CORVID), &args, &dir.0);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("failed to listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[test]
fn explain_prints_where_keys_go() {
    let dir = TempDir::new();
    std::fs::write(
        dir.0.join("two.yml"),
        "a:\n  listen: 127.0.0.1:22121\n  servers:\n   - 10.0.0.1:11211:1\n   - 10.0.0.2:11211:1\n",
    )
    .expect("write");
    let output = run(
        Path::new(CORVID),
        &[
            "proxy",
            "-c",
            "two.yml",
            "--explain",
            "apple",
            "--explain=pear",
        ],
        &dir.0,
    );
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("key \"apple\" on listener 127.0.0.1:22121 (a)"),
        "{text}"
    );
    assert!(text.contains("fnv1a_64(\"apple\") = 1488911807"), "{text}");
    assert!(text.contains("key \"pear\""), "{text}");
    let toml = "[[listen]]\naddress = \"127.0.0.1:1\"\nroute = \"p\"\n[pools.p]\nservers = [\"10.0.0.1:11211:1\", \"10.0.0.2:11211:1\"]\n";
    std::fs::write(dir.0.join("r.toml"), toml).expect("write");
    let output = run(
        Path::new(CORVID),
        &["proxy", "--toml", "r.toml", "--explain", "k"],
        &dir.0,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run(
        Path::new(CORVID),
        &["proxy", "--toml", "r.toml", "-t"],
        &dir.0,
    );
    assert!(output.status.success());
}
