//! `-o` (`--extended`): lists parsed like getsubopt, the keys Corvid applies
//! (`idle_timeout`, `maxconns_fast`, `modern`, ...), every key memcached 1.6.18 accepts
//! (one warning each for what Corvid ignores), keys that need a value, the values
//! memcached checks, and non-UTF-8 paths.

use std::path::PathBuf;

use super::*;

#[test]
fn idle_timeout_is_applied() {
    let s = serve(&["-o", "idle_timeout=30"]);
    assert_eq!(s.idle_timeout, 30);
    assert!(s.warnings.is_empty());
    assert_eq!(serve(&["--extended=idle_timeout=5"]).idle_timeout, 5);
    assert_eq!(serve(&["-oidle_timeout=7"]).idle_timeout, 7);
    assert_eq!(
        error(&["-o", "idle_timeout"]),
        ("Missing numeric argument for idle_timeout".into(), 1)
    );
    assert_eq!(
        message(&["-o", "idle_timeout=abc"]),
        "could not parse argument to idle_timeout"
    );
}

#[test]
fn maxconns_fast_and_modern() {
    assert!(!serve(&["-o", "no_maxconns_fast"]).maxconns_fast);
    assert!(serve(&["-o", "no_maxconns_fast,maxconns_fast"]).maxconns_fast);
    let s = serve(&["-o", "modern"]);
    assert!(s.warnings.is_empty());
}

#[test]
fn extended_lists_parse_like_getsubopt() {
    let s = serve(&["-o", "idle_timeout=5,no_maxconns_fast,"]);
    assert_eq!((s.idle_timeout, s.maxconns_fast), (5, false));
    assert_eq!(serve(&["-o", ""]), Settings::default());
    let s = serve(&["-o", "idle_timeout=5", "-o", "hashpower=20"]);
    assert_eq!(s.idle_timeout, 5);
    assert_eq!(s.warnings, ["-o hashpower: not used by corvid; ignored"]);
    // Flag keys ignore a value, as in memcached.
    assert!(serve(&["-o", "modern=1"]).warnings.is_empty());
    assert_eq!(
        error(&["-o", "idle_timeout=5,bogus"]),
        ("Illegal suboption \"bogus\"".into(), 1)
    );
    assert_eq!(message(&["-o", "bogus=1"]), "Illegal suboption \"bogus=1\"");
    assert_eq!(
        message(&["-o", ",idle_timeout=5"]),
        "Illegal suboption \"\""
    );
    assert_eq!(message(&["-o", "a,,b"]), "Illegal suboption \"a\"");
    assert_eq!(
        message(&["-o", "lru_segmented"]),
        "Illegal suboption \"lru_segmented\""
    );
    assert_eq!(
        message(&["-o", "proxy_config=x"]),
        "Illegal suboption \"proxy_config=x\""
    );
    assert_eq!(
        message(&["-o"]),
        "corvid: option requires an argument -- 'o'"
    );
}

/// Every -o key memcached 1.6.18 (Debian build: TLS and extstore, no proxy) accepts,
/// with a value it accepts.
const ACCEPTED_KEYS: &[&str] = &[
    "hashpower=16",
    "no_hashexpand",
    "slab_reassign",
    "slab_automove",
    "slab_automove=1",
    "slab_automove_ratio=0.5",
    "slab_automove_window=30",
    "tail_repair_time=60",
    "hash_algorithm=xxh3",
    "hash_algorithm=jenkins",
    "hash_algorithm=murmur3",
    "lru_crawler",
    "lru_crawler_sleep=100",
    "lru_crawler_tocrawl=0",
    "lru_maintainer",
    "hot_lru_pct=20",
    "warm_lru_pct=40",
    "hot_max_factor=0.2",
    "warm_max_factor=2.0",
    "temporary_ttl=61",
    "watcher_logbuf_size=256",
    "worker_logbuf_size=64",
    "slab_sizes=96-120",
    "slab_chunk_max=524288",
    "track_sizes",
    "no_inline_ascii_resp",
    "inline_ascii_resp",
    "no_modern",
    "no_chunked_items",
    "no_slab_reassign",
    "no_slab_automove",
    "no_lru_crawler",
    "no_lru_maintainer",
    "no_drop_privileges",
    "drop_privileges",
    "resp_obj_mem_limit=1",
    "read_buf_mem_limit=0",
    "ssl_kernel_tls",
    "sock_cookie_id=1",
    "ext_page_size=64",
    "ext_wbuf_size=4",
    "ext_threads=1",
    "ext_io_depth=1",
    "ext_path=/tmp/e:64m",
    "ext_item_size=512",
    "ext_item_age=10",
    "ext_low_ttl=0",
    "ext_recache_rate=2000",
    "ext_compact_under=1",
    "ext_drop_under=1",
    "ext_max_sleep=100",
    "ext_max_frag=0.8",
    "slab_automove_freeratio=0.01",
    "ext_drop_unread",
];

