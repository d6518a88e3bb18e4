//! Reading a command line: the files it names first, then its own options, so a flag
//! overrides a file; then memcached's checks of the whole.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use super::builder::{Action, Builder};
use super::error::SettingsError;
use super::model::Command;
use super::options::{Given, Opt};
use super::{config_file, memcached_conf, render, table, usage};
use crate::getopt::{Getopt, Item};

/// The options that name files of other options; read before the rest of the command
/// line, whatever their place, so that the command line overrides them.
const SOURCES: [&str; 2] = ["config", "memcached-conf"];

/// Reads a command line. The first item is taken as the program name and skipped
/// unless it starts with `-`, so both `std::env::args_os()` and the arguments after the
/// program name work.
pub fn parse_args<I: IntoIterator<Item = OsString>>(args: I) -> Result<Command, SettingsError> {
    let mut args: VecDeque<OsString> = args.into_iter().collect();
    if args
        .front()
        .is_some_and(|first| !first.as_bytes().starts_with(b"-"))
    {
        args.pop_front();
    }
    // Syntax first, as far as it goes: an earlier option's bad value is still reported
    // before a later syntax error, in the order memcached reports them.
    let mut items = Vec::new();
    let mut syntax_error = None;
    let mut getopt = Getopt::new(args, table::getopt_specs(), "corvid");
    while let Some(item) = getopt.next_item() {
        match item {
            Ok(Item::Opt(code, value)) => match table::by_code(code) {
                Some(opt) => items.push(Entry::Opt(opt, value)),
                None => {
                    syntax_error = Some(SettingsError::new(
                        format!("Illegal argument \"{}\"", code as char),
                        1,
                    ));
                    break;
                }
            },
            Ok(Item::Operand(word)) => items.push(Entry::Operand(word)),
            Err(e) => {
                syntax_error = Some(e.into());
                break;
            }
        }
    }
    let mut builder = Builder::default();
    for item in &items {
        if let Entry::Opt(opt, value) = item {
            if SOURCES.contains(&opt.key) {
                table::apply(&mut builder, opt, given(value))?;
            }
        }
    }
    if let Some(path) = builder.config_file.clone() {
        builder.layer += 1;
        config_file::load(&mut builder, &path)?;
    }
    if let Some(path) = builder.memcached_conf.clone() {
        builder.layer += 1;
        memcached_conf::load(&mut builder, &path)?;
    }
    builder.layer += 1;
    for item in &items {
        match item {
            Entry::Operand(word) => {
                builder.warn(format!("ignoring argument {word:?}: not an option"));
            }
            Entry::Opt(opt, _) if SOURCES.contains(&opt.key) => {}
            Entry::Opt(opt, value) => {
                table::apply(&mut builder, opt, given(value))?;
                if let Some(action) = builder.action.take() {
                    return Ok(match action {
                        Action::Help => Command::Help(render::help()),
                        Action::License => Command::Help(usage::license()),
                        Action::Version => Command::Version(usage::version()),
                    });
                }
            }
        }
    }
    if let Some(e) = syntax_error {
        return Err(e);
    }
    let print = builder.print_config;
    let settings = builder.finish()?;
    if print {
        return Ok(Command::PrintConfig(render::print_config(&settings)));
    }
    Ok(Command::Serve(Box::new(settings)))
}

/// One option or stray word of the command line, found in the options table.
enum Entry {
    Opt(&'static Opt, Option<OsString>),
    Operand(OsString),
}

fn given(value: &Option<OsString>) -> Given<'_> {
    Given {
        value: value.as_deref(),
        negated: false,
    }
}
