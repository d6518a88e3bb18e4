//! `--config`, `--memcached-conf` and `--print-config` end to end: the binary reads the
//! files, a flag overrides a file, the server runs with what they say, and mistakes stop
//! it with exit status 78 and a message naming the file and the line.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::text::TextClient;
use support::{Implementation, Server, TempDir, Transport};

fn corvid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corvid"))
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write a config file");
    path
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

#[test]
fn a_server_runs_with_its_config_file_and_flags_override_it() {
    let dir = TempDir::new("config");
    // The harness adds `-p <free port> -l 127.0.0.1 -U 0 -t 2`: those win over the file.
    let file = write(
        &dir,
        "corvid.toml",
        "listen = [\"192.0.2.1\"]\nport = 1\nthreads = 3\nidle_timeout = 7\nconn-limit = 77\n",
    );
    let server = Server::start(
        Implementation::Corvid,
        &["--config", arg(&file)],
        Transport::Tcp,
    );
    let settings = TextClient::connect(&server).stats_group("settings");
    assert_eq!(settings["num_threads"], "2");
    assert_eq!(settings["idle_timeout"], "7");
    assert_eq!(settings["maxconns"], "77");
}

#[test]
fn a_server_runs_with_a_debian_memcached_conf() {
    let dir = TempDir::new("mconf");
    let file = write(
        &dir,
        "memcached.conf",
        "# as Debian ships it, give or take\n-d\nlogfile /var/log/memcached.log\n-m 32\n\
         -c 50   # a comment\n-o idle_timeout=9\n",
    );
    let args = ["--memcached-conf", arg(&file)];
    let mut server = Server::start(Implementation::Corvid, &args, Transport::Tcp);
    let settings = TextClient::connect(&server).stats_group("settings");
    assert_eq!(settings["maxbytes"], (32u64 << 20).to_string());
    assert_eq!(settings["maxconns"], "50");
    assert_eq!(settings["idle_timeout"], "9");
    // `-d` was skipped, as Debian's scripts skip it: the process did not fork away.
    assert!(server.is_running());
    assert!(server
        .log()
        .contains("logfile /var/log/memcached.log: ignored"));
}

#[test]
fn print_config_output_starts_the_same_server() {
    let dir = TempDir::new("print");
    let first = corvid()
        .args([
            "-p",
            "-1",
            "-m",
            "128",
            "-I",
            "2m",
            "-vv",
            "-o",
            "idle_timeout=3,hashpower=20",
        ])
        .arg("--print-config")
        .output()
        .expect("run corvid --print-config");
    assert!(first.status.success(), "{first:?}");
    let text = String::from_utf8(first.stdout).expect("UTF-8 TOML");
    assert!(text.contains("\nmax-item-size = \"2m\"\n"), "{text}");
    let file = write(&dir, "printed.toml", &text);
    let second = corvid()
        .args(["--config", arg(&file), "--print-config"])
        .output()
        .expect("run corvid --config --print-config");
    assert!(second.status.success(), "{second:?}");
    assert_eq!(String::from_utf8_lossy(&second.stdout), text);
}

#[test]
fn a_bad_file_stops_corvid_with_ex_config_naming_the_line() {
    let dir = TempDir::new("bad");
    let cases = [
        (
            "bad.toml",
            "--config",
            "port = 1\n\nmemory-limits = 5\n",
            "bad.toml:3: unknown key \"memory-limits\"; did you mean",
        ),
        (
            "bad.conf",
            "--memcached-conf",
            "-m 64\n-t zero\n",
            "bad.conf:2: Invalid number for -t: \"zero\"",
        ),
    ];
    for (name, flag, text, expected) in cases {
        let file = write(&dir, name, text);
        let out = corvid()
            .args([flag, arg(&file)])
            .output()
            .expect("run corvid");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}
