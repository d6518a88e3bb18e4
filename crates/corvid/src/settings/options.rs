//! The shape of an option. Every flag, every `-o` key and every config-file key is one
//! [`Opt`] entry in [`flags::FLAGS`](super::flags) or [`extended::entries`](super::extended)
//! (together: [`table`](super::table)); the command-line parser, the config-file reader,
//! `--print-config`, `-h`, the packaged `corvid.toml` and the table in docs/flags.md are
//! all read from them. Adding an option is adding an entry:
//!
//! ```ignore
//! flag(b'p', "port", Kind::Int, "<num>", "TCP port to listen on", |b, g| {
//!     b.port = int(b'p', g.text(b'p')?)?;
//!     Ok(())
//! })
//! .show(|s| Some(int_value(s.port))),
//! ```
//!
//! The config key of an option is its memcached long name (`memory-limit`) or its `-o`
//! key (`idle_timeout`), so whoever knows one spelling knows the other.

use std::ffi::OsStr;

use super::builder::Builder;
use super::error::{SettingsError, EX_USAGE};
use super::model::Settings;
use crate::getopt::{Spec, Value as Arg};

/// A value as written in a config file and printed by `--print-config`.
pub(super) use toml::Value;

/// How an option's value is written, on the command line and in a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// No value (`-M`, `-o track_sizes`); `true` or `false` in a file.
    Switch,
    /// An `-o` key with a `no_` twin (`lru_crawler` / `no_lru_crawler`); a boolean in a
    /// file, `false` meaning the twin.
    Toggle,
    /// Counted each time it is given (`-vv`); an integer in a file.
    Count,
    /// A whole number.
    Int,
    /// A whole number that may be left out on the command line (`-o slab_automove`).
    OptionalInt,
    /// A number with a fraction; a file may also give a whole number.
    Float,
    /// Text: a path, a name, a word from a fixed set.
    Text,
    /// A size: bytes, or a number with a k, m or g suffix; a file may give either an
    /// integer (bytes) or the text form.
    Size,
    /// A comma-separated list on the command line; an array of strings (or one string
    /// with commas) in a file.
    List,
}

/// What Corvid does with an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// Acted on.
    Used,
    /// Accepted so memcached's command lines start Corvid; does nothing but print one
    /// warning line.
    Ignored,
    /// An action or a source of other options (`-h`, `-o`, `--config`): command line only,
    /// no config key.
    CommandLine,
}

/// One occurrence of an option, wherever it came from, in command-line syntax: a file's
/// `port = 11211` arrives here as the text `11211`, so one function checks both.
#[derive(Debug, Clone, Copy)]
pub(super) struct Given<'a> {
    /// The flag's argument, the text after `=` in `-o key=value`, or a file's value;
    /// `None` for switches and for `-o` keys given bare.
    pub value: Option<&'a OsStr>,
    /// The `no_` twin of a toggle (`-o no_lru_crawler`, or `lru_crawler = false`).
    pub negated: bool,
}

impl<'a> Given<'a> {
    pub(super) fn set() -> Given<'static> {
        Given {
            value: None,
            negated: false,
        }
    }

    pub(super) fn text_value(value: &'a str) -> Given<'a> {
        Given {
            value: Some(OsStr::new(value)),
            negated: false,
        }
    }

    /// The value as UTF-8 (absent is empty), or memcached-style refusal naming `-<letter>`.
    pub(super) fn text(&self, letter: u8) -> Result<&'a str, SettingsError> {
        self.value.unwrap_or_default().to_str().ok_or_else(|| {
            SettingsError::new(
                format!("-{}: argument is not valid UTF-8", letter as char),
                EX_USAGE,
            )
        })
    }

    /// An `-o` value: those always come from text, so they are always UTF-8.
    pub(super) fn extended(&self) -> Option<&'a str> {
        self.value.and_then(OsStr::to_str)
    }
}

