//! The IO backend of the servers these tests start in-process. `scripts/test` runs the
//! socket-level tests twice, the second time with `CORVID_IO_BACKEND=uring`; only the
//! tests read that variable (a server's configuration never does: `ServerConfig`'s
//! default is epoll, and `-o io_backend=` is the only switch).

use server::IoBackend;

/// `CORVID_IO_BACKEND` (`epoll`, `uring`); epoll when it is unset. Any other value fails
/// the test, so a typo cannot quietly test epoll twice.
pub fn io_backend() -> IoBackend {
    match std::env::var("CORVID_IO_BACKEND") {
        Err(_) => IoBackend::Epoll,
        Ok(name) => IoBackend::from_name(&name)
            .unwrap_or_else(|| panic!("CORVID_IO_BACKEND={name}: neither epoll nor uring")),
    }
}
