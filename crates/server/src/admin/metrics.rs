//! `/metrics`: the server's counters in the Prometheus (OpenMetrics) text format, encoded
//! by `prometheus_client` from the live counters at each scrape (a [`Collector`]; nothing
//! is registered or updated on the request path).
//!
//! Names are `corvid_` and memcached's `stats` name, with the unit in the name and
//! `_total` on counters, as Prometheus asks: `bytes_read` is `corvid_read_bytes_total`,
//! `uptime` is `corvid_uptime_seconds`, `time_in_listen_disabled_us` is
//! `corvid_listen_disabled_seconds_total` (converted). [`GENERAL`] is the whole
//! mapping; a `stats` name it does not know (a counter added later) is exported as a
//! gauge `corvid_<name>`, so nothing `stats` shows is missing. Besides `stats`:
//!
//! - per worker thread, label `worker`: bytes read and written, connections taken on,
//!   yields, idle kicks, stale completions, pooled buffers lent, and the command
//!   counters (`corvid_worker_commands_total{command="get"}`, ...);
//! - per listening socket, label `listener` (`tcp:0.0.0.0:11211`): connections
//!   accepted, refused over `-c`, and open now;
//! - `corvid_command_duration_seconds{command="get"}`: the latency histograms (from the
//!   server starting on a request to its reply handed to the kernel), summed over the
//!   workers, buckets at powers of two of microseconds.

use super::json::stat_pairs;
use crate::cache::Cache;
use crate::runtime::latency::bucket_bound_us;
use crate::runtime::RuntimeStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// What a `stats` value is to Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (until `stats reset` or a restart).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Not exported (`pid`, `time`: not metrics; `version`: `corvid_build_info`).
    Skip,
}

/// How one `stats` name is exported.
#[derive(Debug, Clone, Copy)]
pub struct Export {
    /// memcached's `stats` name.
    pub stat: &'static str,
    /// The metric's name (counters without `_total`, which the encoder adds).
    pub metric: &'static str,
    /// Its type.
    pub kind: Kind,
    /// The value is multiplied by this (microseconds to seconds).
    pub scale: f64,
    /// The `# HELP` text.
    pub help: &'static str,
}

const fn c(stat: &'static str, metric: &'static str, help: &'static str) -> Export {
    Export {
        stat,
        metric,
        kind: Kind::Counter,
        scale: 1.0,
        help,
    }
}

const fn g(stat: &'static str, metric: &'static str, help: &'static str) -> Export {
    Export {
        stat,
        metric,
        kind: Kind::Gauge,
        scale: 1.0,
        help,
    }
}

const fn skip(stat: &'static str) -> Export {
    Export {
        stat,
        metric: "",
        kind: Kind::Skip,
        scale: 1.0,
        help: "",
    }
}

