//! Texts made from the options table, so neither can fall behind it: `-h` and
//! `--print-config`. The files made from it (the packaged `corvid.toml`, the tables of
//! docs/flags.md) are in [`generated`](super::generated).

use std::fmt::Write;

use super::model::Settings;
use super::options::{Form, Kind, Opt, Status, Value};
use super::table;
use super::usage::version;

/// Column where help descriptions start.
const HELP_COLUMN: usize = 26;
pub(super) const WIDTH: usize = 88;

/// Words of `text` in lines of at most `width` characters.
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The default of an option Corvid uses, as TOML; `None` when it has no value by default.
pub(super) fn default_of(opt: &Opt) -> Option<Value> {
    opt.show.and_then(|show| show(&Settings::default()))
}

fn marks(opt: &Opt) -> &'static str {
    match opt.status {
        Status::Ignored => " [ignored]",
        _ => "",
    }
}

/// The default as help shows it, for values worth showing.
fn help_default(opt: &Opt) -> String {
    match (opt.kind, default_of(opt)) {
        (Kind::Switch | Kind::Toggle | Kind::List | Kind::Count, _) | (_, None) => String::new(),
        (_, Some(Value::String(s))) => format!(" (default: {s})"),
        (_, Some(v)) => format!(" (default: {v})"),
    }
}

fn help_entry(out: &mut String, head: &str, description: &str) {
    let indent = " ".repeat(HELP_COLUMN);
    let mut lines = wrap(description, WIDTH - HELP_COLUMN).into_iter();
    let first = lines.next().unwrap_or_default();
    if head.len() < HELP_COLUMN {
        let _ = writeln!(out, "{head:<HELP_COLUMN$}{first}");
    } else {
        let _ = writeln!(out, "{head} {first}");
    }
    for line in lines {
        let _ = writeln!(out, "{indent}{line}");
    }
}

/// How an option is written in help: `-p, --port=<num>`, `-D <char>`, `--config=<file>`,
/// `-o idle_timeout=<sec>`.
pub(super) fn head(opt: &Opt) -> String {
    let arg = if opt.arg.is_empty() {
        String::new()
    } else {
        format!("={}", opt.arg)
    };
    match (opt.form, opt.short()) {
        (Form::Flag { long: true, .. }, Some(s)) => format!("-{}, --{}{arg}", s as char, opt.key),
        (Form::Flag { .. }, Some(s)) => format!("-{} {}", s as char, opt.arg),
        (Form::Extended { .. }, _) => format!("-o {}{arg}", opt.key),
        _ => format!("--{}{arg}", opt.key),
    }
}

/// `-h`.
pub(super) fn help() -> String {
    let mut out = version();
    out.push('\n');
    for opt in super::flags::FLAGS {
        let head = head(opt);
        let description = format!("{}{}{}", opt.help, help_default(opt), marks(opt));
        help_entry(&mut out, &head, &description);
        if opt.key == "extended" {
            for ext in super::extended::entries().filter(|o| o.status == Status::Used) {
                let head = match ext.arg {
                    "" => format!("   - {}", ext.key),
                    arg => format!("   - {}={arg}", ext.key),
                };
                help_entry(
                    &mut out,
                    &head,
                    &format!("{}{}", ext.help, help_default(ext)),
                );
            }
            help_entry(
                &mut out,
                "",
                "every other memcached -o option is accepted and ignored with a warning",
            );
        }
    }
    out.push_str(
        "\nEvery long option and -o key is also a key of the --config file: `port = 11211`,\n\
         `listen = [\"127.0.0.1\"]`, `idle_timeout = 30`.\n",
    );
    out
}

/// `--print-config`: every setting Corvid uses with its effective value, then the
/// ignored ones that were given. `--config` reads it back to the same settings.
pub(super) fn print_config(settings: &Settings) -> String {
    let mut out = String::from(
        "# The effective settings of this corvid command line, in the form `corvid --config\n\
         # FILE` reads.\n",
    );
    for opt in table::all().filter(|o| o.in_config()) {
        match opt.show {
            Some(show) => match show(settings) {
                Some(value) => {
                    let _ = writeln!(out, "{} = {value}", opt.key);
                }
                None => {
                    let _ = writeln!(out, "# {} is not set", opt.key);
                }
            },
            None => {
                if let Some(text) = settings.ignored.get(opt.key) {
                    let _ = writeln!(out, "{} = {}", opt.key, typed(opt.kind, text));
                }
            }
        }
    }
    out
}

/// For `--print-config`: an ignored key's recorded value in the type a file gives it.
fn typed(kind: Kind, text: &str) -> Value {
    let parsed = match kind {
        Kind::Switch | Kind::Toggle => text.parse().ok().map(Value::Boolean),
        Kind::Int | Kind::OptionalInt | Kind::Count => text.parse().ok().map(Value::Integer),
        Kind::Float => text.parse().ok().map(Value::Float),
        Kind::Text | Kind::Size | Kind::List => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_string()))
}
