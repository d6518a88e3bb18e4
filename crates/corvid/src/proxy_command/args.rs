//! Reading `corvid proxy`'s arguments. Like `settings`, this module opens no file and
//! prints nothing; `run` acts on what it returns.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::getopt::{spec, Getopt, GetoptError, Item, Spec, Value};
use server::IoBackend;

/// Debian's nutcracker defaults (`nutcracker -h`); upstream's differ for the three
/// paths (conf/nutcracker.yml, stderr, no pid file).
pub const DEFAULT_CONF_FILE: &str = "/etc/nutcracker/nutcracker.yml";
pub const DEFAULT_OUTPUT: &str = "/var/log/nutcracker/nutcracker.log";
pub const DEFAULT_PID_FILE: &str = "/run/nutcracker/nutcracker.pid";
pub const DEFAULT_STATS_PORT: u16 = 22222;
pub const DEFAULT_STATS_ADDR: &str = "0.0.0.0";
pub const DEFAULT_STATS_INTERVAL_MS: u64 = 30_000;
pub const DEFAULT_VERBOSITY: u8 = 5;
/// nutcracker's highest log level; higher values are accepted and mean this.
pub const MAX_VERBOSITY: u8 = 11;
pub const DEFAULT_MBUF_SIZE: usize = 16_384;
const MIN_MBUF_SIZE: usize = 512;
const MAX_MBUF_SIZE: usize = 16_777_216;
/// Worker threads; memcached's and `corvid`'s `-t` default.
pub const DEFAULT_THREADS: usize = 4;

/// Codes for options without a short letter (never printable, so never a flag).
const THREADS: u8 = 1;
const TOML: u8 = 2;
const EXPLAIN: u8 = 3;
const IO_BACKEND: u8 = 4;

/// nutcracker's options, in its order, then Corvid's.
const OPTIONS: &[Spec] = &[
    spec(b'h', Some("help"), Value::No),
    spec(b'V', Some("version"), Value::No),
    spec(b't', Some("test-conf"), Value::No),
    spec(b'd', Some("daemonize"), Value::No),
    spec(b'D', Some("describe-stats"), Value::No),
    spec(b'v', Some("verbose"), Value::Required),
    spec(b'v', Some("verbosity"), Value::Required),
    spec(b'o', Some("output"), Value::Required),
    spec(b'c', Some("conf-file"), Value::Required),
    spec(b's', Some("stats-port"), Value::Required),
    spec(b'i', Some("stats-interval"), Value::Required),
    spec(b'a', Some("stats-addr"), Value::Required),
    spec(b'p', Some("pid-file"), Value::Required),
    spec(b'm', Some("mbuf-size"), Value::Required),
    spec(THREADS, Some("threads"), Value::Required),
    spec(TOML, Some("toml"), Value::Required),
    spec(EXPLAIN, Some("explain"), Value::Required),
    spec(IO_BACKEND, Some("io-backend"), Value::Required),
];

/// What `corvid proxy ...` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyCommand {
    /// Everything was read; `run` decides what to do with it.
    Run(ProxySettings),
    /// `-V`, `-h`, `-D` (any of them ends the command, as in nutcracker).
    Describe { help: bool, stats: bool },
}

/// Everything the proxy's command line configures. Defaults are nutcracker's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// `-c`: the twemproxy YAML file.
    pub conf_file: PathBuf,
    /// `--toml`: Corvid's route configuration, read instead of `-c`.
    pub toml: Option<PathBuf>,
    /// `-t`: check the configuration and exit.
    pub test_conf: bool,
    /// `--explain KEY` (repeatable): print where each key goes and exit.
    pub explain: Vec<String>,
    /// `-s`
    pub stats_port: u16,
    /// `-a`
    pub stats_addr: String,
    /// `-i`
    pub stats_interval: Duration,
    /// `-o`: the log file.
    pub output: PathBuf,
    /// `-v`: 0 to 11.
    pub verbosity: u8,
    /// `-d`
    pub daemonize: bool,
    /// `-p`, when given. Without it, Debian's nutcracker writes [`DEFAULT_PID_FILE`] when
    /// daemonized (`-d`) and none otherwise.
    pub pid_file: Option<PathBuf>,
    /// `-m`: accepted for compatibility (Corvid's buffers are sized by the runtime).
    pub mbuf_size: usize,
    /// `--threads`: worker threads.
    pub threads: usize,
    /// `--io-backend`: `epoll` (the default) or `uring` (docs/io.md, "io_uring").
    pub io_backend: IoBackend,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            conf_file: PathBuf::from(DEFAULT_CONF_FILE),
            toml: None,
            test_conf: false,
            explain: Vec::new(),
            stats_port: DEFAULT_STATS_PORT,
            stats_addr: DEFAULT_STATS_ADDR.to_string(),
            stats_interval: Duration::from_millis(DEFAULT_STATS_INTERVAL_MS),
            output: PathBuf::from(DEFAULT_OUTPUT),
            verbosity: DEFAULT_VERBOSITY,
            daemonize: false,
            pid_file: None,
            mbuf_size: DEFAULT_MBUF_SIZE,
            threads: DEFAULT_THREADS,
            io_backend: IoBackend::Epoll,
        }
    }
}