/// Every general `stats` name memcached 1.6.18 lists, and its metric.
#[rustfmt::skip]
pub const GENERAL: &[Export] = &[
    skip("pid"),
    g("uptime", "corvid_uptime_seconds", "Seconds since the server started."),
    skip("time"),
    skip("version"),
    skip("libevent"),
    skip("pointer_size"),
    c("rusage_user", "corvid_cpu_user_seconds", "User CPU time of the process."),
    c("rusage_system", "corvid_cpu_system_seconds", "System CPU time of the process."),
    g("max_connections", "corvid_max_connections", "Most connections open at once (-c)."),
    g("curr_connections", "corvid_curr_connections", "Open connections (UDP sockets included, as memcached counts them)."),
    c("total_connections", "corvid_connections_opened", "Connections opened since start."),
    c("rejected_connections", "corvid_connections_rejected", "Connections refused over -c."),
    g("connection_structures", "corvid_connection_structures", "Connection structures allocated."),
    c("response_obj_oom", "corvid_response_obj_oom", "Response objects that could not be allocated."),
    g("response_obj_count", "corvid_response_objects", "Response objects allocated."),
    g("response_obj_bytes", "corvid_response_obj_bytes", "Bytes of response objects."),
    g("read_buf_count", "corvid_read_buffers", "Read buffers allocated."),
    g("read_buf_bytes", "corvid_read_buf_bytes", "Bytes of read buffers."),
    g("read_buf_bytes_free", "corvid_read_buf_free_bytes", "Bytes of idle read buffers."),
    c("read_buf_oom", "corvid_read_buf_oom", "Read buffers that could not be allocated."),
    g("reserved_fds", "corvid_reserved_fds", "Descriptors reserved for the server's own use."),
    c("cmd_get", "corvid_cmd_get", "Keys looked up (get, gets, mg, binary GET...)."),
    c("cmd_set", "corvid_cmd_set", "Storage commands whose value was read."),
    c("cmd_flush", "corvid_cmd_flush", "flush_all commands."),
    c("cmd_touch", "corvid_cmd_touch", "Touches (touch, gat keys)."),
    c("cmd_meta", "corvid_cmd_meta", "me commands."),
    c("get_hits", "corvid_get_hits", "Lookups that found their key."),
    c("get_misses", "corvid_get_misses", "Lookups that missed."),
    c("get_expired", "corvid_get_expired", "Lookups that found their key expired."),
    c("get_flushed", "corvid_get_flushed", "Lookups that found their key flushed."),
    c("delete_misses", "corvid_delete_misses", "Deletes of missing keys."),
    c("delete_hits", "corvid_delete_hits", "Deletes that removed an item."),
    c("incr_misses", "corvid_incr_misses", "incr of missing keys."),
    c("incr_hits", "corvid_incr_hits", "incr that changed an item."),
    c("decr_misses", "corvid_decr_misses", "decr of missing keys."),
    c("decr_hits", "corvid_decr_hits", "decr that changed an item."),
    c("cas_misses", "corvid_cas_misses", "cas of missing keys."),
    c("cas_hits", "corvid_cas_hits", "cas that stored."),
    c("cas_badval", "corvid_cas_badval", "cas refused: the CAS value did not match."),
    c("touch_hits", "corvid_touch_hits", "Touches of live items."),
    c("touch_misses", "corvid_touch_misses", "Touches of missing keys."),
    c("store_too_large", "corvid_store_too_large", "Values refused: larger than -I."),
    c("store_no_memory", "corvid_store_no_memory", "Values refused: no memory (-M)."),
    c("auth_cmds", "corvid_auth_cmds", "Authentication attempts."),
    c("auth_errors", "corvid_auth_errors", "Failed authentication attempts."),
    c("bytes_read", "corvid_read_bytes", "Bytes read from clients."),
    c("bytes_written", "corvid_written_bytes", "Bytes written to clients."),
    g("limit_maxbytes", "corvid_limit_bytes", "Item memory (-m), in bytes."),
    g("accepting_conns", "corvid_accepting_conns", "1 while accepting connections."),
    c("listen_disabled_num", "corvid_listen_disabled", "Times accepting stopped at the connection limit."),
    Export {
        stat: "time_in_listen_disabled_us",
        metric: "corvid_listen_disabled_seconds",
        kind: Kind::Counter,
        scale: 1e-6,
        help: "Time spent not accepting at the connection limit.",
    },
    g("threads", "corvid_threads", "Worker threads (-t)."),
    c("conn_yields", "corvid_conn_yields", "Times a connection yielded after -R requests."),
    c("idle_kicks", "corvid_idle_kicks", "Connections closed for idling past idle_timeout."),
    g("hash_power_level", "corvid_hash_power_level", "memcached's hash table size, log 2 (0: no such table)."),
    g("hash_bytes", "corvid_hash_bytes", "Bytes of memcached's hash table (0: no such table)."),
    g("hash_is_expanding", "corvid_hash_is_expanding", "1 while memcached's hash table grows."),
    c("slab_reassign_rescues", "corvid_slab_reassign_rescues", "Slab reassignment rescues (no slabs here: 0)."),
    c("slab_reassign_chunk_rescues", "corvid_slab_reassign_chunk_rescues", "Slab reassignment chunk rescues (0)."),
    c("slab_reassign_evictions_nomem", "corvid_slab_reassign_evictions_nomem", "Slab reassignment evictions (0)."),
    c("slab_reassign_inline_reclaim", "corvid_slab_reassign_inline_reclaim", "Slab reassignment inline reclaims (0)."),
    c("slab_reassign_busy_items", "corvid_slab_reassign_busy_items", "Slab reassignment busy items (0)."),
    c("slab_reassign_busy_deletes", "corvid_slab_reassign_busy_deletes", "Slab reassignment busy deletes (0)."),
    g("slab_reassign_running", "corvid_slab_reassign_running", "1 while a slab page moves (0)."),
    c("slabs_moved", "corvid_slabs_moved", "Slab pages moved (0)."),
    g("lru_crawler_running", "corvid_lru_crawler_running", "1 while the LRU crawler runs."),
    c("lru_crawler_starts", "corvid_lru_crawler_starts", "LRU crawler runs."),
    c("lru_maintainer_juggles", "corvid_lru_maintainer_juggles", "LRU maintainer passes."),
    c("malloc_fails", "corvid_malloc_fails", "Failed allocations."),
    c("log_worker_dropped", "corvid_log_worker_dropped", "watch log lines dropped by workers (buffer full)."),
    c("log_worker_written", "corvid_log_worker_written", "watch log lines written by workers."),
    c("log_watcher_skipped", "corvid_log_watcher_skipped", "watch log lines a slow watcher missed."),
    c("log_watcher_sent", "corvid_log_watcher_sent", "watch log lines sent to watchers."),
    g("log_watchers", "corvid_log_watchers", "Connections watching logs."),
    c("unexpected_napi_ids", "corvid_unexpected_napi_ids", "Unexpected NAPI ids (0)."),
    c("round_robin_fallback", "corvid_round_robin_fallback", "NAPI round-robin fallbacks (0)."),
    g("bytes", "corvid_stored_bytes", "Bytes of the items stored (memcached's item sizes)."),
    g("curr_items", "corvid_curr_items", "Items stored."),
    c("total_items", "corvid_items_stored", "Items stored since start."),
    g("slab_global_page_pool", "corvid_slab_global_page_pool", "Free slab pages (0)."),
    c("expired_unfetched", "corvid_expired_unfetched", "Items reclaimed expired, never fetched."),
    c("evicted_unfetched", "corvid_evicted_unfetched", "Items evicted, never fetched."),
    c("evicted_active", "corvid_evicted_active", "Items evicted although read since last kept."),
    c("evictions", "corvid_evictions", "Items evicted to make room."),
    c("reclaimed", "corvid_reclaimed", "Expired or flushed items whose memory was reused."),
    c("crawler_reclaimed", "corvid_crawler_reclaimed", "Items the LRU crawler reclaimed."),
    c("crawler_items_checked", "corvid_crawler_items_checked", "Items the LRU crawler looked at."),
    c("lrutail_reflocked", "corvid_lrutail_reflocked", "LRU tail items found in use."),
    c("moves_to_cold", "corvid_moves_to_cold", "Items moved to the cold LRU."),
    c("moves_to_warm", "corvid_moves_to_warm", "Items moved to the warm LRU."),
    c("moves_within_lru", "corvid_moves_within_lru", "Items bumped within an LRU."),
    c("direct_reclaims", "corvid_direct_reclaims", "Reclaims done by workers."),
    c("lru_bumps_dropped", "corvid_lru_bumps_dropped", "LRU bumps dropped."),
];

