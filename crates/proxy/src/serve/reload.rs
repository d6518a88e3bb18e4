//! Reload on SIGHUP (delivered by the runtime, `Service::reload`): the configuration
//! file is read again, checked and resolved on a thread of its own (never on a worker), then swapped in whole ([`Current::replace`]).
//! A configuration that fails any check is refused and the old one keeps serving.
//! Workers move to the new one between requests: requests in flight finish on the
//! connections they were sent on; backends present before and after (same pool, name
//! and address) keep their connections and health; the others' connections close once
//! their last reply is in.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

use super::loaded::{Current, Loaded};
use super::log::Log;
use super::stats::ProxyStats;
use crate::config::ProxyConfig;

/// Reads the configuration again (for reloads): the file's errors as text.
pub type Load = Arc<dyn Fn() -> Result<ProxyConfig, String> + Send + Sync>;

/// Loads the configuration again and serves it if it is valid; the line to log.
pub fn reload(load: &Load, current: &Current, stats: &ProxyStats) -> Result<String, String> {
    let result = load()
        .and_then(|config| Loaded::new(config).map_err(|e| e.to_string()))
        .and_then(|loaded| current.replace(loaded).map_err(|e| e.to_string()));
    match result {
        Ok(generation) => {
            stats.reloads.fetch_add(1, Relaxed);
            Ok(format!("configuration reloaded (generation {generation})"))
        }
        Err(why) => {
            stats.reload_failures.fetch_add(1, Relaxed);
            Err(format!(
                "configuration reload refused, still serving generation {}: {why}",
                current.generation()
            ))
        }
    }
}

/// Starts the thread that reloads each time the sender is signalled. The runtime owns
/// SIGHUP (it also reloads TLS certificates on it) and calls `Service::reload`, which
/// signals; the slow part (reading the file, resolving names) happens here, never on
/// the runtime's threads. Signals arriving during a reload are folded into one more.
pub(crate) fn spawn(
    load: Load,
    current: Arc<Current>,
    stats: Arc<ProxyStats>,
    log: Arc<Log>,
) -> std::io::Result<SyncSender<()>> {
    let (hangup, hangups) = sync_channel(1);
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            while hangups.recv().is_ok() {
                match reload(&load, &current, &stats) {
                    Ok(line) => log.line(&line),
                    Err(line) => log.line(&line),
                }
            }
        })?;
    Ok(hangup)
}
