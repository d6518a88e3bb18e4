//! How much corvid may use: the memory limit and memory file (`-m -e`), connections
//! (`-c`), threads (`-t`), requests per event (`-R`), and item sizes (`-I`, with
//! memcached's slab rules for what it refuses).

use super::*;

#[test]
fn memory_file_is_taken() {
    assert_eq!(serve(&[]).memory_file, None);
    for args in [
        &["-e", "/dev/shm/m"][..],
        &["-e/dev/shm/m"],
        &["--memory-file=/dev/shm/m"],
        &["--memory-file", "/dev/shm/m"],
    ] {
        let s = serve(args);
        assert_eq!(
            s.memory_file.as_deref(),
            Some(std::path::Path::new("/dev/shm/m"))
        );
        assert!(s.warnings.is_empty(), "{args:?}: {:?}", s.warnings);
    }
    assert_eq!(error(&["-e", ""]).0, "-e: the memory file name is empty");
}

#[test]
fn memory_limit_is_mebibytes() {
    assert_eq!(serve(&["-m", "1024"]).memory_limit, 1 << 30);
    assert_eq!(serve(&["--memory-limit=128"]).memory_limit, 128 << 20);
    assert_eq!(serve(&["-m2", "-I", "1m"]).memory_limit, 2 << 20);
    assert_eq!(
        error(&["-m", "0"]),
        (
            "Cannot set item size limit higher than 1/2 of memory max.".into(),
            64
        )
    );
    assert_eq!(
        message(&["-m", "1"]),
        "Cannot set item size limit higher than 1/2 of memory max."
    );
    // memcached's atoi reads "1g" as 1 MiB; Corvid refuses it rather than guess.
    assert_eq!(message(&["-m", "1g"]), "Invalid number for -m: \"1g\"");
    assert_eq!(message(&["-m", "-1"]), "Invalid number for -m: \"-1\"");
    assert_eq!(
        message(&["-m", "99999999999999999"]),
        "Invalid number for -m: \"99999999999999999\""
    );
}

#[test]
fn connection_limit() {
    assert_eq!(serve(&["-c", "10"]).max_conns, 10);
    assert_eq!(serve(&["--conn-limit=4096"]).max_conns, 4096);
    let expected = ("Maximum connections must be greater than 0".to_string(), 1);
    assert_eq!(error(&["-c", "0"]), expected);
    assert_eq!(error(&["-c", "-1"]), expected);
    assert_eq!(message(&["-c", "abc"]), "Invalid number for -c: \"abc\"");
}

#[test]
fn threads() {
    assert_eq!(serve(&["-t", "2"]).threads, 2);
    assert_eq!(serve(&["--threads=8"]).threads, 8);
    let expected = ("Number of threads must be greater than 0".to_string(), 1);
    assert_eq!(error(&["-t", "0"]), expected);
    assert_eq!(error(&["-t", "-1"]), expected);
    let s = serve(&["-t", "65"]);
    assert_eq!(s.threads, 65);
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].starts_with("-t 65: "), "{:?}", s.warnings);
    assert!(serve(&["-t", "64"]).warnings.is_empty());
}

#[test]
fn requests_per_event() {
    assert_eq!(serve(&["-R", "5"]).reqs_per_event, 5);
    assert_eq!(serve(&["--max-reqs-per-event=100"]).reqs_per_event, 100);
    assert_eq!(
        error(&["-R", "0"]),
        (
            "Number of requests per event must be greater than 0".into(),
            1
        )
    );
    // memcached accepts a negative -R; Corvid does not.
    assert_eq!(
        message(&["-R", "-1"]),
        "Number of requests per event must be greater than 0"
    );
}

