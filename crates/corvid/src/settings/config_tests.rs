//! The config file, `--memcached-conf` and `--print-config`: what each reads, how
//! sources combine, and what their mistakes say.

use std::ffi::OsString;
use std::path::PathBuf;

use super::builder::Builder;
use super::*;

fn serve(args: &[&str]) -> Settings {
    match parse_args(args.iter().map(OsString::from)) {
        Ok(Command::Serve(s)) => *s,
        other => panic!("{args:?} gave {other:?}"),
    }
}

fn printed(args: &[&str]) -> String {
    let mut args = args.to_vec();
    args.push("--print-config");
    match parse_args(args.iter().map(OsString::from)) {
        Ok(Command::PrintConfig(text)) => text,
        other => panic!("{args:?} gave {other:?}"),
    }
}

/// Settings from a config file's text alone.
fn from_toml(text: &str) -> Result<Settings, SettingsError> {
    let mut builder = Builder {
        layer: 1,
        ..Builder::default()
    };
    config_file::apply_text(&mut builder, text, "test.toml")?;
    builder.finish()
}

fn toml_error(text: &str) -> (String, i32) {
    match from_toml(text) {
        Err(e) => (e.to_string(), e.exit_code()),
        Ok(s) => panic!("{text:?} was accepted: {s:?}"),
    }
}

fn from_memcached_conf(text: &str) -> Result<Settings, SettingsError> {
    let mut builder = Builder {
        layer: 1,
        ..Builder::default()
    };
    memcached_conf::apply_text(&mut builder, text, "memcached.conf")?;
    builder.finish()
}

/// Warnings may come in another order from a file (file order, not command-line order).
fn comparable(mut s: Settings) -> Settings {
    s.warnings.sort();
    s
}

/// A file in a private temporary directory, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("corvid-settings-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Sets every option a config file can hold (the test below checks it is every one).
const EVERYTHING: &[&str] = &[
    "-a",
    "755",
    "-A",
    "-s",
    "/tmp/c.sock",
    "-p",
    "12345",
    "-U",
    "12346",
    "-m",
    "128",
    "-M",
    "-c",
    "99",
    "-k",
    "-r",
    "-vv",
    "-d",
    "-l",
    "127.0.0.1,::1",
    "-u",
    "nobody",
    "-P",
    "/run/c.pid",
    "-f",
    "1.5",
    "-n",
    "64",
    "-L",
    "-R",
    "7",
    "-C",
    "-b",
    "64",
    "-B",
    "ascii",
    "-I",
    "2m",
    "-F",
    "-X",
    "-W",
    "-e",
    "/dev/shm/x",
    "-N",
    "2",
    "-t",
    "3",
    "-D",
    "#",
    "-o",
    "idle_timeout=9,io_backend=uring,no_maxconns_fast,no_modern,slab_chunk_max=524288,hashpower=20",
    "-o",
    "no_hashexpand,tail_repair_time=60,hash_algorithm=xxh3,no_lru_crawler",
    "-o",
    "lru_crawler_sleep=100,lru_crawler_tocrawl=5,lru_maintainer,hot_lru_pct=10",
    "-o",
    "warm_lru_pct=30,hot_max_factor=0.2,warm_max_factor=2,temporary_ttl=61",
    "-o",
    "no_slab_reassign,slab_automove=2,slab_automove_ratio=0.5,slab_automove_window=30",
    "-o",
    "slab_automove_freeratio=0.01,slab_sizes=96-120,no_chunked_items",
    "-o",
    "watcher_logbuf_size=256,worker_logbuf_size=64,read_buf_mem_limit=0",
    "-o",
    "resp_obj_mem_limit=1,track_sizes,no_inline_ascii_resp,drop_privileges",
    "-o",
    "sock_cookie_id=1,ssl_chain_cert=c,ssl_key=k,ssl_verify_mode=1,ssl_keyformat=1",
    "-o",
    "ssl_ciphers=x,ssl_ca_cert=ca,ssl_wbuf_size=16,ssl_session_cache,ssl_kernel_tls",
    "-o",
    "ssl_min_version=2,ssl_handshake_timeout=5,ext_page_size=64,ext_wbuf_size=4,ext_path=/tmp/e:64m",
    "-o",
    "ext_threads=1,ext_io_depth=1,ext_item_size=512,ext_item_age=10,ext_low_ttl=0",
    "-o",
    "ext_recache_rate=2000,ext_compact_under=1,ext_drop_under=1,ext_max_sleep=100",
    "-o",
    "ext_max_frag=0.8,ext_drop_unread,ext_read_mem=64",
    "--admin",
    "127.0.0.1:9211",
];

