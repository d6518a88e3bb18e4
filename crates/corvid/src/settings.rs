//! The `corvid` command line: memcached 1.6.18's flags, long names, defaults, syntax and
//! error messages, so an existing memcached init script starts Corvid unchanged; plus a
//! TOML config file (`--config`) and a Debian `/etc/memcached.conf` (`--memcached-conf`)
//! that say the same things, and `--print-config`.
//!
//! Every option is one entry of one table ([`options`]): getopt, the config-file keys,
//! `--print-config`, `-h`, the packaged `corvid.toml` and docs/flags.md are read from it.
//! Sources are applied in a fixed order whatever their place on the command line: the
//! TOML file, then the memcached.conf file, then the command line, so a flag overrides a
//! file.
//!
//! Flags Corvid does not implement are accepted and leave a one-line warning in
//! [`Settings::warnings`]; flags whose silent absence would weaken security (`-S`, `-Y`,
//! `-Z`) are refused instead. This module reads arguments and the files they name: it
//! never opens sockets, never prints, and never exits the process (main does, with
//! [`SettingsError::exit_code`]).

mod config_file;
#[cfg(test)]
mod config_tests;
mod extended;
mod flags;
#[cfg(test)]
mod generated;
mod memcached_conf;
mod options;
mod render;
mod usage;

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::getopt::{Getopt, GetoptError, Item};
use options::{Given, Opt};

pub(crate) use options::getopt_specs;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the server.
    Serve(Settings),
    /// Print this text to stdout and exit 0 (`-h`, and `-i` for the license).
    Help(String),
    /// Print this line to stdout and exit 0 (`-V`).
    Version(String),
    /// Print these settings (TOML, `--print-config`) to stdout and exit 0.
    PrintConfig(String),
}

/// Which protocols a connection may speak (`-B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolMode {
    /// The first byte decides: `0x80` is binary, anything else text.
    #[default]
    Auto,
    Ascii,
    Binary,
}

/// Everything the command line configures. Defaults are memcached's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `-p`: TCP port; 0 turns TCP off and -1 asks the kernel for a free port, as in
    /// memcached. See [`Settings::tcp_port`].
    pub port: i32,
    /// `-U`: UDP port; 0 is off (the default), -1 a free port.
    pub udp_port: i32,
    /// `-s`: a Unix socket path; when set, TCP and UDP are off.
    pub unix_socket: Option<PathBuf>,
    /// `-a`: permission bits of the Unix socket.
    pub unix_mask: u32,
    /// `-l`: addresses to listen on (each `host` or `host:port`); empty means all.
    pub listen: Vec<String>,
    /// `-m`: item memory in bytes (the flag is in MiB).
    pub memory_limit: usize,
    /// `-M`: answer an error when memory is full instead of evicting.
    pub no_evict: bool,
    /// `-c`: most connections open at once.
    pub max_conns: usize,
    /// `-t`: worker threads.
    pub threads: usize,
    /// `-I`: largest item in bytes.
    pub item_size_max: usize,
    /// `-v`: how many times it was given (`-vv` is 2).
    pub verbose: u8,
    /// `-R`: requests served per connection per wakeup before it yields.
    pub reqs_per_event: usize,
    /// `-C`
    pub cas_disabled: bool,
    /// `-A`: allow the text `shutdown` command.
    pub allow_shutdown: bool,
    /// `-B`
    pub protocol: ProtocolMode,
    /// `-u`: user to run as.
    pub user: Option<String>,
    /// `-o idle_timeout=N`: seconds; 0 is off.
    pub idle_timeout: u64,
    /// One line each, for main to print at start: flags accepted but not acted on.
    pub warnings: Vec<String>,
    /// Options accepted and ignored, by config key, with their value in command-line
    /// syntax: kept so `--print-config` shows them (and its output starts the same server,
    /// warnings included).
    pub ignored: BTreeMap<&'static str, String>,
    /// `-d`: detach into the background.
    pub daemonize: bool,
    /// `-P`: where to write the process id.
    pub pid_file: Option<PathBuf>,
    /// `-b`: listen backlog.
    pub backlog: u32,
    /// `-F` clears it: `flush_all` is refused.
    pub flush_enabled: bool,
    /// `-X` clears it: `stats cachedump` and `lru_crawler metadump` are refused.
    pub dump_enabled: bool,
    /// `-W` clears it: `watch` is refused.
    pub watch_enabled: bool,
    /// `-k`: mlockall.
    pub lock_memory: bool,
    /// `-r`: raise the core file size limit.
    pub enable_coredumps: bool,
    /// `-o maxconns_fast` (default) / `no_maxconns_fast`: over `-c`, reject new
    /// connections with `ERROR Too many open connections` rather than stop accepting.
    pub maxconns_fast: bool,
}

