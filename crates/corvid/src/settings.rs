//! The `corvid` command line: memcached 1.6.18's flags, long names, defaults, syntax and
//! error messages, so an existing memcached init script starts Corvid unchanged; plus a
//! TOML config file (`--config`) and a Debian `/etc/memcached.conf` (`--memcached-conf`)
//! that say the same things, and `--print-config`.
//!
//! Every option is one entry of one table ([`table`], entries in [`flags`] and
//! [`extended`], their shape in [`options`]): getopt, the config-file keys,
//! `--print-config`, `-h`, the packaged `corvid.toml` and docs/flags.md are read from it.
//! Sources are applied in a fixed order whatever their place on the command line: the
//! TOML file, then the memcached.conf file, then the command line, so a flag overrides a
//! file.
//!
//! Flags Corvid does not implement are accepted and leave a one-line warning in
//! [`Settings::warnings`]; flags whose silent absence would weaken security (`-S`, `-Y`,
//! `-Z`) are refused instead. This module reads arguments and the files they name: it
//! never opens sockets, never prints, and never exits the process (main does, with
//! [`SettingsError::exit_code`]).

mod builder;
mod config_file;
#[cfg(test)]
mod config_tests;
mod error;
mod extended;
mod flags;
#[cfg(test)]
mod generated;
mod memcached_conf;
mod model;
mod options;
mod parse;
mod render;
mod table;
mod usage;

pub use error::SettingsError;
pub use model::{Command, ProtocolMode, Settings};
pub use parse::parse_args;
#[cfg(test)]
pub(crate) use table::getopt_specs;

#[cfg(test)]
mod tests;
