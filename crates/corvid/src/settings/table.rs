//! The one table of options: memcached's flags and Corvid's own ([`flags`]), then the
//! `-o` keys ([`extended`]); finding an option by how it was written, and applying it.

use std::sync::OnceLock;

use super::builder::Builder;
use super::error::SettingsError;
use super::options::{self, Given, Kind, Opt};
use super::{extended, flags};
use crate::getopt::Spec;

/// Every option: memcached's flags in the order of its own table (the order decides how
/// an ambiguous prefix's possibilities are listed), Corvid's own, then the `-o` keys.
pub(super) fn all() -> impl Iterator<Item = &'static Opt> {
    flags::FLAGS.iter().chain(extended::entries())
}

/// The option getopt reported by this letter or code.
pub(super) fn by_code(code: u8) -> Option<&'static Opt> {
    flags::FLAGS.iter().find(|o| o.code() == Some(code))
}

/// getopt's table of the command line, made from the options table once.
pub(crate) fn getopt_specs() -> &'static [Spec] {
    static SPECS: OnceLock<Vec<Spec>> = OnceLock::new();
    SPECS.get_or_init(|| flags::FLAGS.iter().filter_map(Opt::getopt_spec).collect())
}

pub(super) fn by_key(key: &str) -> Option<&'static Opt> {
    all().find(|o| o.key == key)
}

/// The `-o` entry for `key` and whether `key` was its `no_` twin.
pub(super) fn by_extended_key(key: &str) -> Option<(&'static Opt, bool)> {
    extended::entries().find_map(|o| {
        if o.key == key {
            Some((o, false))
        } else if o.negated_key() == Some(key) {
            Some((o, true))
        } else {
            None
        }
    })
}

/// Applies one occurrence of an option from any source; an `-o` list applies each of its
/// keys in turn.
pub(super) fn apply(
    b: &mut Builder,
    opt: &'static Opt,
    given: Given<'_>,
) -> Result<(), SettingsError> {
    if opt.key == "extended" {
        options::apply_one(b, opt, given)?;
        return apply_extended_list(b, given.text(b'o')?);
    }
    options::apply_one(b, opt, given)
}

/// Applies one `-o` argument: a comma-separated list of `key` or `key=value`.
fn apply_extended_list(b: &mut Builder, list: &str) -> Result<(), SettingsError> {
    // As getsubopt: a trailing comma ends the list, an empty item is an unknown key.
    let mut rest = list;
    while !rest.is_empty() {
        let (item, next) = rest.split_once(',').unwrap_or((rest, ""));
        rest = next;
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (item, None),
        };
        let Some((opt, negated)) = by_extended_key(key) else {
            return Err(SettingsError::new(
                format!("Illegal suboption \"{item}\""),
                1,
            ));
        };
        // Value-less keys ignore a value, as memcached's do.
        let value = match opt.kind {
            Kind::Switch | Kind::Toggle => None,
            _ if negated => None,
            _ => value,
        };
        let given = Given {
            value: value.map(std::ffi::OsStr::new),
            negated,
        };
        options::apply_one(b, opt, given)?;
    }
    Ok(())
}
