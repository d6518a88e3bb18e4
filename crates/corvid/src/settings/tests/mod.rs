//! The command line, flag by flag, against memcached 1.6.18.
//!
//! Each expected message in these modules was taken from memcached 1.6.18 given the same
//! flags, unless the test says Corvid deliberately differs. One module per kind of flag:
//! - [`command_line`]: defaults, getopt syntax (clusters, long prefixes, errors, stray
//!   words), `-h`/`-V`, a whole init-script line;
//! - [`listeners`]: where corvid listens and as whom (`-p -U -s -a -l -b -u -P`, TLS);
//! - [`limits`]: memory, connections, threads, requests per event, item sizes;
//! - [`protocols`]: `-B` and the logins (`-S`, `-Y`) that constrain it;
//! - [`ignored_flags`]: memcached flags Corvid accepts with a warning, values still checked;
//! - [`extended_options`]: `-o` lists, every key memcached accepts, their values.
//!
//! This module holds what they share: running the parser on a command line.

mod command_line;
mod extended_options;
mod ignored_flags;
mod limits;
mod listeners;
mod protocols;

use std::ffi::OsString;

use super::*;

fn parse(args: &[&str]) -> Result<Command, SettingsError> {
    parse_args(args.iter().map(OsString::from))
}

fn serve(args: &[&str]) -> Settings {
    match parse(args) {
        Ok(Command::Serve(s)) => *s,
        other => panic!("{args:?} gave {other:?}"),
    }
}

/// The message and exit status of a refused command line.
fn error(args: &[&str]) -> (String, i32) {
    match parse(args) {
        Err(e) => (e.to_string(), e.exit_code()),
        Ok(other) => panic!("{args:?} was accepted: {other:?}"),
    }
}

fn message(args: &[&str]) -> String {
    error(args).0
}
