//! One `STAT name value\r\n` line: how every `stats` reply is written.

use std::io::Write as _;

pub(super) fn stat(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "STAT {name} {value}\r\n");
}