/// A command line nutcracker would refuse: the message, then its usage, exit 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUsageError {
    pub message: String,
}

impl ProxyUsageError {
    fn new(message: impl Into<String>) -> Self {
        ProxyUsageError {
            message: message.into(),
        }
    }
}

/// What nutcracker says when a flag's value is missing, by flag.
fn needs(letter: u8) -> String {
    let what = match letter {
        b'c' | b'o' | b'p' | TOML => "a file name",
        b'a' => "a string",
        b'm' => "a non-zero number",
        EXPLAIN => "a key",
        IO_BACKEND => "epoll or uring",
        _ => "a number",
    };
    format!("corvid: option {} requires {what}", shown(letter))
}

fn shown(letter: u8) -> String {
    match letter {
        THREADS => "--threads".into(),
        TOML => "--toml".into(),
        EXPLAIN => "--explain".into(),
        IO_BACKEND => "--io-backend".into(),
        l => format!("-{}", l as char),
    }
}

impl From<GetoptError> for ProxyUsageError {
    fn from(error: GetoptError) -> Self {
        match error {
            GetoptError::MissingShortValue { letter, .. }
            | GetoptError::MissingLongValue { letter, .. } => ProxyUsageError::new(needs(letter)),
            other => ProxyUsageError::new(other.to_string()),
        }
    }
}

/// Reads `corvid proxy`'s arguments (those after `proxy`).
pub fn parse_args<I: IntoIterator<Item = OsString>>(
    args: I,
) -> Result<ProxyCommand, ProxyUsageError> {
    let args: VecDeque<OsString> = args.into_iter().collect();
    let mut settings = ProxySettings::default();
    let (mut version, mut help, mut stats) = (false, false, false);
    let mut getopt = Getopt::new(args, OPTIONS, "corvid");
    while let Some(item) = getopt.next_item() {
        let (letter, value) = match item? {
            // nutcracker ignores words that are not options.
            Item::Operand(_) => continue,
            Item::Opt(letter, value) => (letter, value),
        };
        let value = value.map(|v| v.to_string_lossy().into_owned());
        let text = || value.clone().unwrap_or_default();
        let number =
            || proxy::twemproxy_number(&text()).ok_or_else(|| ProxyUsageError::new(needs(letter)));
        match letter {
            b'h' => {
                version = true;
                help = true;
            }
            b'V' => version = true,
            b't' => settings.test_conf = true,
            b'd' => settings.daemonize = true,
            b'D' => {
                version = true;
                stats = true;
            }
            b'v' => settings.verbosity = number()?.min(i32::from(MAX_VERBOSITY)) as u8,
            b'o' => settings.output = PathBuf::from(text()),
            b'c' => settings.conf_file = PathBuf::from(text()),
            b's' => {
                let port = number()?;
                settings.stats_port =
                    u16::try_from(port)
                        .ok()
                        .filter(|&p| p != 0)
                        .ok_or_else(|| {
                            ProxyUsageError::new(format!(
                                "corvid: option -s value {port} is not a valid port"
                            ))
                        })?;
            }
            b'i' => settings.stats_interval = Duration::from_millis(number()? as u64),
            b'a' => settings.stats_addr = text(),
            b'p' => settings.pid_file = Some(PathBuf::from(text())),
            b'm' => {
                let size = number()?;
                if size == 0 {
                    return Err(ProxyUsageError::new(needs(b'm')));
                }
                settings.mbuf_size = size as usize;
            }
            THREADS => {
                settings.threads = match number()? {
                    0 => {
                        return Err(ProxyUsageError::new(
                            "corvid: option --threads must be at least 1",
                        ))
                    }
                    n => n as usize,
                }
            }
            TOML => settings.toml = Some(PathBuf::from(text())),
            EXPLAIN => settings.explain.push(text()),
            IO_BACKEND => {
                settings.io_backend = IoBackend::from_name(&text()).ok_or_else(|| {
                    ProxyUsageError::new(format!(
                        "corvid: option --io-backend must be epoll or uring, not '{}'",
                        text()
                    ))
                })?
            }
            _ => {
                return Err(ProxyUsageError::new(format!(
                    "corvid: invalid option {}",
                    shown(letter)
                )))
            }
        }
    }
    if !(MIN_MBUF_SIZE..=MAX_MBUF_SIZE).contains(&settings.mbuf_size) {
        return Err(ProxyUsageError::new(format!(
            "corvid: mbuf chunk size must be between {MIN_MBUF_SIZE} and {MAX_MBUF_SIZE} bytes"
        )));
    }
    if version {
        return Ok(ProxyCommand::Describe { help, stats });
    }
    Ok(ProxyCommand::Run(settings))
}

#[cfg(test)]
mod tests;