/// The collector registered with the admin listener's registry.
pub struct Metrics {
    cache: Arc<Cache>,
    runtime: Arc<RuntimeStats>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Metrics of this cache and runtime.
    pub fn new(cache: Arc<Cache>, runtime: Arc<RuntimeStats>) -> Metrics {
        Metrics { cache, runtime }
    }
}

/// A `stats` value: whole numbers stay whole (`5`, not `5.0`), the rest are floats.
#[derive(Debug, Clone, Copy)]
enum Sample {
    Whole(u64),
    Real(f64),
}

impl Sample {
    /// `text` read as a number and multiplied by `scale`; None if it is not a number.
    fn read(text: &str, scale: f64) -> Option<Sample> {
        match text.parse::<u64>() {
            Ok(n) if scale == 1.0 => Some(Sample::Whole(n)),
            _ => text.parse::<f64>().ok().map(|v| Sample::Real(v * scale)),
        }
    }
}

/// Writes one unlabelled counter or gauge.
fn single(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: Kind,
    value: Sample,
) -> fmt::Result {
    let mtype = match kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Skip => return Ok(()),
    };
    let e = e.encode_descriptor(name, help, None, mtype)?;
    match (kind, value) {
        (Kind::Counter, Sample::Whole(n)) => ConstCounter::new(n).encode(e),
        (Kind::Counter, Sample::Real(v)) => ConstCounter::new(v).encode(e),
        (_, Sample::Whole(n)) => ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX)).encode(e),
        (_, Sample::Real(v)) => ConstGauge::new(v).encode(e),
    }
}

