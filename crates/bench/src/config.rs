//! A benchmark's full description, independent of how it was asked for (flags, tests).

use crate::codec::Protocol;
use crate::distribution::{KeyDistSpec, SizeDist};
use crate::error::BenchError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
    /// TLS over TCP (`--tls-ca`), the server's certificate checked for `name`.
    Tls {
        addr: SocketAddr,
        client: std::sync::Arc<rustls::ClientConfig>,
        name: String,
    },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(addr) => write!(f, "tcp {addr}"),
            Target::Unix(path) => write!(f, "unix {}", path.display()),
            Target::Tls { addr, .. } => write!(f, "tls {addr}"),
        }
    }
}

/// When the measured phase ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    After(Duration),
    Requests(u64),
}

/// Relative weights of the three operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    pub get: u32,
    pub set: u32,
    pub delete: u32,
}

impl Ratio {
    pub fn parse(s: &str) -> Result<Self, BenchError> {
        let bad = |why: &str| BenchError::Flag(format!("bad ratio {s:?}: {why}"));
        let mut ratio = Ratio {
            get: 0,
            set: 0,
            delete: 0,
        };
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| bad("want get=N,set=N,delete=N"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| bad("weights are integers"))?;
            match name.trim() {
                "get" => ratio.get = weight,
                "set" => ratio.set = weight,
                "delete" => ratio.delete = weight,
                other => return Err(bad(&format!("unknown operation {other:?}"))),
            }
        }
        if ratio.total() == 0 {
            return Err(bad("at least one weight must be positive"));
        }
        Ok(ratio)
    }

    pub fn total(&self) -> u64 {
        self.get as u64 + self.set as u64 + self.delete as u64
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "get={},set={},delete={}",
            self.get, self.set, self.delete
        )
    }
}

/// The most one read or one write may move before the connection lets the others have
/// their turn, as a client's event loop does: memtier (libevent) reads at most 4 KiB and
/// writes at most 16 KiB per socket per turn, so a large value reaches the server, and
/// leaves it, in pieces. 0 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoSizes {
    pub read: usize,
    pub write: usize,
}

/// What a libevent client such as memtier moves per socket and turn: a large value
/// reaches the server, and leaves it, in these pieces (see docs/bench.md).
pub const DEFAULT_IO: IoSizes = IoSizes {
    read: 4096,
    write: 16384,
};

#[derive(Debug, Clone)]
pub struct Config {
    pub target: Target,
    pub protocol: Protocol,
    pub connections: usize,
    pub threads: usize,
    /// Requests in flight per connection (closed loop), or the most a connection may
    /// have outstanding before scheduled sends wait (open loop).
    pub pipeline: usize,
    pub keys: u64,
    pub key_size: SizeDist,
    pub value_size: SizeDist,
    pub key_dist: KeyDistSpec,
    pub ratio: Ratio,
    pub multiget: usize,
    pub prefill: bool,
    pub stop: Stop,
    /// Open loop at this many requests per second in total; `None` is closed loop.
    pub rate: Option<f64>,
    /// The most one read and one write may move per connection per event-loop turn.
    pub io: IoSizes,
    /// Print a progress line on stderr once a second.
    pub progress: bool,
    pub seed: u64,
}

impl Config {
    /// A small closed-loop text workload against `target`; callers adjust fields.
    pub fn new(target: Target) -> Self {
        Config {
            target,
            protocol: Protocol::Text,
            connections: 50,
            threads: 1,
            pipeline: 1,
            keys: 100_000,
            key_size: SizeDist::Fixed(16),
            value_size: SizeDist::Fixed(100),
            key_dist: KeyDistSpec::Uniform,
            ratio: Ratio {
                get: 10,
                set: 1,
                delete: 0,
            },
            multiget: 1,
            prefill: false,
            stop: Stop::After(Duration::from_secs(10)),
            rate: None,
            io: DEFAULT_IO,
            progress: false,
            seed: 1,
        }
    }

    pub fn validate(&self) -> Result<(), BenchError> {
        let fail = |msg: &str| Err(BenchError::Flag(msg.to_string()));
        if self.connections == 0 || self.threads == 0 || self.pipeline == 0 || self.multiget == 0 {
            return fail("connections, threads, pipeline and multiget must be at least 1");
        }
        if self.threads > self.connections {
            return fail("need at least one connection per thread");
        }
        if self.keys == 0 {
            return fail("need at least one key");
        }
        crate::content::check_key_size(self.keys, self.key_size)?;
        if self.value_size.max() > crate::codec::MAX_VALUE {
            return fail("--value-size: at most 1073741824 bytes, memcached's largest item");
        }
        if self.multiget > 1 && self.ratio.get == 0 {
            return fail("--multiget needs gets in --ratio");
        }
        if let Some(rate) = self.rate {
            if !(rate > 0.0 && rate.is_finite()) {
                return fail("--rate must be a positive number of requests per second");
            }
        }
        Ok(())
    }
}

/// `10s`, `500ms`, `2m`, `1h`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, BenchError> {
    let bad = || BenchError::Flag(format!("bad duration {s:?}: want e.g. 10s, 500ms, 2m"));
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !(value >= 0.0 && value.is_finite()) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_parse() {
        assert_eq!(
            Ratio::parse("get=10,set=1").unwrap(),
            Ratio {
                get: 10,
                set: 1,
                delete: 0
            }
        );
        assert_eq!(Ratio::parse("delete=2").unwrap().delete, 2);
        assert!(Ratio::parse("get=0").is_err());
        assert!(Ratio::parse("put=1").is_err());
        assert!(Ratio::parse("get").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn validation_catches_nonsense() {
        let mut c = Config::new(Target::Tcp("127.0.0.1:1".parse().unwrap()));
        assert!(c.validate().is_ok());
        c.threads = 100;
        assert!(c.validate().is_err());
        c.threads = 1;
        c.rate = Some(0.0);
        assert!(c.validate().is_err());
        c.rate = None;
        c.value_size = SizeDist::Fixed(crate::codec::MAX_VALUE);
        assert!(c.validate().is_ok());
        c.value_size = SizeDist::Uniform {
            min: 1,
            max: crate::codec::MAX_VALUE + 1,
        };
        assert!(c.validate().is_err());
    }
}