#[test]
fn every_memcached_extended_key_is_accepted_with_one_warning() {
    for item in ACCEPTED_KEYS {
        let s = serve(&["-o", item]);
        let key = item.split('=').next().unwrap_or_default();
        // The disk tier's keys are served, not ignored: no warning.
        if key.starts_with("ext_") {
            assert!(s.warnings.is_empty(), "{item}: {:?}", s.warnings);
            continue;
        }
        assert_eq!(s.warnings.len(), 1, "{item}: {:?}", s.warnings);
        assert!(
            s.warnings[0].starts_with(&format!("-o {key}: ")),
            "{:?}",
            s.warnings
        );
    }
    // One line per key, however often it is given.
    let s = serve(&[
        "-o",
        "temporary_ttl=1,temporary_ttl=2",
        "-o",
        "temporary_ttl=3",
    ]);
    assert_eq!(s.warnings.len(), 1);
}

#[test]
fn extended_keys_that_need_a_value_say_so() {
    let cases = [
        ("hashpower", "Missing numeric argument for hashpower"),
        (
            "tail_repair_time",
            "Missing numeric argument for tail_repair_time",
        ),
        ("hash_algorithm", "Missing hash_algorithm argument"),
        ("lru_crawler_sleep", "Missing lru_crawler_sleep value"),
        ("lru_crawler_tocrawl", "Missing lru_crawler_tocrawl value"),
        (
            "slab_automove_ratio",
            "Missing slab_automove_ratio argument",
        ),
        (
            "slab_automove_window",
            "Missing slab_automove_window argument",
        ),
        ("hot_lru_pct", "Missing hot_lru_pct argument"),
        ("warm_lru_pct", "Missing warm_lru_pct argument"),
        ("hot_max_factor", "Missing hot_max_factor argument"),
        ("warm_max_factor", "Missing warm_max_factor argument"),
        ("temporary_ttl", "Missing temporary_ttl argument"),
        (
            "watcher_logbuf_size",
            "Missing watcher_logbuf_size argument",
        ),
        ("worker_logbuf_size", "Missing worker_logbuf_size argument"),
        ("read_buf_mem_limit", "Missing read_buf_mem_limit argument"),
        ("slab_sizes", "Missing slab_sizes argument"),
        ("sock_cookie_id", "Missing sock_cookie_id argument"),
        ("ssl_chain_cert", "Missing ssl_chain_cert argument"),
        ("ssl_key", "Missing ssl_key argument"),
        ("ssl_verify_mode", "Missing ssl_verify_mode argument"),
        ("ssl_keyformat", "Missing ssl_keyformat argument"),
        ("ssl_ciphers", "Missing ssl_ciphers argument"),
        ("ssl_ca_cert", "Missing ssl_ca_cert argument"),
        ("ssl_wbuf_size", "Missing ssl_wbuf_size argument"),
        ("ssl_min_version", "Missing ssl_min_version argument"),
        ("ext_page_size", "Missing ext_page_size argument"),
        ("ext_wbuf_size", "Missing ext_wbuf_size argument"),
        ("ext_threads", "Missing ext_threads argument"),
        ("ext_io_depth", "Missing ext_io_depth argument"),
        ("ext_item_size", "Missing ext_item_size argument"),
        ("ext_item_age", "Missing ext_item_age argument"),
        ("ext_low_ttl", "Missing ext_low_ttl argument"),
        ("ext_recache_rate", "Missing ext_recache_rate argument"),
        ("ext_compact_under", "Missing ext_compact_under argument"),
        ("ext_drop_under", "Missing ext_drop_under argument"),
        ("ext_max_sleep", "Missing ext_max_sleep argument"),
        ("ext_max_frag", "Missing ext_max_frag argument"),
        (
            "slab_automove_freeratio",
            "Missing slab_automove_freeratio argument",
        ),
        (
            "ext_path",
            "missing argument to ext_path, ie: ext_path=/d/file:5G",
        ),
    ];
    for (key, expected) in cases {
        assert_eq!(error(&["-o", key]), (expected.to_string(), 1), "{key}");
    }
}

