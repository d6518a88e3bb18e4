//! `--memcached-conf FILE`: Debian's `/etc/memcached.conf`, read as Debian's own scripts
//! read it (`/usr/share/memcached/scripts/systemd-memcached-wrapper`, which the
//! `memcached` unit runs, and `start-memcached`), so an existing host's settings carry
//! over:
//!
//! ```text
//! # a comment
//! -m 64
//! -l 127.0.0.1     # also a comment
//! -d               # skipped: the service manager keeps the server in the foreground
//! logfile /var/log/memcached.log
//! ```
//!
//! - A `#` not preceded by a backslash starts a comment; blank lines are skipped.
//! - Lines starting with `-d` or `-h` are skipped, as both Debian scripts skip them (they
//!   run memcached in the foreground under their own supervision).
//! - `logfile PATH`: `start-memcached` sends memcached's output there; the systemd
//!   wrapper ignores it (output goes to the journal). Corvid does as the systemd wrapper,
//!   with a warning: its output goes wherever its stderr goes.
//! - Any other line not starting with `-` is an error (the systemd wrapper silently
//!   skips such lines; `start-memcached` dies on them).
//! - Every other line is split into words as a shell would (quotes and backslashes;
//!   `$` and backquotes are refused rather than expanded) and read as memcached flags.
//!   A flag's value must be on its own line, as in every memcached.conf Debian ships.
//!
//! Errors name the file and the line.

use std::ffi::OsString;
use std::path::Path;

use super::builder::Builder;
use super::error::{SettingsError, EX_CONFIG};
use super::options::{Form, Given, Status};
use super::table;
use crate::getopt::{Getopt, Item};

pub(super) fn load(builder: &mut Builder, path: &Path) -> Result<(), SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SettingsError::new(
            format!(
                "cannot read the memcached config file {}: {e}",
                path.display()
            ),
            EX_CONFIG,
        )
    })?;
    apply_text(builder, &text, &path.display().to_string())
}

pub(super) fn apply_text(
    builder: &mut Builder,
    text: &str,
    name: &str,
) -> Result<(), SettingsError> {
    for (index, raw) in text.lines().enumerate() {
        let place = format!("{name}:{}", index + 1);
        let fail = |message: String| SettingsError::new(format!("{place}: {message}"), EX_CONFIG);
        let line = strip_comment(raw).trim();
        if line.is_empty() || line.starts_with("-d") || line.starts_with("-h") {
            continue;
        }
        if !line.starts_with('-') {
            let (directive, argument) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            if directive != "logfile" {
                return Err(fail(format!("unknown directive \"{directive}\"")));
            }
            builder.warn(format!(
                "{place}: logfile {}: ignored; corvid logs to its standard error, as \
                 memcached does under Debian's systemd unit",
                argument.trim()
            ));
            continue;
        }
        let words = split_words(line).map_err(fail)?;
        let args = words.into_iter().map(OsString::from).collect();
        let mut getopt = Getopt::new(args, table::getopt_specs(), "corvid");
        while let Some(item) = getopt.next_item() {
            match item.map_err(|e| SettingsError::from(e).in_file(&place))? {
                Item::Operand(word) => {
                    builder.warn(format!("{place}: ignoring {word:?}: not an option"));
                }
                Item::Opt(code, value) => {
                    let Some(opt) = table::by_code(code) else {
                        return Err(fail(format!("Illegal argument \"{}\"", code as char)));
                    };
                    let memcached_flag = matches!(opt.form, Form::Flag { .. });
                    if !memcached_flag
                        || (opt.status == Status::CommandLine && opt.key != "extended")
                    {
                        return Err(fail(format!(
                            "{} is not allowed in this file",
                            opt.spelling()
                        )));
                    }
                    let given = Given {
                        value: value.as_deref(),
                        negated: false,
                    };
                    table::apply(builder, opt, given).map_err(|e| e.in_file(&place))?;
                }
            }
        }
    }
    Ok(())
}

/// The line up to its first `#` that is not escaped with a backslash.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1] != b'\\') {
            return &line[..i];
        }
    }
    line
}

/// Splits a line into words as `sh` would, without expansions: whitespace separates,
/// `'...'` is literal, `"..."` keeps `\"`, `\\`, `\$` and `` \` `` escapes, and a
/// backslash outside quotes takes the next character literally.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some('$' | '`') => return Err(no_expansion()),
                        Some(c) => w.push(c),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                if let Some(c) = chars.next() {
                    w.push(c);
                }
            }
            '$' | '`' => return Err(no_expansion()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

fn no_expansion() -> String {
    "shell expansions ($, `) are not supported; write the value itself".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_end_at_an_unescaped_hash() {
        assert_eq!(strip_comment("-m 64 # memory"), "-m 64 ");
        assert_eq!(strip_comment("# all comment"), "");
        assert_eq!(strip_comment(r"-D \#"), r"-D \#");
        assert_eq!(strip_comment("-p 1"), "-p 1");
    }

    #[test]
    fn words_split_as_a_shell_splits_them() {
        let split = |line: &str| split_words(line).unwrap();
        assert_eq!(split("-l 127.0.0.1"), ["-l", "127.0.0.1"]);
        assert_eq!(split("  -m   64  "), ["-m", "64"]);
        assert_eq!(split("-m 64 -c 100"), ["-m", "64", "-c", "100"]);
        assert_eq!(split("-P '/run/a b.pid'"), ["-P", "/run/a b.pid"]);
        assert_eq!(split(r#"-P "/run/a\"b""#), ["-P", "/run/a\"b"]);
        assert_eq!(split(r"-D \#"), ["-D", "#"]);
        assert_eq!(split(r"-s /tmp/a\ b"), ["-s", "/tmp/a b"]);
        assert_eq!(split("-o''x"), ["-ox"]);
        assert!(split_words("-u $USER").is_err());
        assert!(split_words("-u \"`id`\"").is_err());
        assert!(split_words("-P 'open").is_err());
    }
}