pub(super) type Apply = fn(&mut Builder, Given<'_>) -> Result<(), SettingsError>;
pub(super) type Show = fn(&Settings) -> Option<Value>;

/// How the option is spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// `-x`, and `--<key>` unless `long` is false (memcached's `-D` has no long name).
    Flag { short: Option<u8>, long: bool },
    /// `-o <key>[=value]`, and `-o <negation>` when there is one.
    Extended { negation: Option<&'static str> },
    /// `--<key>`, matched exactly: Corvid's own options take no part in the prefix
    /// matching of memcached's long names, so memcached's command lines parse the same.
    /// `code` (not a printable letter) is how getopt names it.
    Exact { code: u8 },
}

/// One option. See the module docs.
#[derive(Clone, Copy)]
pub(super) struct Opt {
    /// Its config key; also its long name or `-o` key.
    pub key: &'static str,
    pub form: Form,
    pub kind: Kind,
    /// Placeholder for the value in help (`<num>`); empty for switches.
    pub arg: &'static str,
    /// What it does, in one line.
    pub help: &'static str,
    /// More for docs/flags.md (how Corvid differs, why it is ignored).
    pub note: &'static str,
    pub status: Status,
    pub apply: Apply,
    /// Its effective value, for `--print-config`; `None` when unset (no value at all).
    /// Options without one are printed from [`Settings::ignored`] when given.
    pub show: Option<Show>,
    /// Undoes what earlier sources added, for options that add up (`-l`, `-v`): a
    /// command line replaces a file's list instead of extending it.
    pub reset: Option<fn(&mut Builder)>,
}

impl Opt {
    pub(super) const fn show(mut self, show: Show) -> Opt {
        self.show = Some(show);
        self
    }

    pub(super) const fn status(mut self, status: Status) -> Opt {
        self.status = status;
        self
    }

    pub(super) const fn note(mut self, note: &'static str) -> Opt {
        self.note = note;
        self
    }

    /// An `-o` key's `no_` twin (`no_slab_automove`).
    pub(super) const fn negation(mut self, negation: &'static str) -> Opt {
        self.form = Form::Extended {
            negation: Some(negation),
        };
        self
    }

    pub(super) const fn reset(mut self, reset: fn(&mut Builder)) -> Opt {
        self.reset = Some(reset);
        self
    }

    pub(super) fn short(&self) -> Option<u8> {
        match self.form {
            Form::Flag { short, .. } => short,
            _ => None,
        }
    }

    /// The byte getopt reports it by: its letter, or its code.
    pub(super) fn code(&self) -> Option<u8> {
        match self.form {
            Form::Exact { code } => Some(code),
            _ => self.short(),
        }
    }

    /// What getopt needs to know of it, if it is a command-line option of its own.
    pub(super) fn getopt_spec(&self) -> Option<Spec> {
        let short_value = match self.kind {
            Kind::Switch | Kind::Count => Arg::No,
            _ => Arg::Required,
        };
        let long_value = match self.kind {
            // `--verbose=x` is accepted, as memcached's getopt table allows it.
            Kind::Count => Arg::Optional,
            _ => short_value,
        };
        Some(Spec {
            short: self.code()?,
            long: self.long(),
            short_value,
            long_value,
            exact: matches!(self.form, Form::Exact { .. }),
        })
    }

    /// The long name getopt matches, if any.
    pub(super) fn long(&self) -> Option<&'static str> {
        match self.form {
            Form::Flag { long: true, .. } | Form::Exact { .. } => Some(self.key),
            _ => None,
        }
    }

    pub(super) fn negated_key(&self) -> Option<&'static str> {
        match self.form {
            Form::Extended { negation } => negation,
            _ => None,
        }
    }

    /// Whether a config file may set it.
    pub(super) fn in_config(&self) -> bool {
        self.status != Status::CommandLine
    }

    /// How it is written on the command line, for messages and docs: `-p`, `--port`,
    /// `-o idle_timeout`.
    pub(super) fn spelling(&self) -> String {
        match (self.form, self.short()) {
            (Form::Extended { .. }, _) => format!("-o {}", self.key),
            (_, Some(letter)) => format!("-{}", letter as char),
            _ => format!("--{}", self.key),
        }
    }
}