#[test]
fn extended_values_memcached_checks() {
    let cases: &[(&str, &str)] = &[
        (
            "hashpower=11",
            "Initial hashtable multiplier of 11 is too low",
        ),
        (
            "hashpower=33",
            "Initial hashtable multiplier of 33 is too high",
        ),
        (
            "tail_repair_time=9",
            "Cannot set tail_repair_time to less than 10 seconds",
        ),
        (
            "hash_algorithm=md5",
            "Unknown hash_algorithm option (jenkins, murmur3, xxh3)",
        ),
        (
            "lru_crawler_sleep=1000001",
            "LRU crawler sleep must be between 0 and 1 second",
        ),
        (
            "lru_crawler_tocrawl=-1",
            "lru_crawler_tocrawl takes a numeric 32bit value",
        ),
        ("hot_lru_pct=80", "hot_lru_pct must be > 1 and < 80"),
        ("warm_lru_pct=0", "warm_lru_pct must be > 1 and < 80"),
        ("hot_max_factor=0", "hot_max_factor must be > 0"),
        ("warm_max_factor=-1", "warm_max_factor must be > 0"),
        ("slab_automove=3", "slab_automove must be between 0 and 2"),
        (
            "slab_automove_ratio=0",
            "slab_automove_ratio must be > 0 and < 1",
        ),
        ("slab_automove_window=2", "slab_automove_window must be > 2"),
        (
            "ssl_verify_mode=4",
            "Invalid ssl_verify_mode. Use help to see valid options.",
        ),
        (
            "ssl_min_version=4",
            "Invalid ssl_min_version. Use help to see valid options.",
        ),
        (
            "ssl_keyformat=x",
            "could not parse argument to ssl_keyformat",
        ),
        (
            "watcher_logbuf_size=abc",
            "could not parse argument to watcher_logbuf_size",
        ),
        (
            "read_buf_mem_limit=abc",
            "could not parse argument to read_buf_mem_limit",
        ),
        ("ext_threads=x", "could not parse argument to ext_threads"),
        ("ext_max_frag=x", "could not parse argument to ext_max_frag"),
        (
            "ext_path=/tmp/e",
            // memcached 1.6.18 prints both lines.
            "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)\n\
             failed to parse ext_path argument",
        ),
    ];
    for (item, expected) in cases {
        assert_eq!(error(&["-o", item]), (expected.to_string(), 1), "{item}");
    }
    assert_eq!(
        error(&["-o", "hot_lru_pct=50,warm_lru_pct=40"]),
        (
            "hot_lru_pct + warm_lru_pct cannot be more than 80% combined".into(),
            64
        )
    );
    assert_eq!(
        error(&["-o", "no_lru_maintainer,temporary_ttl=10"]),
        (
            "temporary_ttl requires lru_maintainer to be enabled".into(),
            64
        )
    );
    assert_eq!(serve(&["-o", "hot_lru_pct=1"]).warnings.len(), 1);
}

#[test]
fn non_utf8_paths_are_kept_and_other_values_refused() {
    use std::os::unix::ffi::OsStringExt;
    let odd = OsString::from_vec(vec![b'/', 0xff]);
    let got = parse_args([OsString::from("-s"), odd.clone()]);
    match got {
        Ok(Command::Serve(s)) => assert_eq!(s.unix_socket, Some(PathBuf::from(odd.clone()))),
        other => panic!("{other:?}"),
    }
    let err = parse_args([OsString::from("-u"), odd]).unwrap_err();
    assert_eq!(err.to_string(), "-u: argument is not valid UTF-8");
}
