//! The `corvid proxy` command line: nutcracker 0.5.0's flags, long names, defaults and
//! messages (as Debian builds it), so a twemproxy init script or systemd unit starts
//! Corvid unchanged, plus Corvid's own long options. `args` reads them, `run` acts on
//! them, `usage` holds the texts of `-h`, `-V` and `-D`.

pub mod args;
pub mod run;
mod serving;
mod usage;
