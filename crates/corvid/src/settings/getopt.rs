//! memcached's command-line syntax, which is GNU `getopt_long`: clustered short flags
//! (`-vvd`), glued or separate values (`-p11211`, `-p 11211`), long names with `=` or a
//! separate value, unambiguous prefixes of long names (`--mem-l`), and `--` ending the
//! options. Init scripts written for memcached rely on all of these.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::SettingsError;

/// Whether an option takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    No,
    Required,
    /// Only through `--name=value`; the value is never taken from the next argument.
    Optional,
}

struct Spec {
    short: u8,
    long: Option<&'static str>,
    short_value: Value,
    long_value: Value,
}

const fn spec(short: u8, long: Option<&'static str>, value: Value) -> Spec {
    Spec {
        short,
        long,
        short_value: value,
        long_value: value,
    }
}

/// Every option memcached 1.6.18 accepts, in the order of its own table (the order
/// decides how an ambiguous prefix's possibilities are listed).
const SPECS: &[Spec] = &[
    spec(b'a', Some("unix-mask"), Value::Required),
    spec(b'A', Some("enable-shutdown"), Value::No),
    spec(b'Z', Some("enable-ssl"), Value::No),
    spec(b'p', Some("port"), Value::Required),
    spec(b's', Some("unix-socket"), Value::Required),
    spec(b'U', Some("udp-port"), Value::Required),
    spec(b'm', Some("memory-limit"), Value::Required),
    spec(b'M', Some("disable-evictions"), Value::No),
    spec(b'c', Some("conn-limit"), Value::Required),
    spec(b'k', Some("lock-memory"), Value::No),
    spec(b'h', Some("help"), Value::No),
    spec(b'i', Some("license"), Value::No),
    spec(b'V', Some("version"), Value::No),
    spec(b'r', Some("enable-coredumps"), Value::No),
    Spec {
        short: b'v',
        long: Some("verbose"),
        short_value: Value::No,
        long_value: Value::Optional,
    },
    spec(b'd', Some("daemon"), Value::No),
    spec(b'l', Some("listen"), Value::Required),
    spec(b'u', Some("user"), Value::Required),
    spec(b'P', Some("pidfile"), Value::Required),
    spec(b'f', Some("slab-growth-factor"), Value::Required),
    spec(b'n', Some("slab-min-size"), Value::Required),
    spec(b'L', Some("enable-largepages"), Value::No),
    spec(b'R', Some("max-reqs-per-event"), Value::Required),
    spec(b'C', Some("disable-cas"), Value::No),
    spec(b'b', Some("listen-backlog"), Value::Required),
    spec(b'B', Some("protocol"), Value::Required),
    spec(b'I', Some("max-item-size"), Value::Required),
    spec(b'S', Some("enable-sasl"), Value::No),
    spec(b'F', Some("disable-flush-all"), Value::No),
    spec(b'X', Some("disable-dumping"), Value::No),
    spec(b'W', Some("disable-watch"), Value::No),
    spec(b'Y', Some("auth-file"), Value::Required),
    spec(b'e', Some("memory-file"), Value::Required),
    spec(b'o', Some("extended"), Value::Required),
    spec(b'N', Some("napi-ids"), Value::Required),
    spec(b't', Some("threads"), Value::Required),
    spec(b'D', None, Value::Required),
];

/// One step of the command line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Item {
    /// An option, named by its short letter whatever form was typed, with its value.
    Opt(u8, Option<OsString>),
    /// A word that is not an option; memcached ignores these.
    Operand(OsString),
}

/// Yields options one at a time, so an earlier option's bad value is reported before a
/// later syntax error, in the order memcached reports them.
pub(super) struct Getopt {
    args: VecDeque<OsString>,
    /// The rest of a cluster of short flags (`-vvd` after the first `v`).
    cluster: Option<(Vec<u8>, usize)>,
    ended: bool,
}

fn usage_error(message: String) -> SettingsError {
    // getopt failures make memcached exit 1 (after "Illegal argument").
    SettingsError::new(message, 1)
}

impl Getopt {
    pub(super) fn new(args: VecDeque<OsString>) -> Self {
        Getopt {
            args,
            cluster: None,
            ended: false,
        }
    }

    pub(super) fn next_item(&mut self) -> Option<Result<Item, SettingsError>> {
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

    fn short(&mut self, arg: Vec<u8>, pos: usize) -> Result<Item, SettingsError> {
        let letter = arg[pos];
        let Some(spec) = SPECS.iter().find(|s| s.short == letter) else {
            return Err(usage_error(format!(
                "corvid: invalid option -- '{}'",
                String::from_utf8_lossy(&arg[pos..pos + 1])
            )));
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
                    None => Err(usage_error(format!(
                        "corvid: option requires an argument -- '{}'",
                        letter as char
                    ))),
                }
            }
        }
    }

    fn long(&mut self, text: &[u8]) -> Result<Item, SettingsError> {
        let (name, inline) = match text.iter().position(|&b| b == b'=') {
            Some(eq) => (
                &text[..eq],
                Some(OsString::from_vec(text[eq + 1..].to_vec())),
            ),
            None => (text, None),
        };
        let shown = String::from_utf8_lossy(text);
        let with_long = || SPECS.iter().filter_map(|s| s.long.map(|l| (s, l)));
        let exact = with_long().find(|(_, l)| l.as_bytes() == name);
        let (spec, long) = match exact {
            Some(found) => found,
            None => {
                let candidates: Vec<_> = with_long()
                    .filter(|(_, l)| l.as_bytes().starts_with(name))
                    .collect();
                match candidates.as_slice() {
                    [one] => *one,
                    [] => {
                        return Err(usage_error(format!(
                            "corvid: unrecognized option '--{shown}'"
                        )))
                    }
                    many => {
                        let possibilities: Vec<String> =
                            many.iter().map(|(_, l)| format!("'--{l}'")).collect();
                        return Err(usage_error(format!(
                            "corvid: option '--{shown}' is ambiguous; possibilities: {}",
                            possibilities.join(" ")
                        )));
                    }
                }
            }
        };
        match (spec.long_value, inline) {
            (Value::No, Some(_)) => Err(usage_error(format!(
                "corvid: option '--{long}' doesn't allow an argument"
            ))),
            (Value::No, None) | (Value::Optional, None) => Ok(Item::Opt(spec.short, None)),
            (_, Some(value)) => Ok(Item::Opt(spec.short, Some(value))),
            (Value::Required, None) => match self.args.pop_front() {
                Some(value) => Ok(Item::Opt(spec.short, Some(value))),
                None => Err(usage_error(format!(
                    "corvid: option '--{long}' requires an argument"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(args: &[&str]) -> Result<Vec<Item>, String> {
        let mut getopt = Getopt::new(args.iter().map(OsString::from).collect());
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
    fn every_short_flag_of_memcached_is_known() {
        // memcached 1.6.18's getopt string.
        let optstring = "a:AZp:s:U:m:Mc:khiVrvdl:u:P:f:n:t:D:LR:Cb:B:I:SFXWY:e:o:N:";
        let bytes = optstring.as_bytes();
        for (i, &c) in bytes.iter().enumerate() {
            if c == b':' {
                continue;
            }
            let takes_value = bytes.get(i + 1) == Some(&b':');
            let spec = SPECS.iter().find(|s| s.short == c).expect("flag missing");
            assert_eq!(
                spec.short_value == Value::Required,
                takes_value,
                "{}",
                c as char
            );
        }
        assert_eq!(SPECS.len(), optstring.chars().filter(|&c| c != ':').count());
    }
}