const MIB: usize = 1024 * 1024;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: 11211,
            udp_port: 0,
            unix_socket: None,
            unix_mask: 0o700,
            listen: Vec::new(),
            memory_limit: 64 * MIB,
            no_evict: false,
            max_conns: 1024,
            threads: 4,
            item_size_max: MIB,
            verbose: 0,
            reqs_per_event: 20,
            cas_disabled: false,
            allow_shutdown: false,
            protocol: ProtocolMode::Auto,
            user: None,
            idle_timeout: 0,
            warnings: Vec::new(),
            ignored: BTreeMap::new(),
            daemonize: false,
            pid_file: None,
            backlog: 1024,
            flush_enabled: true,
            dump_enabled: true,
            watch_enabled: true,
            lock_memory: false,
            enable_coredumps: false,
            maxconns_fast: true,
        }
    }
}

impl Settings {
    /// The TCP port to bind, or `None` when TCP is off (`-p 0`, or `-s`). 0 (from `-p -1`)
    /// lets the kernel pick one.
    pub fn tcp_port(&self) -> Option<u16> {
        (self.unix_socket.is_none() && self.port != 0).then(|| bind_port(self.port))
    }

    /// The UDP port to bind, or `None` when UDP is off (`-U 0`, or `-s`); 0 as above.
    pub fn udp_bind_port(&self) -> Option<u16> {
        (self.unix_socket.is_none() && self.udp_port != 0).then(|| bind_port(self.udp_port))
    }
}

/// memcached's -1 ("any free port") is port 0 to bind(); `finish` has checked the range.
fn bind_port(port: i32) -> u16 {
    u16::try_from(port).unwrap_or(0)
}

/// A command line memcached would refuse. Display is the one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    message: String,
    exit_code: i32,
}

impl SettingsError {
    fn new(message: impl Into<String>, exit_code: i32) -> Self {
        SettingsError {
            message: message.into(),
            exit_code,
        }
    }

    /// The same mistake found in a file: says where, and exits EX_CONFIG.
    fn in_file(self, place: &str) -> Self {
        SettingsError::new(format!("{place}: {}", self.message), EX_CONFIG)
    }

