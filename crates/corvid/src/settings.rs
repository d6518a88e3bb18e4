//! The `corvid` command line: memcached 1.6.18's flags, long names, defaults, syntax and
//! error messages, so an existing memcached init script starts Corvid unchanged.
//!
//! Flags Corvid does not implement are accepted and leave a one-line warning in
//! [`Settings::warnings`]; flags whose silent absence would weaken security (`-S`, `-Y`,
//! `-Z`) are refused instead. This module only reads arguments: it never opens files or
//! sockets, never prints, and never exits the process (main does, with
//! [`SettingsError::exit_code`]).

mod extended;
mod options;
mod usage;

pub(crate) use options::OPTIONS;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::getopt::{Getopt, GetoptError, Item};

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the server.
    Serve(Settings),
    /// Print this text to stdout and exit 0 (`-h`, and `-i` for the license).
    Help(String),
    /// Print this line to stdout and exit 0 (`-V`).
    Version(String),
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
    /// `-p`: TCP port; 0 turns TCP off, as in memcached. See [`Settings::tcp_port`].
    pub port: u16,
    /// `-U`: UDP port; 0 is off (the default).
    pub udp_port: u16,
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
    /// The TCP port to listen on, or `None` when TCP is off (`-p 0`, or `-s`).
    pub fn tcp_port(&self) -> Option<u16> {
        (self.unix_socket.is_none() && self.port != 0).then_some(self.port)
    }
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

    /// The status memcached exits with for the same mistake: 1 for syntax errors and
    /// most bad numbers, 64 (EX_USAGE) for the checks it makes after reading all flags.
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
    let mut builder = Builder::default();
    let mut getopt = Getopt::new(args, OPTIONS, "corvid");
    while let Some(item) = getopt.next_item() {
        match item? {
            Item::Operand(word) => {
                builder.warn(format!("ignoring argument {word:?}: not an option"));
            }
            Item::Opt(letter, value) => {
                if let Some(done) = builder.apply(letter, value)? {
                    return Ok(done);
                }
            }
        }
    }
    builder.finish().map(Command::Serve)
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
            settings,
        }
    }
}

fn text(letter: u8, value: Option<OsString>) -> Result<String, SettingsError> {
    value.unwrap_or_default().into_string().map_err(|_| {
        SettingsError::new(
            format!("-{}: argument is not valid UTF-8", letter as char),
            EX_USAGE,
        )
    })
}

fn invalid_number(letter: u8, value: &str) -> SettingsError {
    SettingsError::new(
        format!("Invalid number for -{}: \"{value}\"", letter as char),
        EX_USAGE,
    )
}

/// A whole number, strictly: memcached's atoi would read "abc" as 0 and "10x" as 10.
fn int(letter: u8, value: &str) -> Result<i64, SettingsError> {
    value.parse().map_err(|_| invalid_number(letter, value))
}

/// A whole number that must be positive, with memcached's message when it is not.
fn positive(letter: u8, value: &str, message: &str) -> Result<usize, SettingsError> {
    let n = int(letter, value)?;
    if n <= 0 {
        return Err(SettingsError::new(message, 1));
    }
    usize::try_from(n).map_err(|_| invalid_number(letter, value))
}

/// `-I`: bytes, or a number with a k, m or g suffix (either case). memcached 1.6.18
/// knows only k and m, but its help states sizes up to 1024m, and g is the same thing.
fn item_size(value: &str) -> Result<i64, SettingsError> {
    let (digits, unit) = match value.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&value[..at], c.to_ascii_lowercase()),
        _ => (value, 'b'),
    };
    let shift = match unit {
        'b' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        _ => return Err(invalid_number(b'I', value)),
    };
    let n: i64 = digits.parse().map_err(|_| invalid_number(b'I', value))?;
    // Anything too large to represent is simply larger than a gigabyte.
    Ok(n.checked_mul(1 << shift).unwrap_or(i64::MAX))
}

impl Builder {
    fn warn(&mut self, line: String) {
        if !self.settings.warnings.contains(&line) {
            self.settings.warnings.push(line);
        }
    }

    fn refuse(what: &str, letter: u8) -> SettingsError {
        SettingsError::new(
            format!(
                "-{}: {what} is not supported by corvid; refusing to start without it",
                letter as char
            ),
            EX_USAGE,
        )
    }

