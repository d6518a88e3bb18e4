//! Which program a test server runs (memcached, corvid, corvid's proxy), where its
//! binary is, and the flags it needs whatever the test asks (memcached's `-u root`).

use std::fs;
use std::path::PathBuf;

use super::server_backend_args;

/// The reference implementation. Overridable so a developer can point at a source build.
const MEMCACHED_DEFAULT: &str = "/usr/bin/memcached";

/// Which implementation a `Server` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    Memcached,
    Corvid,
    /// `corvid proxy` in front of one memcached (the one the script's flags configure),
    /// with `flush_all` allowed: what a client of the proxy sees must be what a client
    /// of that memcached sees.
    Proxy,
}

impl Implementation {
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Memcached => "memcached",
            Implementation::Corvid => "corvid",
            Implementation::Proxy => "proxy",
        }
    }

    pub(super) fn binary(self) -> PathBuf {
        match self {
            Implementation::Memcached => memcached_binary(),
            Implementation::Corvid | Implementation::Proxy => {
                PathBuf::from(env!("CARGO_BIN_EXE_corvid"))
            }
        }
    }

    /// memcached refuses to run as root without `-u`; test containers often are root.
    /// Corvid gets exactly the flags the script asked for.
    pub(super) fn implicit_args(self) -> Vec<String> {
        match self {
            Implementation::Memcached if running_as_root() => vec!["-u".into(), "root".into()],
            Implementation::Corvid => server_backend_args(),
            _ => Vec::new(),
        }
    }
}

/// The path of the reference memcached, failing the test (never skipping it) when absent.
pub fn memcached_binary() -> PathBuf {
    let path = std::env::var_os("MEMCACHED_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(MEMCACHED_DEFAULT));
    assert!(
        path.is_file(),
        "the reference server {} is missing: these tests compare corvid with memcached 1.6; \
         run ./scripts/test, which installs the Debian memcached package (or set MEMCACHED_BIN)",
        path.display()
    );
    path
}

pub(super) fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}
