//! GNU `getopt_long` syntax, which memcached and nutcracker both use: clustered short
//! flags (`-vvd`), glued or separate values (`-p11211`, `-p 11211`), long names with `=`
//! or a separate value, unambiguous prefixes of long names (`--mem-l`), and `--` ending
//! the options. Init scripts written for either rely on all of these. Each command line
//! brings its own table of options ([`Spec`]); errors are typed so each can word them as
//! its original does.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Whether an option takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    No,
    Required,
    /// Only through `--name=value`; the value is never taken from the next argument.
    Optional,
}

/// One option of a command line.
pub(crate) struct Spec {
    pub short: u8,
    pub long: Option<&'static str>,
    pub short_value: Value,
    pub long_value: Value,
    /// The long name matches only when typed whole: an option the original program does
    /// not have stays out of prefix matching, so every abbreviation keeps the meaning it
    /// has for the original (`--me` is still ambiguous between memcached's two names).
    pub exact: bool,
}

pub(crate) const fn spec(short: u8, long: Option<&'static str>, value: Value) -> Spec {
    Spec {
        short,
        long,
        short_value: value,
        long_value: value,
        exact: false,
    }
}

/// One step of the command line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// An option, named by its short letter whatever form was typed, with its value.
    Opt(u8, Option<OsString>),
    /// A word that is not an option; memcached ignores these.
    Operand(OsString),
}

/// A command line getopt refuses. Display is GNU getopt's message, after `program: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GetoptError {
    /// `-x` is not an option.
    Invalid {
        program: &'static str,
        letter: String,
    },
    /// `-c` at the end, without its value.
    MissingShortValue {
        program: &'static str,
        letter: u8,
    },
    /// `--conf-file` at the end, without its value.
    MissingLongValue {
        program: &'static str,
        long: &'static str,
        letter: u8,
    },
    Unrecognized {
        program: &'static str,
        text: String,
    },
    Ambiguous {
        program: &'static str,
        text: String,
        possibilities: Vec<&'static str>,
    },
    NoArgumentAllowed {
        program: &'static str,
        long: &'static str,
    },
}

impl fmt::Display for GetoptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetoptError::Invalid { program, letter } => {
                write!(f, "{program}: invalid option -- '{letter}'")
            }
            GetoptError::MissingShortValue { program, letter } => write!(
                f,
                "{program}: option requires an argument -- '{}'",
                *letter as char
            ),
            GetoptError::MissingLongValue { program, long, .. } => {
                write!(f, "{program}: option '--{long}' requires an argument")
            }
            GetoptError::Unrecognized { program, text } => {
                write!(f, "{program}: unrecognized option '--{text}'")
            }
            GetoptError::Ambiguous {
                program,
                text,
                possibilities,
            } => {
                let list: Vec<String> = possibilities.iter().map(|l| format!("'--{l}'")).collect();
                write!(
                    f,
                    "{program}: option '--{text}' is ambiguous; possibilities: {}",
                    list.join(" ")
                )
            }
            GetoptError::NoArgumentAllowed { program, long } => {
                write!(f, "{program}: option '--{long}' doesn't allow an argument")
            }
        }
    }
}

/// Yields options one at a time, so an earlier option's bad value is reported before a
/// later syntax error, in the order memcached reports them.
pub(crate) struct Getopt {
    specs: &'static [Spec],
    program: &'static str,
    args: VecDeque<OsString>,
    /// The rest of a cluster of short flags (`-vvd` after the first `v`).
    cluster: Option<(Vec<u8>, usize)>,
    ended: bool,
}

impl Getopt {
    /// Options from `args` by the table `specs`; `program` prefixes messages.
    pub(crate) fn new(
        args: VecDeque<OsString>,
        specs: &'static [Spec],
        program: &'static str,
    ) -> Self {
        Getopt {
            specs,
            program,
            args,
            cluster: None,
            ended: false,
        }
    }