/// Writes a counter with one value per label value.
fn counters(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (String, u64)>,
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (key, value) in values {
        let labels = [(label, key.as_str())];
        family
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}

/// Writes a gauge with one value per label value.
fn gauges(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (String, u64)>,
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (key, value) in values {
        let labels = [(label, key.as_str())];
        family.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

impl Collector for Metrics {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let runtime = &*self.runtime;
        let general = self.cache.stats_lines("", runtime).unwrap_or_default();
        let mut version = None;
        for (stat, text) in stat_pairs(&general) {
            if stat == "version" {
                version = Some(text.to_string());
            }
            let export = GENERAL.iter().find(|x| x.stat == stat);
            let Some(value) = Sample::read(text, export.map_or(1.0, |x| x.scale)) else {
                continue;
            };
            match export {
                Some(x) => single(&mut e, x.metric, x.help, x.kind, value)?,
                None => {
                    let name = format!("corvid_{stat}");
                    let help = format!("memcached's stats {stat}.");
                    single(&mut e, &name, &help, Kind::Gauge, value)?
                }
            }
        }
        if let Some(version) = version {
            let mut family = e.encode_descriptor(
                "corvid_build_info",
                "The version `version` answers; always 1.",
                None,
                MetricType::Gauge,
            )?;
            let labels = [("version", version.as_str())];
            family.encode_family(&labels)?.encode_gauge(&1u64)?;
        }
        self.workers(&mut e)?;
        self.listeners(&mut e)?;
        self.latency(&mut e)
    }
}

impl Metrics {
    fn workers(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let workers = &self.runtime.workers;
        let each = |f: fn(&crate::runtime::WorkerCounters) -> &std::sync::atomic::AtomicU64| {
            workers
                .iter()
                .enumerate()
                .map(move |(i, w)| (i.to_string(), f(w).load(Relaxed)))
        };
        counters(
            e,
            "corvid_worker_read_bytes",
            "Bytes read from clients, per worker.",
            "worker",
            each(|w| &w.bytes_read),
        )?;
        counters(
            e,
            "corvid_worker_written_bytes",
            "Bytes written to clients, per worker.",
            "worker",
            each(|w| &w.bytes_written),
        )?;
        counters(
            e,
            "corvid_worker_connections_opened",
            "Connections taken on, per worker.",
            "worker",
            each(|w| &w.total_connections),
        )?;
        counters(
            e,
            "corvid_worker_conn_yields",
            "Yields after -R requests, per worker.",
            "worker",
            each(|w| &w.conn_yields),
        )?;
        counters(
            e,
            "corvid_worker_idle_kicks",
            "Connections closed for idling, per worker.",
            "worker",
            each(|w| &w.idle_kicks),
        )?;
        counters(
            e,
            "corvid_worker_stale_completions",
            "Completions for connections gone meanwhile, per worker.",
            "worker",
            each(|w| &w.stale_completions),
        )?;
        gauges(
            e,
            "corvid_worker_buffers_lent",
            "Pooled buffers held by connections, per worker.",
            "worker",
            each(|w| &w.buffers_lent),
        )?;
        let mut family = e.encode_descriptor(
            "corvid_worker_commands",
            "Commands, as cmd_get, cmd_set... count them, per worker.",
            None,
            MetricType::Counter,
        )?;
        for i in 0..workers.len() {
            let worker = i.to_string();
            for (command, value) in self.cache.worker_commands(i) {
                let labels = [("worker", worker.as_str()), ("command", command)];
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            }
        }
        Ok(())
    }

    fn listeners(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let listeners = &self.runtime.listeners;
        let each = |f: fn(&crate::runtime::ListenerStats) -> &std::sync::atomic::AtomicU64| {
            listeners
                .iter()
                .map(move |l| (l.addr.clone(), f(l).load(Relaxed)))
        };
        counters(
            e,
            "corvid_listener_connections_accepted",
            "Connections accepted, per listening socket.",
            "listener",
            each(|l| &l.accepted),
        )?;
        counters(
            e,
            "corvid_listener_connections_rejected",
            "Connections refused over -c, per listening socket.",
            "listener",
            each(|l| &l.rejected),
        )?;
        gauges(
            e,
            "corvid_listener_connections",
            "Connections open, per listening socket.",
            "listener",
            each(|l| &l.open),
        )
    }

    fn latency(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let mut family = e.encode_descriptor(
            "corvid_command_duration_seconds",
            "From starting on a request to handing its reply to the kernel, per command.",
            None,
            MetricType::Histogram,
        )?;
        for (command, h) in self.cache.latency(&self.runtime) {
            let count = h.count();
            if count == 0 {
                continue;
            }
            let buckets: Vec<(f64, u64)> = h
                .counts
                .iter()
                .enumerate()
                .map(|(k, &n)| match bucket_bound_us(k) {
                    Some(us) => (us as f64 * 1e-6, n),
                    None => (f64::MAX, n),
                })
                .collect();
            let labels = [("command", command)];
            family
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(h.sum_ns as f64 * 1e-9, count, &buckets, None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_conventional() {
        let mut seen = std::collections::HashSet::new();
        for x in GENERAL {
            assert!(seen.insert(x.stat), "{} twice", x.stat);
            if x.kind == Kind::Skip {
                continue;
            }
            assert!(x.metric.starts_with("corvid_"), "{}", x.metric);
            assert!(
                !x.metric.ends_with("_total"),
                "{}: the encoder adds _total",
                x.metric
            );
            for suffix in ["_count", "_sum", "_bucket"] {
                assert!(!x.metric.ends_with(suffix), "{}: reserved suffix", x.metric);
            }
        }
    }
}
