//! What the cache shows outside a session, to the admin listener: its `stats` groups as
//! the same `STAT` lines a client reads, its per-worker command counters, and the latency
//! histograms, all read from the live counters (nothing is kept for the admin's sake).

use super::command_kind;
use super::latency;
use super::service::Cache;
use super::stats::{self, Sources};
use crate::runtime::{Histogram, RuntimeStats};
use std::sync::atomic::Ordering::Relaxed;

impl Cache {
    /// The `STAT <name> <value>\r\n` lines of `stats <group>` (`""` is plain `stats`),
    /// without `END`; None for a group that only acts (`reset`, `detail on`) or that the
    /// cache does not have.
    pub fn stats_lines(&self, group: &str, runtime: &RuntimeStats) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        match group {
            "" => {
                let tier = self.tier.as_ref();
                let reads = tier.map(|t| t.counters.named());
                let engine = tier.map(|t| t.disk.stats().named());
                let ext = reads.as_ref().zip(engine.as_ref());
                stats::write_general(
                    &mut out,
                    &Sources {
                        cache: &self.stats,
                        runtime,
                        config: &self.config,
                        store: self.store,
                        log: &self.log,
                        ext: ext.map(|(r, e)| (&r[..], &e[..])),
                    },
                )
            }
            "settings" => {
                let ext = self.knobs.settings_lines(self.tier.as_ref());
                stats::write_settings(&mut out, &self.stats.detail, &self.config, self.store, &ext)
            }
            "items" => stats::write_items(&mut out, self.store),
            "slabs" => stats::write_slabs(&mut out, self.store, self.stats.totals().cmd_set),
            "latency" => latency::write(&mut out, runtime, command_kind::NAMES),
            "extstore" => match &self.tier {
                Some(tier) => stats::write_pages(&mut out, &tier.disk.page_data()),
                None => return None,
            },
            _ => return None,
        }
        Some(out)
    }

    /// Each command's latency histogram, summed over the workers, by name.
    pub fn latency(&self, runtime: &RuntimeStats) -> Vec<(&'static str, Histogram)> {
        latency::summed(runtime, command_kind::NAMES)
    }

    /// Worker `worker`'s command counters (`cmd_get`, `cmd_set`, ...), by the name of
    /// the command they count.
    pub fn worker_commands(&self, worker: usize) -> Vec<(&'static str, u64)> {
        let Some(c) = self.stats.workers.get(worker) else {
            return Vec::new();
        };
        vec![
            ("get", c.cmd_get.load(Relaxed)),
            ("set", c.cmd_set.load(Relaxed)),
            ("flush", c.cmd_flush.load(Relaxed)),
            ("touch", c.cmd_touch.load(Relaxed)),
            ("meta", c.cmd_meta.load(Relaxed)),
        ]
    }
}
