//! The `corvid bench` command line, turned into a `Config`.

use crate::codec::Protocol;
use crate::config::IoSizes;
use crate::config::{parse_duration, Config, Ratio, Stop, Target, DEFAULT_IO};
use crate::distribution::{KeyDistSpec, SizeDist};
use crate::error::BenchError;
use clap::Parser;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "corvid bench",
    about = "Load generator for memcached-protocol servers (text, meta, binary; TCP or Unix socket)",
    after_help = "Latency is measured from when a request was sent (closed loop) or was due \
to be sent (open loop, --rate), so server stalls are not hidden. Every value read back is \
checked; a wrong one counts as an error. Exit status: 0 clean run, 1 errors seen, 2 bad \
flags, 3 could not run."
)]
pub struct Flags {
    /// Server address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:11211")]
    pub server: String,
    /// Connect to this Unix socket instead of --server.
    #[arg(long)]
    pub unix: Option<PathBuf>,
    /// TLS: connect to --server over TLS, trusting the CA certificates (PEM) in FILE.
    /// The handshake is made at connect time, before measuring.
    #[arg(long, value_name = "FILE", conflicts_with = "unix")]
    pub tls_ca: Option<PathBuf>,
    /// The name the server's certificate must carry (TLS).
    #[arg(long, default_value = "localhost")]
    pub tls_name: String,
    /// Measure TLS handshakes instead (needs --tls-ca): --threads clients each connect,
    /// handshake, ask `version` and close, over and over, for --duration.
    #[arg(long, requires = "tls_ca")]
    pub handshakes: bool,
    /// text, meta or binary.
    #[arg(long, default_value = "text", value_parser = Protocol::parse)]
    pub protocol: Protocol,
    /// Connections in total, spread over the threads.
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Requests in flight per connection (open loop: the most a connection may have
    /// outstanding before due requests wait).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Key size in bytes: N or uniform:MIN:MAX.
    #[arg(long, default_value = "16", value_parser = SizeDist::parse)]
    pub key_size: SizeDist,
    /// Value size in bytes: N or uniform:MIN:MAX.
    #[arg(long, default_value = "100", value_parser = SizeDist::parse)]
    pub value_size: SizeDist,
    /// uniform or zipf:SKEW (e.g. zipf:0.99).
    #[arg(long, default_value = "uniform", value_parser = KeyDistSpec::parse)]
    pub key_dist: KeyDistSpec,
    /// Operation weights.
    #[arg(long, default_value = "get=10,set=1,delete=0", value_parser = Ratio::parse)]
    pub ratio: Ratio,
    /// Keys per get.
    #[arg(long, default_value_t = 1)]
    pub multiget: usize,
    /// Set every key once before measuring.
    #[arg(long)]
    pub prefill: bool,
    /// How long to measure (10s, 500ms, 2m). Default 10s. 0 with --prefill only prefills.
    #[arg(long, value_parser = parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Measure this many requests instead of a duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Open loop: send this many requests per second in total, on a fixed schedule.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Most bytes a connection reads per event-loop turn, as memtier does (0: all there is).
    #[arg(long, default_value_t = DEFAULT_IO.read)]
    pub read_size: usize,
    /// Most bytes a connection writes per event-loop turn, as memtier does (0: all it has).
    #[arg(long, default_value_t = DEFAULT_IO.write)]
    pub write_size: usize,
    /// Print the report as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Also write the latency histogram (every operation) to FILE in HdrHistogram's
    /// percentile-distribution text (.hgrm, milliseconds), for plotting.
    #[arg(long, value_name = "FILE")]
    pub hdr_out: Option<PathBuf>,
    /// Seed for key, operation and size choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Flags {
    pub fn config(&self) -> Result<Config, BenchError> {
        let target = match &self.unix {
            Some(path) => Target::Unix(path.clone()),
            None => {
                let resolve = |source| BenchError::Resolve {
                    addr: self.server.clone(),
                    source,
                };
                let addr = self
                    .server
                    .to_socket_addrs()
                    .map_err(resolve)?
                    .next()
                    .ok_or_else(|| resolve(std::io::ErrorKind::NotFound.into()))?;
                match &self.tls_ca {
                    Some(ca) => Target::Tls {
                        addr,
                        client: crate::tls::client_config(ca)?,
                        name: self.tls_name.clone(),
                    },
                    None => Target::Tcp(addr),
                }
            }
        };
        let stop = match (self.requests, self.duration) {
            (Some(n), _) => Stop::Requests(n),
            (None, Some(d)) if d.is_zero() => Stop::Requests(0),
            (None, Some(d)) => Stop::After(d),
            (None, None) => Stop::After(Duration::from_secs(10)),
        };
        let config = Config {
            target,
            protocol: self.protocol,
            connections: self.connections,
            threads: self.threads,
            pipeline: self.pipeline,
            keys: self.keys,
            key_size: self.key_size,
            value_size: self.value_size,
            key_dist: self.key_dist,
            ratio: self.ratio,
            multiget: self.multiget,
            prefill: self.prefill,
            stop,
            rate: self.rate,
            io: IoSizes {
                read: self.read_size,
                write: self.write_size,
            },
            progress: !self.quiet,
            seed: self.seed,
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let flags = Flags::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        flags.config().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = parse(&[]).unwrap();
        assert!(matches!(c.target, Target::Tcp(a) if a.port() == 11211));
        assert_eq!(
            (c.connections, c.threads, c.pipeline, c.multiget),
            (50, 1, 1, 1)
        );
        assert_eq!(c.stop, Stop::After(Duration::from_secs(10)));
        assert_eq!(c.ratio.to_string(), "get=10,set=1,delete=0");
        assert_eq!(
            c.io,
            IoSizes {
                read: 4096,
                write: 16384
            }
        );
    }

    #[test]
    fn every_flag_reaches_the_config() {
        let c = parse(&[
            "--unix",
            "/tmp/x.sock",
            "--protocol",
            "binary",
            "--connections",
            "8",
            "--threads",
            "2",
            "--pipeline",
            "32",
            "--keys",
            "1000",
            "--key-size",
            "uniform:10:20",
            "--value-size",
            "65536",
            "--key-dist",
            "zipf:0.99",
            "--ratio",
            "get=1,set=1",
            "--multiget",
            "4",
            "--prefill",
            "--requests",
            "500",
            "--rate",
            "1000",
            "--quiet",
            "--seed",
            "9",
            "--hdr-out",
            "/tmp/x.hgrm",
            "--read-size",
            "0",
            "--write-size",
            "100",
        ])
        .unwrap();
        assert!(matches!(c.target, Target::Unix(_)));
        assert_eq!(c.protocol, Protocol::Binary);
        assert_eq!(
            (c.connections, c.threads, c.pipeline, c.multiget),
            (8, 2, 32, 4)
        );
        assert_eq!(c.key_size, SizeDist::Uniform { min: 10, max: 20 });
        assert_eq!(c.key_dist, KeyDistSpec::Zipf(0.99));
        assert_eq!(c.stop, Stop::Requests(500));
        assert_eq!(c.rate, Some(1000.0));
        assert!(c.prefill && !c.progress);
        assert_eq!(
            c.io,
            IoSizes {
                read: 0,
                write: 100
            }
        );
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(parse(&["--protocol", "udp"]).is_err());
        assert!(parse(&["--duration", "1s", "--requests", "5"]).is_err());
        assert!(parse(&["--threads", "4", "--connections", "2"]).is_err());
        assert!(parse(&["--key-size", "2"]).is_err());
    }

    #[test]
    fn zero_duration_means_prefill_only() {
        assert_eq!(
            parse(&["--prefill", "--duration", "0"]).unwrap().stop,
            Stop::Requests(0)
        );
    }
}