/// A flag: `-<short>` and `--<key>`.
pub(super) const fn flag(
    short: u8,
    key: &'static str,
    kind: Kind,
    arg: &'static str,
    help: &'static str,
    apply: Apply,
) -> Opt {
    Opt {
        key,
        form: Form::Flag {
            short: Some(short),
            long: true,
        },
        kind,
        arg,
        help,
        note: "",
        status: Status::Used,
        apply,
        show: None,
        reset: None,
    }
}

/// A flag with a short form only; `key` is its config key.
pub(super) const fn short_only(
    short: u8,
    key: &'static str,
    kind: Kind,
    arg: &'static str,
    help: &'static str,
    apply: Apply,
) -> Opt {
    let mut opt = flag(short, key, kind, arg, help, apply);
    opt.form = Form::Flag {
        short: Some(short),
        long: false,
    };
    opt
}

/// A Corvid option with a long name only, matched exactly, never in a config file;
/// `code` is a non-printing byte no other option uses.
pub(super) const fn exact(
    code: u8,
    key: &'static str,
    kind: Kind,
    arg: &'static str,
    help: &'static str,
    apply: Apply,
) -> Opt {
    let mut opt = flag(0, key, kind, arg, help, apply);
    opt.form = Form::Exact { code };
    opt.status = Status::CommandLine;
    opt
}

/// An `-o` key.
pub(super) const fn extended(
    key: &'static str,
    kind: Kind,
    arg: &'static str,
    help: &'static str,
    apply: Apply,
) -> Opt {
    let mut opt = flag(0, key, kind, arg, help, apply);
    opt.form = Form::Extended { negation: None };
    opt
}

/// An `-o` key with a `no_` twin that turns it off.
pub(super) const fn toggle(
    key: &'static str,
    negation: &'static str,
    help: &'static str,
    apply: Apply,
) -> Opt {
    extended(key, Kind::Toggle, "", help, apply).negation(negation)
}

/// Applies one occurrence of an option, from any source. An option that adds up (`-l`,
/// `-v`) first forgets what an earlier source gave it.
pub(super) fn apply_one(
    b: &mut Builder,
    opt: &'static Opt,
    given: Given<'_>,
) -> Result<(), SettingsError> {
    if let Some(reset) = opt.reset {
        if b.origin.get(opt.key).is_some_and(|&layer| layer != b.layer) {
            reset(b);
        }
    }
    b.origin.insert(opt.key, b.layer);
    (opt.apply)(b, given)
}

pub(super) fn int_value(n: impl Into<i64>) -> Value {
    Value::Integer(n.into())
}

pub(super) fn text_value(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

/// A whole-number setting held in a `usize` (memory sizes, counts).
pub(super) fn size_value(n: usize) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::table::{all, getopt_specs};

    #[test]
    fn every_short_flag_of_memcached_is_known() {
        // memcached 1.6.18's getopt string.
        let optstring = "a:AZp:s:U:m:Mc:khiVrvdl:u:P:f:n:t:D:LR:Cb:B:I:SFXWY:e:o:N:";
        let bytes = optstring.as_bytes();
        for (i, &c) in bytes.iter().enumerate() {
            if c == b':' {
                continue;
            }
            let takes_value = bytes.get(i + 1) == Some(&b':');
            let spec = getopt_specs()
                .iter()
                .find(|s| s.short == c)
                .expect("flag missing");
            assert_eq!(
                spec.short_value == Arg::Required,
                takes_value,
                "{}",
                c as char
            );
        }
        let letters = getopt_specs().iter().filter(|s| s.short.is_ascii_graphic());
        assert_eq!(
            letters.count(),
            optstring.chars().filter(|&c| c != ':').count()
        );
    }

    #[test]
    fn codes_and_keys_are_unique() {
        let specs = getopt_specs();
        for (i, a) in specs.iter().enumerate() {
            assert!(
                specs[i + 1..].iter().all(|b| b.short != a.short),
                "{}",
                a.short
            );
        }
        let keys: Vec<&str> = all().map(|o| o.key).collect();
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(key), "{key} twice");
        }
    }
}
