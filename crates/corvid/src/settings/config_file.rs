//! `--config FILE`: settings in TOML, one key per option of the options table.
//!
//! ```toml
//! port = 11211
//! listen = ["127.0.0.1", "::1"]
//! memory-limit = 1024      # MiB, as -m
//! max-item-size = "2m"     # as -I
//! idle_timeout = 600       # -o keys keep their own spelling
//! lru_crawler = false      # -o no_lru_crawler
//! ```
//!
//! Each value is turned into the command-line text of its option and checked by the same
//! code that checks the flag, so a file can say nothing a command line cannot. An unknown
//! key, a value of the wrong type or a value the flag would refuse is an error naming
//! the file, the line and the key.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use super::builder::Builder;
use super::error::{SettingsError, EX_CONFIG};
use super::options::{Given, Kind, Opt, Value};
use super::table;

/// Reads `path` and applies every key in it, in the order they appear.
pub(super) fn load(builder: &mut Builder, path: &Path) -> Result<(), SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SettingsError::new(
            format!("cannot read the config file {}: {e}", path.display()),
            EX_CONFIG,
        )
    })?;
    apply_text(builder, &text, &path.display().to_string())
}

/// Applies a whole file's text; `name` is how messages call the file.
pub(super) fn apply_text(
    builder: &mut Builder,
    text: &str,
    name: &str,
) -> Result<(), SettingsError> {
    let table: BTreeMap<String, Spanned<Value>> = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |span| line_of(text, span.start));
        SettingsError::new(format!("{name}:{line}: {}", e.message()), EX_CONFIG)
    })?;
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(_, value)| value.span().start);
    for (key, value) in entries {
        let place = format!("{name}:{}", line_of(text, value.span().start));
        let Some(opt) = table::by_key(&key).filter(|o| o.in_config()) else {
            return Err(SettingsError::new(
                format!("{place}: {}", unknown(&key)),
                EX_CONFIG,
            ));
        };
        apply_value(builder, opt, value.get_ref())
            .map_err(|e| e.in_file(&format!("{place}: {key}")))?;
    }
    Ok(())
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Why a key is not a setting, with the likely intended one.
fn unknown(key: &str) -> String {
    if let Some(opt) = table::by_key(key) {
        return format!(
            "\"{key}\" can only be given on the command line ({})",
            opt.spelling()
        );
    }
    if let Some((opt, true)) = table::by_extended_key(key) {
        let off = if opt.kind == Kind::Toggle {
            "false"
        } else {
            "0"
        };
        return format!("unknown key \"{key}\"; write {} = {off}", opt.key);
    }
    // Long names use dashes and -o keys underscores: the other spelling, or a typo or
    // two, most likely meant the nearest key.
    let plain = |k: &str| k.replace('_', "-");
    let nearest = table::all()
        .filter(|o| o.in_config())
        .map(|o| (edit_distance(&plain(key), &plain(o.key)), o.key))
        .min();
    match nearest {
        Some((distance, near)) if distance <= 2 => {
            format!("unknown key \"{key}\"; did you mean \"{near}\"?")
        }
        _ => format!("unknown key \"{key}\""),
    }
}

/// Levenshtein distance, for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn wrong_type(expected: &str, value: &Value) -> SettingsError {
    SettingsError::new(
        format!("expected {expected}, found {}", type_name(value)),
        EX_CONFIG,
    )
}

/// Applies one key's value as its option would be given on the command line.
fn apply_value(
    builder: &mut Builder,
    opt: &'static Opt,
    value: &Value,
) -> Result<(), SettingsError> {
    let text = match (opt.kind, value) {
        (Kind::Switch, Value::Boolean(on)) => {
            // `false` is the default: there is no flag to undo a switch.
            if *on {
                table::apply(builder, opt, Given::set())?;
            }
            return Ok(());
        }
        (Kind::Toggle, Value::Boolean(on)) => {
            let given = Given {
                value: None,
                negated: !on,
            };
            return table::apply(builder, opt, given);
        }
        (Kind::Switch | Kind::Toggle, other) => return Err(wrong_type("true or false", other)),
        (Kind::Count, Value::Integer(n)) => {
            if *n < 0 {
                return Err(SettingsError::new("must be 0 or more", EX_CONFIG));
            }
            // As many times as `-v` would be given; the count stops at 255 either way.
            for _ in 0..(*n).min(255) {
                table::apply(builder, opt, Given::set())?;
            }
            return Ok(());
        }
        (Kind::Int | Kind::OptionalInt, Value::Integer(n)) => n.to_string(),
        (Kind::Count | Kind::Int | Kind::OptionalInt, other) => {
            return Err(wrong_type("an integer", other))
        }
        (Kind::Float, Value::Float(f)) => f.to_string(),
        (Kind::Float, Value::Integer(n)) => n.to_string(),
        (Kind::Float, other) => return Err(wrong_type("a number", other)),
        (Kind::Text, Value::String(s)) => s.clone(),
        (Kind::Text, other) => return Err(wrong_type("a string", other)),
        (Kind::Size, Value::String(s)) => s.clone(),
        (Kind::Size, Value::Integer(n)) => n.to_string(),
        (Kind::Size, other) => {
            return Err(wrong_type("a size (bytes, or a string like \"2m\")", other))
        }
        (Kind::List, Value::String(s)) => s.clone(),
        (Kind::List, Value::Array(items)) => {
            let mut words = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => words.push(s.as_str()),
                    other => return Err(wrong_type("an array of strings", other)),
                }
            }
            words.join(",")
        }
        (Kind::List, other) => return Err(wrong_type("an array of strings", other)),
    };
    table::apply(builder, opt, Given::text_value(&text))
}