    /// Applies one flag; `Some` when the flag ends parsing (`-h`, `-V`, `-i`).
    fn apply(
        &mut self,
        letter: u8,
        value: Option<OsString>,
    ) -> Result<Option<Command>, SettingsError> {
        let s = &mut self.settings;
        match letter {
            b'h' => return Ok(Some(Command::Help(usage::help()))),
            b'i' => return Ok(Some(Command::Help(usage::license()))),
            b'V' => return Ok(Some(Command::Version(usage::version()))),
            b's' => s.unix_socket = Some(PathBuf::from(value.unwrap_or_default())),
            b'P' => s.pid_file = Some(PathBuf::from(value.unwrap_or_default())),
            b'A' => s.allow_shutdown = true,
            b'M' => s.no_evict = true,
            b'k' => s.lock_memory = true,
            b'r' => s.enable_coredumps = true,
            b'd' => s.daemonize = true,
            b'C' => s.cas_disabled = true,
            b'F' => s.flush_enabled = false,
            b'X' => s.dump_enabled = false,
            b'W' => s.watch_enabled = false,
            // `--verbose=x` is accepted and its value ignored, as memcached does.
            b'v' => s.verbose = s.verbose.saturating_add(1),
            b'S' => return Err(Self::refuse("SASL authentication", letter)),
            b'Y' => return Err(Self::refuse("text protocol authentication", letter)),
            b'Z' => return Err(Self::refuse("TLS", letter)),
            b'L' => self.warn("-L: large pages are not supported; ignored".into()),
            b'e' => self.warn("-e: a restartable memory file is not supported; ignored".into()),
            _ => self.apply_valued(letter, text(letter, value)?)?,
        }
        Ok(None)
    }

    fn apply_valued(&mut self, letter: u8, v: String) -> Result<(), SettingsError> {
        let s = &mut self.settings;
        match letter {
            b'p' => {
                self.port = int(letter, &v)?;
                self.port_given = true;
            }
            b'U' => self.udp_port = int(letter, &v)?,
            b'a' => match u32::from_str_radix(&v, 8) {
                Ok(mask) if mask <= 0o7777 => s.unix_mask = mask,
                _ => {
                    return Err(SettingsError::new(
                        format!("Invalid octal mask for -a: \"{v}\""),
                        EX_USAGE,
                    ))
                }
            },
            b'l' => {
                // As memcached: repeated -l add up, empty list items are skipped.
                for address in v.split(',').filter(|a| !a.is_empty()) {
                    if address.starts_with("notls:") {
                        return Err(SettingsError::new(
                            "'notls' option is valid only when SSL is enabled",
                            71,
                        ));
                    }
                    if !s.listen.iter().any(|known| known == address) {
                        s.listen.push(address.to_string());
                    }
                }
            }
            b'm' => {
                let mib: u64 = v.parse().map_err(|_| invalid_number(letter, &v))?;
                s.memory_limit = usize::try_from(mib)
                    .ok()
                    .and_then(|m| m.checked_mul(MIB))
                    .ok_or_else(|| invalid_number(letter, &v))?;
            }
            b'c' => {
                s.max_conns = positive(letter, &v, "Maximum connections must be greater than 0")?
            }
            b't' => {
                s.threads = positive(letter, &v, "Number of threads must be greater than 0")?;
                if s.threads > 64 {
                    let line = format!(
                        "-t {}: this many worker threads is not recommended; \
                         use at most the number of cores",
                        s.threads
                    );
                    self.warn(line);
                }
            }
            b'R' => {
                s.reqs_per_event = positive(
                    letter,
                    &v,
                    "Number of requests per event must be greater than 0",
                )?
            }
            b'u' => s.user = Some(v),
            b'b' => s.backlog = v.parse().map_err(|_| invalid_number(letter, &v))?,
            b'B' => {
                s.protocol = match v.as_str() {
                    "auto" => ProtocolMode::Auto,
                    "ascii" => ProtocolMode::Ascii,
                    "binary" => ProtocolMode::Binary,
                    _ => {
                        return Err(SettingsError::new(
                            format!(
                                "Invalid value for binding protocol: {v} \
                                 -- should be one of auto, binary, or ascii"
                            ),
                            EX_USAGE,
                        ))
                    }
                };
            }
            b'I' => self.item_size_max = item_size(&v)?,
            b'f' => {
                let factor: f64 = v.parse().map_err(|_| invalid_number(letter, &v))?;
                if factor.is_nan() || factor <= 1.0 {
                    return Err(SettingsError::new("Factor must be greater than 1", 1));
                }
                self.warn("-f: corvid has no slab classes; ignored".into());
            }
            b'n' => {
                positive(letter, &v, "Chunk size must be greater than 0")?;
                self.warn("-n: corvid has no slab classes; ignored".into());
            }
            b'D' => {
                if v.is_empty() {
                    return Err(SettingsError::new("No delimiter specified", 1));
                }
                self.warn("-D: per-prefix stats are not supported; ignored".into());
            }
            b'N' => {
                let n = positive(
                    letter,
                    &v,
                    "Maximum number of NAPI IDs must be greater than 0",
                )?;
                self.napi_ids = Some(n as i64);
                self.warn("-N: NAPI ids are not supported; ignored".into());
            }
            b'o' => self.extended(&v)?,
            // The flag table and this match list the same letters.
            other => {
                return Err(SettingsError::new(
                    format!("Illegal argument \"{}\"", other as char),
                    1,
                ))
            }
        }
        Ok(())
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
            if !(0..=65535).contains(&port) {
                return usage(format!("ERROR: Invalid port number {port}."));
            }
        }
        // Both in range: checked just above.
        let (port, udp_port) = (self.port as u16, self.udp_port as u16);
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
