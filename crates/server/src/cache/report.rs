//! `stats` groups: what each one reports or does, written once for the text command
//! (`stats <group>`) and the binary STAT request (key `<group>`), which only differ in
//! how they name a group and frame its lines.

use super::latency;
use super::state::Cx;
use super::stats::{self, Sources};
use protocol::text;

/// A `stats` group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    General,
    Settings,
    Reset,
    Conns,
    Items,
    Slabs,
    Sizes,
    Latency,
    DetailOn,
    DetailOff,
    DetailDump,
    /// The disk tier's pages.
    Extstore,
}

impl Group {
    /// The group `stats <args>` names, or the line memcached answers instead.
    pub(crate) fn of_text(mut args: text::Keys<'_>, cx: &Cx<'_>) -> Result<Group, &'static [u8]> {
        Ok(match args.next() {
            None => Group::General,
            Some(b"settings") => Group::Settings,
            Some(b"reset") => Group::Reset,
            Some(b"conns") => Group::Conns,
            Some(b"items") => Group::Items,
            Some(b"slabs") => Group::Slabs,
            Some(b"sizes") => Group::Sizes,
            Some(b"extstore") => Group::Extstore,
            Some(b"latency") => Group::Latency,
            Some(b"cachedump") if !cx.config().dump_enabled => {
                return Err(text::CLIENT_ERROR_CACHEDUMP_NOT_ALLOWED)
            }
            Some(b"detail") => match args.next() {
                Some(b"on") => Group::DetailOn,
                Some(b"off") => Group::DetailOff,
                Some(b"dump") => Group::DetailDump,
                _ => return Err(text::CLIENT_ERROR_STATS_DETAIL_USAGE),
            },
            Some(_) => return Err(text::ERROR),
        })
    }

    /// The group a binary STAT key names, matched as memcached matches it (prefixes for
    /// reset, settings and detail); None: key not found.
    pub(crate) fn of_binary(key: &[u8]) -> Option<Group> {
        if key.is_empty() {
            return Some(Group::General);
        }
        if key.starts_with(b"reset") {
            return Some(Group::Reset);
        }
        if key.starts_with(b"settings") {
            return Some(Group::Settings);
        }
        if let Some(sub) = key.strip_prefix(b"detail") {
            return if sub.starts_with(b" dump") {
                Some(Group::DetailDump)
            } else if sub.starts_with(b" on") {
                Some(Group::DetailOn)
            } else if sub.starts_with(b" off") {
                Some(Group::DetailOff)
            } else {
                None
            };
        }
        match key {
            b"items" => Some(Group::Items),
            b"slabs" => Some(Group::Slabs),
            b"sizes" => Some(Group::Sizes),
            b"latency" => Some(Group::Latency),
            _ => None,
        }
    }

    /// Does what the group asks and appends its lines: `STAT <name> <value>\r\n` lines,
    /// or for [`Group::DetailDump`] `PREFIX` lines; nothing for the groups that only act
    /// (reset, detail on and off). Never the final `END`.
    pub(crate) fn write(self, out: &mut Vec<u8>, cx: &Cx<'_>) {
        let cache = cx.service();
        match self {
            Group::General => {
                let tier = cache.tier.as_ref();
                let reads = tier.map(|t| t.counters.named());
                let engine = tier.map(|t| t.disk.stats().named());
                let ext = reads.as_ref().zip(engine.as_ref());
                stats::write_general(
                    out,
                    &Sources {
                        cache: &cache.stats,
                        runtime: cx.runtime(),
                        config: cx.config(),
                        store: cache.store,
                        log: &cache.log,
                        ext: ext.map(|(r, e)| (&r[..], &e[..])),
                    },
                )
            }
            Group::Settings => {
                let ext = cache.knobs.settings_lines(cache.tier.as_ref());
                stats::write_settings(out, &cache.stats.detail, cx.config(), cache.store, &ext)
            }
            Group::Reset => {
                cache.stats.reset();
                cache.stats.detail.clear();
                cx.runtime().reset();
                cache.store.reset_stats();
                cache.log.reset();
                if let Some(tier) = &cache.tier {
                    tier.counters.reset();
                }
            }
            Group::Extstore => {
                if let Some(tier) = &cache.tier {
                    stats::write_pages(out, &tier.disk.page_data());
                }
            }
            Group::Conns => write_conns(out, cx),
            Group::Items => stats::write_items(out, cache.store),
            Group::Slabs => stats::write_slabs(out, cache.store, cache.stats.totals().cmd_set),
            Group::Sizes => out.extend_from_slice(text::STATS_SIZES_DISABLED),
            Group::Latency => {
                use crate::runtime::Service as _;
                latency::write(out, cx.runtime(), cache.commands())
            }
            Group::DetailOn => cache.stats.detail.set_enabled(true),
            Group::DetailOff => cache.stats.detail.set_enabled(false),
            Group::DetailDump => cache.stats.detail.dump(out),
        }
    }
}

/// `stats conns` as memcached lists it, by descriptor: listening sockets, each worker's
/// UDP sockets, and clients with the socket they came in on. Sockets that take no
/// commands show the time since the server started, as memcached's do.
fn write_conns(out: &mut Vec<u8>, cx: &Cx<'_>) {
    use stats::ConnEntry;
    let cache = cx.service();
    let runtime = cx.runtime();
    let now = cache.store.now();
    let uptime = runtime.uptime().as_secs();
    let clients = cx.connections();
    let udp = cache
        .udp_conns
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let me = cx.id();
    let mut entries: Vec<(i64, ConnEntry<'_>, u64)> = Vec::new();
    for l in &runtime.listeners {
        entries.push((l.fd, ConnEntry::Listening { addr: &l.addr }, uptime));
    }
    for (fd, addr) in &udp {
        entries.push((*fd, ConnEntry::Udp { addr }, uptime));
    }
    for c in &clients {
        // The connection asking is in the middle of its command, as memcached shows it.
        let asking = me == Some(c.id) && c.worker == cx.worker();
        let state = if asking {
            "conn_parse_cmd"
        } else {
            memcached_state(c.state())
        };
        let idle = now.saturating_sub(c.last_cmd.load(std::sync::atomic::Ordering::Relaxed));
        let entry = ConnEntry::Client {
            addr: &c.addr,
            listen_addr: &c.listen_addr,
            state,
        };
        entries.push((c.fd, entry, idle));
    }
    entries.sort_by_key(|(fd, _, _)| *fd);
    for (fd, entry, idle) in &entries {
        stats::write_conn(out, *fd, entry, *idle);
    }
}

/// memcached's name for where a connection stands.
fn memcached_state(state: crate::runtime::ConnState) -> &'static str {
    use crate::runtime::ConnState;
    match state {
        ConnState::New => "conn_new_cmd",
        ConnState::Reading => "conn_read",
        ConnState::ReadingValue => "conn_nread",
        ConnState::Swallowing => "conn_swallow",
        ConnState::Writing => "conn_mwrite",
        ConnState::Parked => "conn_io_queue",
        ConnState::Closing => "conn_closing",
    }
}