#[test]
fn item_size_units() {
    assert_eq!(serve(&["-I", "1m"]).item_size_max, 1 << 20);
    assert_eq!(serve(&["-I", "2M"]).item_size_max, 2 << 20);
    assert_eq!(serve(&["-I", "1536k"]).item_size_max, 1536 << 10);
    assert_eq!(serve(&["-I", "512K"]).item_size_max, 512 << 10);
    assert_eq!(serve(&["-I", "1048576"]).item_size_max, 1 << 20);
    assert_eq!(serve(&["--max-item-size=4m"]).item_size_max, 4 << 20);
    assert_eq!(serve(&["-m", "4096", "-I", "1024m"]).item_size_max, 1 << 30);
    // g is Corvid's addition: memcached's atoi would read "1g" as 1 byte.
    assert_eq!(serve(&["-m", "4096", "-I", "1g"]).item_size_max, 1 << 30);
}

#[test]
fn item_size_limits() {
    let too_small = (
        "Item max size cannot be less than 1024 bytes.".to_string(),
        64,
    );
    assert_eq!(error(&["-I", "1000"]), too_small);
    assert_eq!(error(&["-I", "1023"]), too_small);
    assert_eq!(error(&["-I", "-5"]), too_small);
    assert_eq!(error(&["-I", "0k"]), too_small);
    assert_eq!(
        error(&["-I", "33m"]),
        (
            "Cannot set item size limit higher than 1/2 of memory max.".into(),
            64
        )
    );
    assert_eq!(
        message(&["-I", "2g"]),
        "Cannot set item size limit higher than 1/2 of memory max."
    );
    assert_eq!(
        message(&["-m", "8192", "-I", "2g"]),
        "Cannot set item size limit higher than a gigabyte."
    );
    assert_eq!(
        message(&["-m", "4096", "-I", "1025m"]),
        "Cannot set item size limit higher than a gigabyte."
    );
    // Too large to represent is simply too large.
    assert_eq!(
        message(&["-m", "99999", "-I", "99999999999g"]),
        "Cannot set item size limit higher than 1/2 of memory max."
    );
    for bad in ["abc", "1mb", "1.5m", "m", "1t", ""] {
        assert_eq!(
            error(&["-I", bad]),
            (format!("Invalid number for -I: \"{bad}\""), 64)
        );
    }
}

#[test]
fn item_size_follows_memcacheds_slab_rules() {
    // memcached 1.6.18 refuses -I below its 512k slab chunk, and non-multiples of it.
    assert_eq!(
        message(&["-I", "1k"]),
        "slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 1024)"
    );
    assert_eq!(
        message(&["-I", "100k"]),
        "slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 102400)"
    );
    assert_eq!(
        message(&["-I", "600k"]),
        "-I (item_size_max: 614400) must be evenly divisible by slab_chunk_max (bytes: 524288)"
    );
    assert_eq!(serve(&["-I", "512k"]).item_size_max, 512 << 10);
    // ... unless -o slab_chunk_max (in bytes, in 1.6.18) says otherwise.
    let s = serve(&["-I", "1k", "-o", "slab_chunk_max=1024"]);
    assert_eq!(s.item_size_max, 1024);
    assert_eq!(
        s.warnings,
        ["-o slab_chunk_max: not used by corvid; ignored"]
    );
    assert_eq!(
        serve(&["-o", "slab_chunk_max=4", "-I", "100k"]).item_size_max,
        102400
    );
    assert_eq!(
        message(&["-I", "100k", "-o", "slab_chunk_max=3"]),
        "-I (item_size_max: 102400) must be evenly divisible by slab_chunk_max (bytes: 3)"
    );
    assert_eq!(
        message(&["-I", "1k", "-o", "slab_chunk_max=1025"]),
        "slab_chunk_max (bytes: 1025) cannot be larger than -I (item_size_max 1024)"
    );
    assert_eq!(
        message(&["-o", "slab_chunk_max=2097152", "-I", "2m"]),
        "slab_chunk_max (bytes: 2097152) must divide evenly into 1048576 (slab_page_size)"
    );
    assert_eq!(
        error(&["-o", "slab_chunk_max=0"]),
        ("slab_chunk_max must be greater than 0".into(), 1)
    );
    assert_eq!(
        message(&["-o", "slab_chunk_max=abc"]),
        "could not parse argument to slab_chunk_max"
    );
    assert_eq!(
        message(&["-o", "slab_chunk_max"]),
        "Missing slab_chunk_max argument"
    );
}
