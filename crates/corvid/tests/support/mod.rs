//! Shared machinery of the whole-server tests: starting memcached and corvid on free ports,
//! and the differential script runner that compares them byte for byte.
//!
//! Every test binary under `tests/` includes this module and uses a different part of it,
//! hence the `dead_code` allowance: what one binary leaves unused another one needs.
//!
//! Starting servers: [`server`] (a running memcached, corvid or proxy, and why one did not
//! start), [`implementation`] (which program, its binary), [`command_line`] (the flags
//! every test server gets: loopback listeners, the IO backend under test), [`stream`]
//! (endpoints, transports and the client sockets to them), [`ports`] (free ports, a UDP
//! bind), [`temp_dir`]. The rest: the script language and its runner ([`script`],
//! [`run`], [`suite`], [`normalise`], [`show`]), clients ([`text`], [`tls`]), proxies
//! ([`proxy`]), listening sockets of a process ([`listener`]), [`restart_disk`].
#![allow(dead_code)]

pub mod command_line;
pub mod implementation;
pub mod listener;
pub mod normalise;
pub mod pid_file;
pub mod ports;
pub mod proxy;
pub mod restart_disk;
pub mod run;
pub mod script;
pub mod server;
pub mod show;
pub mod stream;
#[macro_use]
pub mod suite;
pub mod temp_dir;
pub mod text;
pub mod tls;

// The names tests use, re-exported here; like the dead code above, a re-export one
// binary leaves unused another one needs.
#[allow(unused_imports)]
pub use command_line::{io_backend, loopback_args, proxy_backend_args, server_backend_args};
#[allow(unused_imports)]
pub use implementation::{memcached_binary, Implementation};
#[allow(unused_imports)]
pub use ports::{free_port, wait_until_udp_bound};
#[allow(unused_imports)]
pub use server::{with_server_env, Refusal, Server};
#[allow(unused_imports)]
pub use stream::{Endpoint, Stream, Transport};
#[allow(unused_imports)]
pub use temp_dir::TempDir;

use implementation::running_as_root;
