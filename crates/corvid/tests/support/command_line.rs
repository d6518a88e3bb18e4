//! The flags every test server gets: the IO backend this run of the suite tests
//! (`CORVID_IO_BACKEND`), and listeners on loopback only.

/// The IO backend this run of the suite puts every Corvid server and proxy on:
/// `CORVID_IO_BACKEND` (`epoll`, `uring`), epoll when unset. `scripts/test` runs the
/// socket-level tests a second time with `uring`. Only the tests read the variable: the
/// binary never does (`-o io_backend=` and `proxy --io-backend` are its switches).
/// Any other value fails the test, so a typo cannot quietly test epoll twice.
pub fn io_backend() -> &'static str {
    match std::env::var("CORVID_IO_BACKEND").as_deref() {
        Err(_) | Ok("epoll") => "epoll",
        Ok("uring") => "uring",
        Ok(other) => panic!("CORVID_IO_BACKEND={other}: neither epoll nor uring"),
    }
}

/// The flags that put a `corvid` server on [`io_backend`] (none for epoll, the default).
pub fn server_backend_args() -> Vec<String> {
    match io_backend() {
        "epoll" => Vec::new(),
        name => vec!["-o".into(), format!("io_backend={name}")],
    }
}

/// The flags that put a `corvid proxy` on [`io_backend`] (none for epoll, the default).
pub fn proxy_backend_args() -> Vec<String> {
    match io_backend() {
        "epoll" => Vec::new(),
        name => vec!["--io-backend".into(), name.into()],
    }
}

/// The flags that make a test server listen on `port` of 127.0.0.1 only, with UDP off
/// and `threads` workers: `-p PORT -l 127.0.0.1 -U 0 -t THREADS`, which memcached and
/// corvid read alike.
pub fn loopback_args(port: u16, threads: usize) -> Vec<String> {
    vec![
        "-p".into(),
        port.to_string(),
        "-l".into(),
        "127.0.0.1".into(),
        "-U".into(),
        "0".into(),
        "-t".into(),
        threads.to_string(),
    ]
}