#[test]
fn print_config_reads_back_to_the_same_settings() {
    for args in [
        &[][..],
        &["-p", "-1", "-U", "-1"],
        &["-U", "7"],
        &["-s", "/tmp/c s"],
        EVERYTHING,
        LOGIN,
        &["-S"],
    ] {
        let text = printed(args);
        let original = comparable(serve(args));
        let read_back = from_toml(&text).unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"));
        assert_eq!(comparable(read_back), original, "{args:?}:\n{text}");
        // And it is stable: printing what was read prints the same text.
        let file = TempFile::new("printed.toml", &text);
        assert_eq!(printed(&["--config", file.arg()]), text);
    }
}

/// What EVERYTHING cannot hold beside UDP and `-B ascii`: `-Y` (memcached refuses it with
/// either).
const LOGIN: &[&str] = &["-Y", "/etc/corvid/auth"];

#[test]
fn every_config_key_is_printed_when_set() {
    let text = printed(EVERYTHING) + &printed(LOGIN);
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(" = ").next())
        .collect();
    for opt in table::all().filter(|o| o.in_config()) {
        assert!(
            keys.contains(&opt.key),
            "{} is missing from --print-config (add it to EVERYTHING, or give it a show \
             function or an ignore record):\n{text}",
            opt.key
        );
    }
}

#[test]
fn a_file_says_what_flags_say() {
    let s = from_toml(
        r#"
        port = 1
        listen = ["127.0.0.1", "::1"]
        memory-limit = 128
        max-item-size = "2m"
        unix-mask = "755"
        verbose = 2
        disable-cas = true
        disable-evictions = false
        protocol = "ascii"
        idle_timeout = 30
        maxconns_fast = false
        lru_crawler = false
        slab_automove = 0
        hot_max_factor = 2
        "#,
    )
    .unwrap();
    let flags = serve(&[
        "-p",
        "1",
        "-l",
        "127.0.0.1,::1",
        "-m",
        "128",
        "-I",
        "2m",
        "-a",
        "755",
        "-vv",
        "-C",
        "-B",
        "ascii",
        "-o",
        "idle_timeout=30,no_maxconns_fast,no_lru_crawler,slab_automove=0",
        "-o",
        "hot_max_factor=2",
    ]);
    assert_eq!(comparable(s), comparable(flags));
    // Sizes as bytes, lists as one string, as on the command line.
    let s =
        from_toml("max-item-size = 2097152\nlisten = \"127.0.0.1,::1\"\nmemory-limit = 8").unwrap();
    assert_eq!((s.item_size_max, s.listen.len()), (2 << 20, 2));
}

#[test]
fn the_command_line_overrides_the_file() {
    let file = TempFile::new(
        "c.toml",
        "port = 1\nlisten = [\"10.0.0.1\"]\nverbose = 2\nthreads = 7\nidle_timeout = 5\n",
    );
    let s = serve(&["-p", "2", "--config", file.arg(), "-l", "127.0.0.1", "-v"]);
    assert_eq!(s.port, 2);
    // Lists and counts start afresh on the command line instead of adding to the file's.
    assert_eq!(s.listen, ["127.0.0.1"]);
    assert_eq!(s.verbose, 1);
    assert_eq!((s.threads, s.idle_timeout), (7, 5));
    // Within one source they add up, as memcached's repeated -l do.
    let s = serve(&["--config", file.arg(), "-l", "127.0.0.1", "-l", "::1"]);
    assert_eq!(s.listen, ["127.0.0.1", "::1"]);
}

#[test]
fn memcached_conf_sits_between_the_toml_file_and_the_command_line() {
    let toml = TempFile::new("c.toml", "port = 1\nthreads = 2\nmemory-limit = 100\n");
    let conf = TempFile::new("memcached.conf", "-p 3\n-t 5\n");
    let s = serve(&[
        "--memcached-conf",
        conf.arg(),
        "--config",
        toml.arg(),
        "-t",
        "9",
    ]);
    assert_eq!((s.port, s.threads, s.memory_limit), (3, 9, 100 << 20));
}