    pub(crate) fn next_item(&mut self) -> Option<Result<Item, GetoptError>> {
        if let Some((arg, pos)) = self.cluster.take() {
            return Some(self.short(arg, pos));
        }
        let arg = self.args.pop_front()?;
        if self.ended {
            return Some(Ok(Item::Operand(arg)));
        }
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            self.ended = true;
            return self.next_item();
        }
        if let Some(long) = bytes.strip_prefix(b"--") {
            let long = long.to_vec();
            return Some(self.long(&long));
        }
        if bytes.len() > 1 && bytes[0] == b'-' {
            return Some(self.short(arg.into_vec(), 1));
        }
        Some(Ok(Item::Operand(arg)))
    }

    fn short(&mut self, arg: Vec<u8>, pos: usize) -> Result<Item, GetoptError> {
        let letter = arg[pos];
        // Long-only options carry a non-printing code in `short`; it is not a flag.
        let found = self.specs.iter().find(|s| s.short == letter);
        let Some(spec) = found.filter(|s| s.short.is_ascii_graphic()) else {
            return Err(GetoptError::Invalid {
                program: self.program,
                letter: String::from_utf8_lossy(&arg[pos..pos + 1]).into_owned(),
            });
        };
        let rest = pos + 1;
        match spec.short_value {
            Value::No | Value::Optional => {
                if rest < arg.len() {
                    self.cluster = Some((arg, rest));
                }
                Ok(Item::Opt(letter, None))
            }
            Value::Required => {
                if rest < arg.len() {
                    let value = OsString::from_vec(arg[rest..].to_vec());
                    return Ok(Item::Opt(letter, Some(value)));
                }
                match self.args.pop_front() {
                    Some(value) => Ok(Item::Opt(letter, Some(value))),
                    None => Err(GetoptError::MissingShortValue {
                        program: self.program,
                        letter,
                    }),
                }
            }
        }
    }

    fn long(&mut self, text: &[u8]) -> Result<Item, GetoptError> {
        let (name, inline) = match text.iter().position(|&b| b == b'=') {
            Some(eq) => (
                &text[..eq],
                Some(OsString::from_vec(text[eq + 1..].to_vec())),
            ),
            None => (text, None),
        };
        let shown = String::from_utf8_lossy(text);
        let specs = self.specs;
        let with_long = || specs.iter().filter_map(|s| s.long.map(|l| (s, l)));
        let exact = with_long().find(|(_, l)| l.as_bytes() == name);
        let (spec, long) = match exact {
            Some(found) => found,
            None => {
                let mut candidates: Vec<_> = with_long()
                    .filter(|(s, l)| !s.exact && l.as_bytes().starts_with(name))
                    .collect();
                // Two names for one option are not an ambiguity (glibc agrees).
                if candidates
                    .iter()
                    .all(|(s, _)| s.short == candidates[0].0.short)
                {
                    candidates.truncate(1);
                }
                match candidates.as_slice() {
                    [one] => *one,
                    [] => {
                        return Err(GetoptError::Unrecognized {
                            program: self.program,
                            text: shown.into_owned(),
                        })
                    }
                    many => {
                        return Err(GetoptError::Ambiguous {
                            program: self.program,
                            text: shown.into_owned(),
                            possibilities: many.iter().map(|(_, l)| *l).collect(),
                        });
                    }
                }
            }
        };
        match (spec.long_value, inline) {
            (Value::No, Some(_)) => Err(GetoptError::NoArgumentAllowed {
                program: self.program,
                long,
            }),
            (Value::No, None) | (Value::Optional, None) => Ok(Item::Opt(spec.short, None)),
            (_, Some(value)) => Ok(Item::Opt(spec.short, Some(value))),
            (Value::Required, None) => match self.args.pop_front() {
                Some(value) => Ok(Item::Opt(spec.short, Some(value))),
                None => Err(GetoptError::MissingLongValue {
                    program: self.program,
                    long,
                    letter: spec.short,
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(args: &[&str]) -> Result<Vec<Item>, String> {
        let specs = crate::settings::getopt_specs();
        let mut getopt = Getopt::new(args.iter().map(OsString::from).collect(), specs, "corvid");
        let mut out = Vec::new();
        while let Some(item) = getopt.next_item() {
            out.push(item.map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    fn opt(letter: u8, value: Option<&str>) -> Item {
        Item::Opt(letter, value.map(OsString::from))
    }

    #[test]
    fn clustered_flags_split_into_one_item_each() {
        assert_eq!(
            items(&["-vvd"]).unwrap(),
            vec![opt(b'v', None), opt(b'v', None), opt(b'd', None)]
        );
    }

    #[test]
    fn a_value_is_glued_or_the_next_word() {
        assert_eq!(items(&["-p11211"]).unwrap(), vec![opt(b'p', Some("11211"))]);
        assert_eq!(items(&["-p", "-5"]).unwrap(), vec![opt(b'p', Some("-5"))]);
        // A flag that takes a value ends the cluster and swallows its remainder.
        assert_eq!(
            items(&["-vp11211"]).unwrap(),
            vec![opt(b'v', None), opt(b'p', Some("11211"))]
        );
    }

    #[test]
    fn long_names_take_equals_or_next_word_and_unique_prefixes() {
        assert_eq!(items(&["--port=1"]).unwrap(), vec![opt(b'p', Some("1"))]);
        assert_eq!(items(&["--port", "1"]).unwrap(), vec![opt(b'p', Some("1"))]);
        assert_eq!(items(&["--port="]).unwrap(), vec![opt(b'p', Some(""))]);
        assert_eq!(items(&["--disable-c"]).unwrap(), vec![opt(b'C', None)]);
        assert_eq!(items(&["--verb"]).unwrap(), vec![opt(b'v', None)]);
        assert_eq!(items(&["--verbose=x"]).unwrap(), vec![opt(b'v', Some("x"))]);
    }

    #[test]
    fn operands_are_passed_through_and_double_dash_ends_options() {
        assert_eq!(
            items(&["foo", "-", "--", "-p"]).unwrap(),
            vec![
                Item::Operand("foo".into()),
                Item::Operand("-".into()),
                Item::Operand("-p".into())
            ]
        );
    }

    #[test]
    fn syntax_errors_read_like_getopt() {
        assert_eq!(items(&["-x"]).unwrap_err(), "corvid: invalid option -- 'x'");
        assert_eq!(
            items(&["-p"]).unwrap_err(),
            "corvid: option requires an argument -- 'p'"
        );
        assert_eq!(
            items(&["--port"]).unwrap_err(),
            "corvid: option '--port' requires an argument"
        );
        assert_eq!(
            items(&["--bogus"]).unwrap_err(),
            "corvid: unrecognized option '--bogus'"
        );
        assert_eq!(
            items(&["--help=1"]).unwrap_err(),
            "corvid: option '--help' doesn't allow an argument"
        );
        assert_eq!(
            items(&["--me=2"]).unwrap_err(),
            "corvid: option '--me=2' is ambiguous; possibilities: '--memory-limit' '--memory-file'"
        );
        assert_eq!(
            items(&["--v"]).unwrap_err(),
            "corvid: option '--v' is ambiguous; possibilities: '--version' '--verbose'"
        );
    }

    #[test]
    fn exact_names_match_only_whole() {
        let config = items(&["--config", "x", "--print-config"]).unwrap();
        assert_eq!(config.len(), 2);
        assert!(
            matches!(&config[0], Item::Opt(code, Some(v)) if !code.is_ascii_graphic() && v == "x")
        );
        // memcached's prefixes keep their meaning: `--con` is still `--conn-limit`.
        assert_eq!(items(&["--con=5"]).unwrap(), vec![opt(b'c', Some("5"))]);
        assert_eq!(
            items(&["--print"]).unwrap_err(),
            "corvid: unrecognized option '--print'"
        );
    }
}
