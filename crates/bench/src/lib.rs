//! `corvid bench`: a load generator for memcached-protocol servers (text, meta and
//! binary, over TCP, TLS or a Unix socket), closed or open loop, with HdrHistogram latencies
//! and every reply checked for correctness.
//!
//! It must never hide a problem to look fast: latency is timed from when a request was
//! due (so stalls are not coordinated away), every value read back is verified, and
//! anything unexpected is counted as an error rather than skipped. It also must not be
//! the bottleneck: the request path does not allocate in the steady state.

mod codec;
mod config;
mod connection;
mod content;
mod distribution;
mod error;
mod flags;
mod hgrm;
mod report;
mod rng;
mod run;
mod timer;
mod tls;
mod worker;

pub use codec::Protocol;
pub use config::IoSizes;
pub use config::{Config, Ratio, Stop, Target, DEFAULT_IO};
pub use content::{Content, ValueHead};
pub use distribution::{KeyDistSpec, SizeDist};
pub use error::BenchError;
pub use report::{Latency, OpReport, Report};
pub use run::run;

use clap::Parser;
use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

/// `--handshakes`: prints handshakes per second.
fn handshakes(config: &Config) -> ExitCode {
    let Target::Tls { addr, client, name } = &config.target else {
        eprintln!("corvid bench: --handshakes needs --tls-ca");
        return ExitCode::from(2);
    };
    let duration = match config.stop {
        Stop::After(d) => d,
        Stop::Requests(_) => std::time::Duration::from_secs(10),
    };
    let (done, failed) = tls::handshake_rate(*addr, client.clone(), name, config.threads, duration);
    println!(
        "handshakes {done} in {:.1} s: {:.0}/s ({failed} failed, {} client threads)",
        duration.as_secs_f64(),
        done as f64 / duration.as_secs_f64(),
        config.threads
    );
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Entry point for `corvid bench`; `args` are the arguments after `bench`.
/// Exit status: 0 clean, 1 errors were counted, 2 bad flags, 3 the run could not happen.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let flags = match flags::Flags::try_parse_from(
        std::iter::once(OsString::from("corvid bench")).chain(args),
    ) {
        Ok(flags) => flags,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let config = match flags.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("corvid bench: {e}");
            return ExitCode::from(2);
        }
    };
    if flags.handshakes {
        return handshakes(&config);
    }
    let report = match run(&config) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("corvid bench: {e}");
            return ExitCode::from(3);
        }
    };
    if let Some(path) = &flags.hdr_out {
        let text = hgrm::percentile_distribution(
            &report.histogram,
            hgrm::TICKS_PER_HALF_DISTANCE,
            hgrm::NANOS_PER_MILLI,
        );
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("corvid bench: cannot write {}: {e}", path.display());
            return ExitCode::from(3);
        }
    }
    let text = if flags.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => json + "\n",
            Err(e) => {
                eprintln!("corvid bench: cannot encode the report: {e}");
                return ExitCode::from(3);
            }
        }
    } else {
        report.table()
    };
    // A closed stdout (`| head`) is the reader's choice, not a failure of the run.
    let _ = std::io::stdout().write_all(text.as_bytes());
    if report.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
