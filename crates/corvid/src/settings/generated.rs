//! Files generated from the options table and checked in, with the test that keeps
//! them current: the packaged `/etc/corvid/corvid.toml` and the option tables of
//! docs/flags.md. When an option changes, `CORVID_BLESS=1 cargo test -p corvid
//! generated` rewrites them; without it the test fails on any difference.

use std::fmt::Write;
use std::path::PathBuf;

use super::options::{Form, Kind, Opt, Status, Value};
use super::render::{default_of, head, wrap, WIDTH};
use super::table;

/// Settings the Debian package changes from the defaults: key, TOML value, and why.
pub(super) const PACKAGED: &[(&str, &str, &str)] = &[(
    "listen",
    "[\"127.0.0.1\"]",
    "The package listens on the loopback interface only, as Debian's memcached does: \
     a cache has no authentication. List the addresses clients reach it on.",
)];

fn comment(out: &mut String, text: &str) {
    for line in wrap(text, WIDTH - 2) {
        let _ = writeln!(out, "# {line}");
    }
}

/// The packaged `/etc/corvid/corvid.toml`: every setting with its default, commented
/// out, except the [`PACKAGED`] ones; then the names of the ignored and refused ones.
fn default_config() -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "/etc/corvid/corvid.toml: the settings of corvid.service, read with `corvid --config \
         FILE`. Keys are memcached's long option names (--memory-limit is memory-limit) and \
         its -o keys (idle_timeout); a flag on the command line overrides the file. Each \
         setting is shown with its default, commented out. `corvid --config FILE \
         --print-config` prints what a file amounts to.",
    );
    for opt in table::all().filter(|o| o.in_config() && o.status == Status::Used) {
        out.push('\n');
        comment(&mut out, &format!("{}: {}", head(opt), opt.help));
        match PACKAGED.iter().find(|(key, _, _)| *key == opt.key) {
            Some((key, value, why)) => {
                comment(&mut out, why);
                let _ = writeln!(out, "{key} = {value}");
            }
            None => match default_of(opt) {
                Some(value) => {
                    let _ = writeln!(out, "#{} = {value}", opt.key);
                }
                None => {
                    let _ = writeln!(
                        out,
                        "#{} = \"{}\"    # not set by default",
                        opt.key, opt.arg
                    );
                }
            },
        }
    }
    let names = |status: Status| {
        table::all()
            .filter(|o| o.in_config() && o.status == status)
            .map(|o| o.key)
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push('\n');
    comment(
        &mut out,
        &format!(
            "Accepted so that memcached's settings carry over, and ignored (each one set \
             prints a warning at start): {}.",
            names(Status::Ignored)
        ),
    );
    out
}

fn status_text(opt: &Opt) -> String {
    let status = match opt.status {
        Status::Used => "implemented",
        Status::Ignored => "ignored (warning)",
        Status::CommandLine => "implemented (command line only)",
    };
    if opt.note.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {}", opt.note)
    }
}

fn default_text(opt: &Opt) -> String {
    match default_of(opt) {
        Some(Value::Array(items)) if items.is_empty() => "all interfaces".into(),
        Some(value) => format!("`{value}`"),
        None if opt.kind == Kind::Switch && opt.status != Status::CommandLine => "`false`".into(),
        None => String::new(),
    }
}

/// docs/flags.md: one row per flag.
fn docs_flags() -> String {
    let mut out =
        String::from("| Flag | Config key | Meaning | Default | Corvid |\n|---|---|---|---|---|\n");
    for opt in super::flags::FLAGS {
        let value = if opt.arg.is_empty() {
            String::new()
        } else {
            format!(" {}", opt.arg)
        };
        let flag = match (opt.form, opt.short()) {
            (Form::Flag { long: true, .. }, Some(s)) => {
                format!("`-{}{value}`, `--{}`", s as char, opt.key)
            }
            (_, Some(s)) => format!("`-{}{value}`", s as char),
            _ => format!("`--{}{value}`", opt.key),
        };
        let key = if opt.in_config() {
            format!("`{}`", opt.key)
        } else {
            "(none)".into()
        };
        let _ = writeln!(
            out,
            "| {flag} | {key} | {} | {} | {} |",
            opt.help.replace('|', "\\|"),
            default_text(opt),
            status_text(opt)
        );
    }
    out
}

/// docs/flags.md: one row per `-o` key.
fn docs_extended() -> String {
    let mut out =
        String::from("| `-o` key (config key) | Meaning | Default | Corvid |\n|---|---|---|---|\n");
    for opt in super::extended::entries() {
        let key = match (opt.negated_key(), opt.arg) {
            (Some(no), _) => format!("`{}` / `{no}`", opt.key),
            (None, "") => format!("`{}`", opt.key),
            (None, arg) => format!("`{}={arg}`", opt.key),
        };
        let _ = writeln!(
            out,
            "| {key} | {} | {} | {} |",
            opt.help.replace('|', "\\|"),
            default_text(opt),
            status_text(opt)
        );
    }
    out
}

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The part of `text` between the two marker lines (exclusive).
fn between(text: &str, begin: &str, end: &str) -> Option<(usize, usize)> {
    let start = text.find(begin)? + begin.len();
    let start = start + text[start..].find('\n')? + 1;
    let stop = start + text[start..].find(end)?;
    Some((start, stop))
}

/// Compares `path` (or its part between `markers`) with `wanted`; rewrites it instead
/// under CORVID_BLESS=1.
fn check(path: &str, markers: Option<(&str, &str)>, wanted: &str) -> Result<(), String> {
    let file = repo_file(path);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let (start, stop) = match markers {
        None => (0, text.len()),
        Some((begin, end)) => between(&text, begin, end)
            .ok_or_else(|| format!("{path}: markers {begin:?} ... {end:?} not found"))?,
    };
    if &text[start..stop] == wanted {
        return Ok(());
    }
    if std::env::var_os("CORVID_BLESS").is_some() {
        let updated = format!("{}{wanted}{}", &text[..start], &text[stop..]);
        std::fs::write(&file, updated).map_err(|e| format!("{path}: {e}"))?;
        return Ok(());
    }
    Err(format!(
        "{path} is out of date with the options table; run \
         `CORVID_BLESS=1 cargo test -p corvid generated` and review the diff"
    ))
}

#[test]
fn generated_files_match_the_options_table() {
    let results = [
        check("packaging/corvid.toml", None, &default_config()),
        check(
            "docs/flags.md",
            Some(("<!-- flags: generated", "<!-- end flags -->")),
            &docs_flags(),
        ),
        check(
            "docs/flags.md",
            Some(("<!-- extended: generated", "<!-- end extended -->")),
            &docs_extended(),
        ),
    ];
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_packaged_config_reads_back_to_the_defaults_but_for_the_packaged_keys() {
    let mut builder = super::builder::Builder::default();
    super::config_file::apply_text(&mut builder, &default_config(), "corvid.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    let settings = builder.finish().unwrap_or_else(|e| panic!("{e}"));
    let expected = super::Settings {
        listen: vec!["127.0.0.1".into()],
        ..super::Settings::default()
    };
    assert_eq!(settings, expected);
    assert_eq!(PACKAGED.len(), 1, "a new packaged key needs its line above");
}
