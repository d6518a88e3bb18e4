//! The disk tier's `ext_*` keys: read as memcached reads them (its messages, its order
//! rules) and kept in order for the server (`server::disk_tier::options`).

use super::value::fail;
use crate::settings::builder::Builder;
use crate::settings::error::SettingsError;
use crate::settings::model::Settings;
use crate::settings::options::{extended, text_value, Given, Kind, Opt, Value};

/// A disk-tier key: read as memcached reads it (its messages, its order rules), kept in
/// order for the server (`server::disk_tier::options`).
fn ext(b: &mut Builder, key: &'static str, g: Given<'_>) -> Result<(), SettingsError> {
    let value = g.extended();
    b.ext.apply(key, value).map_err(fail)?;
    b.settings
        .ext
        .push((key.to_string(), value.map(str::to_string)));
    Ok(())
}

/// A disk-tier key's value for `--print-config`: the last one given, written as a config
/// file takes a value of its kind (a number as a number).
fn ext_show(s: &Settings, key: &str, kind: Kind) -> Option<Value> {
    s.ext
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| match v {
            Some(v) => {
                let number = match kind {
                    Kind::Int => v.trim().parse().ok().map(Value::Integer),
                    Kind::Float => v.trim().parse().ok().map(Value::Float),
                    _ => None,
                };
                number.unwrap_or_else(|| text_value(v.clone()))
            }
            None => Value::Boolean(true),
        })
}

/// A disk-tier key other than `ext_path`.
macro_rules! ext {
    ($key:literal, $kind:expr, $arg:literal, $help:literal) => {
        extended($key, $kind, $arg, $help, |b, g| ext(b, $key, g))
            .show(|s| ext_show(s, $key, $kind))
    };
}

/// The `ext_*` entries, in the order memcached reads them.
pub(super) const DISK_TIER: &[Opt] = &[
    // Before ext_path: memcached refuses a page size given after a path, and
    // --print-config prints in this order.
    ext!("ext_page_size", Kind::Int, "<mb>", "disk tier page size (64)"),
    ext!("ext_wbuf_size", Kind::Int, "<mb>", "disk tier write-buffer size (4)"),
    extended(
        "ext_path",
        Kind::Text,
        "<file:size>",
        "disk tier (extstore) file and the size of it to use; repeatable",
        |b, g| ext(b, "ext_path", g),
    )
    .note("`FILE:SIZE[:BUCKET]`, size with m, g, t or p; files pool their pages; locked so a second server cannot use one (docs/disk.md)")
    .show(|s| ext_show(s, "ext_path", Kind::Text))
    .reset(|b| {
        b.settings.ext.retain(|(k, _)| k != "ext_path");
        b.ext.clear_paths();
    }),
    ext!("ext_threads", Kind::Int, "<num>", "disk tier IO threads (4)"),
    ext!("ext_io_depth", Kind::Int, "<num>", "accepted for memcached's command lines; unused"),
    ext!("ext_item_size", Kind::Int, "<bytes>", "only larger values go to disk (512)"),
    ext!("ext_item_age", Kind::Int, "<secs>", "values idle this long go to disk without memory pressure (never)"),
    ext!("ext_low_ttl", Kind::Int, "<secs>", "values with less TTL left share pages of their own (0)"),
    ext!("ext_recache_rate", Kind::Int, "<num>", "one in N repeated disk hits returns to RAM (2000)"),
    ext!("ext_compact_under", Kind::Int, "<pages>", "compact when fewer pages are free (a quarter)"),
    ext!("ext_drop_under", Kind::Int, "<pages>", "drop unread values when fewer pages are free (a quarter)"),
    ext!("ext_max_sleep", Kind::Int, "<us>", "longest sleep of the disk tier's background threads (1000000)"),
    ext!("ext_max_frag", Kind::Float, "<num>", "pages less live than this are compacted (0.80)"),
    ext!("ext_drop_unread", Kind::Switch, "", "compaction drops values not read since they went to disk"),
    ext!("ext_read_mem", Kind::Int, "<mb>", "disk tier read buffers held at most; reads past it are misses, get_oom_extstore (64)"),
];