    /// The status memcached exits with for the same mistake: 1 for syntax errors and
    /// most bad numbers, 64 (EX_USAGE) for the checks it makes after reading all flags;
    /// 78 (EX_CONFIG) for anything wrong in a config file.
    pub fn exit_code(&self) -> i32 {
        self.exit_code
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SettingsError {}

impl From<GetoptError> for SettingsError {
    /// getopt failures make memcached exit 1 (after "Illegal argument").
    fn from(error: GetoptError) -> Self {
        SettingsError::new(error.to_string(), 1)
    }
}

const EX_USAGE: i32 = 64;
const EX_CONFIG: i32 = 78;

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
    let mut getopt = Getopt::new(args, getopt_specs(), "corvid");
    while let Some(item) = getopt.next_item() {
        match item {
            Ok(Item::Opt(code, value)) => match options::by_code(code) {
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
                builder.apply_opt(opt, given(value))?;
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
                builder.apply_opt(opt, given(value))?;
                if let Some(done) = builder.done.take() {
                    return Ok(done);
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
    Ok(Command::Serve(settings))
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

/// Settings being read, plus what memcached checks only once every flag is in.
struct Builder {
    settings: Settings,
    port: i64,
    udp_port: i64,
    port_given: bool,
    item_size_max: i64,
    /// Only for memcached's `-I` rules, which are stated in its slab terms.
    slab_chunk_max: i64,
    napi_ids: Option<i64>,
    hot_lru_pct: i64,
    warm_lru_pct: i64,
    lru_maintainer: bool,
    temporary_ttl: bool,
    /// Set by `-h`, `-V`, `-i`: what to do instead of serving.
    done: Option<Command>,
    config_file: Option<PathBuf>,
    memcached_conf: Option<PathBuf>,
    print_config: bool,
    /// Which source is being read (each file, then the command line): an option that
    /// adds up starts afresh in each source that names it.
    layer: u8,
    /// The source that last set each option, by config key.
    origin: BTreeMap<&'static str, u8>,
}

impl Default for Builder {
    fn default() -> Self {
        let settings = Settings::default();
        Builder {
            port: settings.port.into(),
            udp_port: settings.udp_port.into(),
            port_given: false,
            item_size_max: settings.item_size_max as i64,
            slab_chunk_max: (MIB / 2) as i64,
            napi_ids: None,
            hot_lru_pct: 20,
            warm_lru_pct: 40,
            lru_maintainer: true,
            temporary_ttl: false,
            done: None,
            config_file: None,
            memcached_conf: None,
            print_config: false,
            layer: 0,
            origin: BTreeMap::new(),
            settings,
        }
    }
}

impl Builder {
    fn warn(&mut self, line: String) {
        if !self.settings.warnings.contains(&line) {
            self.settings.warnings.push(line);
        }
    }

    /// Records an option Corvid accepts and ignores, with its one warning line.
    fn ignore(&mut self, key: &'static str, value: String, warning: &str) {
        self.settings.ignored.insert(key, value);
        self.warn(warning.to_string());
    }

    /// Applies one occurrence of an option, from any source.
    fn apply_opt(&mut self, opt: &'static Opt, given: Given<'_>) -> Result<(), SettingsError> {
        if let Some(reset) = opt.reset {
            if self
                .origin
                .get(opt.key)
                .is_some_and(|&layer| layer != self.layer)
            {
                reset(self);
            }
        }
        self.origin.insert(opt.key, self.layer);
        (opt.apply)(self, given)
    }

    /// memcached's checks made after every flag is read, in its order.
    fn finish(mut self) -> Result<Settings, SettingsError> {
        let usage = |message: String| Err(SettingsError::new(message, EX_USAGE));
        let threads = self.settings.threads as i64;
        if let Some(napi) = self.napi_ids.filter(|&n| n > threads) {
            return usage(format!(
                "Number of napi_ids({napi}) cannot be greater than number of threads({threads})"
            ));
        }
        let item = self.item_size_max;
        if item < 1024 {
            return usage("Item max size cannot be less than 1024 bytes.".into());
        }
        if item as u64 > (self.settings.memory_limit / 2) as u64 {
            return usage("Cannot set item size limit higher than 1/2 of memory max.".into());
        }
        if item > 1 << 30 {
            return usage("Cannot set item size limit higher than a gigabyte.".into());
        }
        // memcached's slab rules for -I, kept so the same -I values are accepted.
        let chunk = self.slab_chunk_max;
        if chunk > item {
            return usage(format!(
                "slab_chunk_max (bytes: {chunk}) cannot be larger than -I (item_size_max {item})"
            ));
        }
        if item % chunk != 0 {
            return usage(format!(
                "-I (item_size_max: {item}) must be evenly divisible by slab_chunk_max (bytes: {chunk})"
            ));
        }
        let page = MIB as i64;
        if page % chunk != 0 {
            return usage(format!(
                "slab_chunk_max (bytes: {chunk}) must divide evenly into {page} (slab_page_size)"
            ));
        }
        if self.hot_lru_pct + self.warm_lru_pct > 80 {
            return usage("hot_lru_pct + warm_lru_pct cannot be more than 80% combined".into());
        }
        if self.temporary_ttl && !self.lru_maintainer {
            return usage("temporary_ttl requires lru_maintainer to be enabled".into());
        }
        for port in [self.port, self.udp_port] {
            // -1 is memcached's "any free port"; below that its bind fails (exit 71).
            if !(-1..=65535).contains(&port) {
                return usage(format!("ERROR: Invalid port number {port}."));
            }
        }
        // Both in range: checked just above.
        let (port, udp_port) = (self.port as i32, self.udp_port as i32);
        let s = &mut self.settings;
        s.item_size_max = item as usize;
        s.port = port;
        s.udp_port = udp_port;
        // memcached: `-U n` without `-p` moves TCP to port n as well.
        if udp_port != 0 && !self.port_given {
            s.port = udp_port;
        }
        Ok(self.settings)
    }
}

#[cfg(test)]
mod tests;