#[test]
fn mistakes_in_a_file_name_the_file_the_line_and_the_key() {
    let cases: &[(&str, &str)] = &[
        ("port = 1\nprot = 2\n", "test.toml:2: unknown key \"prot\"; did you mean \"port\"?"),
        ("bogus = 2\n", "test.toml:1: unknown key \"bogus\""),
        ("port = \"11211\"", "test.toml:1: port: expected an integer, found a string"),
        ("\n\nlisten = [1]", "test.toml:3: listen: expected an array of strings, found an integer"),
        ("disable-cas = 1", "test.toml:1: disable-cas: expected true or false, found an integer"),
        ("unix-mask = 0o700", "test.toml:1: unix-mask: expected a string, found an integer"),
        ("threads = 0", "test.toml:1: threads: Number of threads must be greater than 0"),
        ("protocol = \"http\"", "test.toml:1: protocol: Invalid value for binding protocol: http -- should be one of auto, binary, or ascii"),
        ("hashpower = 40", "test.toml:1: hashpower: Initial hashtable multiplier of 40 is too high"),
        ("verbose = -1", "test.toml:1: verbose: must be 0 or more"),
        ("port = 1\nport = 2\n", "test.toml:2: duplicate key"),
        ("port = = 1", "test.toml:1: extra `=`, expected nothing"),
        ("[server]\nport = 1", "test.toml:1: unknown key \"server\""),
        ("memory_limit = 5", "test.toml:1: unknown key \"memory_limit\"; did you mean \"memory-limit\"?"),
        ("idle-timeout = 5", "test.toml:1: unknown key \"idle-timeout\"; did you mean \"idle_timeout\"?"),
        ("no_lru_crawler = true", "test.toml:1: unknown key \"no_lru_crawler\"; write lru_crawler = false"),
        ("help = true", "test.toml:1: \"help\" can only be given on the command line (-h)"),
        ("config = \"x\"", "test.toml:1: \"config\" can only be given on the command line (--config)"),
    ];
    for (text, expected) in cases {
        assert_eq!(toml_error(text), (expected.to_string(), 78), "{text:?}");
    }
    // Checks made once everything is read keep memcached's message and status.
    assert_eq!(
        toml_error("memory-limit = 1"),
        (
            "Cannot set item size limit higher than 1/2 of memory max.".into(),
            64
        )
    );
    let missing =
        parse_args(["--config", "/nonexistent/corvid.toml"].map(OsString::from)).unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("cannot read the config file /nonexistent/corvid.toml: "),
        "{missing}"
    );
    assert_eq!(missing.exit_code(), 78);
}

#[test]
fn an_empty_file_is_the_defaults() {
    assert_eq!(from_toml("").unwrap(), Settings::default());
    assert_eq!(from_toml("# nothing\n\n").unwrap(), Settings::default());
}

/// Written like the file Debian's memcached package installs.
const DEBIAN_STYLE: &str = "\
# memcached settings, read by the init scripts
-d
logfile /var/log/memcached.log
# -v
-m 64
-p 11211
-u memcache
-l 127.0.0.1    # loopback only
# -c 1024
-P /var/run/memcached/memcached.pid
";

#[test]
fn a_debian_memcached_conf_carries_over() {
    let s = from_memcached_conf(DEBIAN_STYLE).unwrap();
    assert_eq!(s.memory_limit, 64 << 20);
    assert_eq!(s.port, 11211);
    assert_eq!(s.user.as_deref(), Some("memcache"));
    assert_eq!(s.listen, ["127.0.0.1"]);
    assert_eq!(
        s.pid_file,
        Some(PathBuf::from("/var/run/memcached/memcached.pid"))
    );
    // Debian's scripts drop -d: the service manager keeps the server in the foreground.
    assert!(!s.daemonize);
    assert_eq!(s.verbose, 0);
    assert_eq!(
        s.warnings,
        [
            "memcached.conf:3: logfile /var/log/memcached.log: ignored; corvid logs to its \
          standard error, as memcached does under Debian's systemd unit"
        ]
    );
}

#[test]
fn memcached_conf_lines_are_flags_of_any_form() {
    let s = from_memcached_conf(
        "-m 64 -c 100\n--threads=3\n-o idle_timeout=5,no_lru_crawler\n-vv\n-h\n-P '/run/a b'\n",
    )
    .unwrap();
    assert_eq!(
        (s.max_conns, s.threads, s.idle_timeout, s.verbose),
        (100, 3, 5, 2)
    );
    assert_eq!(s.pid_file, Some(PathBuf::from("/run/a b")));
    assert_eq!(
        s.warnings,
        ["-o no_lru_crawler: not used by corvid; ignored"]
    );
}

#[test]
fn mistakes_in_memcached_conf_name_the_file_and_the_line() {
    let error = |text: &str| match from_memcached_conf(text) {
        Err(e) => (e.to_string(), e.exit_code()),
        Ok(s) => panic!("{text:?} was accepted: {s:?}"),
    };
    let cases: &[(&str, &str)] = &[
        (
            "-m 64\n-c 0\n",
            "memcached.conf:2: Maximum connections must be greater than 0",
        ),
        ("-x\n", "memcached.conf:1: corvid: invalid option -- 'x'"),
        (
            "\n-p\n",
            "memcached.conf:2: corvid: option requires an argument -- 'p'",
        ),
        (
            "pidfile /x\n",
            "memcached.conf:1: unknown directive \"pidfile\"",
        ),
        (
            "-u $USER\n",
            "memcached.conf:1: shell expansions ($, `) are not supported; write the value itself",
        ),
        ("-V\n", "memcached.conf:1: -V is not allowed in this file"),
        (
            "--config=/x\n",
            "memcached.conf:1: --config is not allowed in this file",
        ),
        (
            "-o bogus\n",
            "memcached.conf:1: Illegal suboption \"bogus\"",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text), (expected.to_string(), 78), "{text:?}");
    }
}
