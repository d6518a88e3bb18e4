//! `-o key=value,key2,...`: memcached's extended options. Every key memcached 1.6.18
//! accepts is accepted here (so its init scripts start Corvid), values memcached checks
//! are checked with its messages, the keys Corvid uses are applied, and the rest leave
//! one warning line each. A key memcached does not know is an error, as there.

use super::{Builder, SettingsError};

/// memcached exits 1 for every `-o` mistake found while reading the list.
fn fail(message: impl Into<String>) -> SettingsError {
    SettingsError::new(message, 1)
}

fn need<'v>(value: Option<&'v str>, missing: &str) -> Result<&'v str, SettingsError> {
    value.ok_or_else(|| fail(missing))
}

fn whole<T: std::str::FromStr>(value: &str, key: &str) -> Result<T, SettingsError> {
    value
        .parse()
        .map_err(|_| fail(format!("could not parse argument to {key}")))
}

fn real(value: &str, key: &str) -> Result<f64, SettingsError> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(fail(format!("could not parse argument to {key}"))),
    }
}

/// Keys memcached takes without a value and that change nothing Corvid does.
const FLAG_KEYS: &[&str] = &[
    "no_hashexpand",
    "slab_reassign",
    "no_slab_reassign",
    "no_slab_automove",
    "lru_crawler",
    "no_lru_crawler",
    "track_sizes",
    "inline_ascii_resp",
    "no_inline_ascii_resp",
    "no_modern",
    "no_chunked_items",
    "drop_privileges",
    "no_drop_privileges",
    "ssl_session_cache",
    "ssl_kernel_tls",
    "ext_drop_unread",
];

/// Keys memcached requires a whole-number value for, reporting a missing value as
/// "Missing <key> argument" and a bad one as "could not parse argument to <key>".
const NUMBER_KEYS: &[&str] = &[
    "watcher_logbuf_size",
    "worker_logbuf_size",
    "read_buf_mem_limit",
    "ssl_wbuf_size",
    "ssl_keyformat",
    "ext_page_size",
    "ext_wbuf_size",
    "ext_threads",
    "ext_io_depth",
    "ext_item_size",
    "ext_item_age",
    "ext_low_ttl",
    "ext_recache_rate",
    "ext_compact_under",
    "ext_drop_under",
    "ext_max_sleep",
];

/// Keys whose value is free text Corvid does not look at.
const TEXT_KEYS: &[&str] = &[
    "ssl_chain_cert",
    "ssl_key",
    "ssl_ciphers",
    "ssl_ca_cert",
    "slab_sizes",
    "sock_cookie_id",
];

impl Builder {
    /// Applies one `-o` argument: a comma-separated list of `key` or `key=value`.
    pub(super) fn extended(&mut self, list: &str) -> Result<(), SettingsError> {
        // As getsubopt: a trailing comma ends the list, an empty item is an unknown key.
        let mut rest = list;
        while !rest.is_empty() {
            let (item, next) = rest.split_once(',').unwrap_or((rest, ""));
            rest = next;
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            self.extended_key(item, key, value)?;
        }
        Ok(())
    }

    fn ignored(&mut self, key: &str) {
        self.warn(format!("-o {key}: not used by corvid; ignored"));
    }

    fn extended_key(
        &mut self,
        item: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), SettingsError> {
        match key {
            "idle_timeout" => {
                let v = need(value, "Missing numeric argument for idle_timeout")?;
                self.settings.idle_timeout = whole(v, key)?;
            }
            "maxconns_fast" => self.settings.maxconns_fast = true,
            "no_maxconns_fast" => self.settings.maxconns_fast = false,
            // A no-op in memcached 1.6.18 as well.
            "modern" => {}
            "slab_chunk_max" => {
                let v = need(value, "Missing slab_chunk_max argument")?;
                let n: i64 = whole(v, key)?;
                if n <= 0 {
                    // memcached divides by it and crashes; say why instead.
                    return Err(fail("slab_chunk_max must be greater than 0"));
                }
                // Kept only to apply memcached's -I rules, which are stated against it.
                self.slab_chunk_max = n;
                self.ignored(key);
            }
            "hashpower" => {
                let v = need(value, "Missing numeric argument for hashpower")?;
                let n: i64 = whole(v, key)?;
                if n < 12 {
                    return Err(fail(format!(
                        "Initial hashtable multiplier of {n} is too low"
                    )));
                }
                if n > 32 {
                    return Err(fail(format!(
                        "Initial hashtable multiplier of {n} is too high"
                    )));
                }
                self.ignored(key);
            }
            "tail_repair_time" => {
                let v = need(value, "Missing numeric argument for tail_repair_time")?;
                let n: i64 = whole(v, key)?;
                if n < 10 {
                    return Err(fail("Cannot set tail_repair_time to less than 10 seconds"));
                }
                self.ignored(key);
            }
            "hash_algorithm" => {
                let v = need(value, "Missing hash_algorithm argument")?;
                if !matches!(v, "jenkins" | "murmur3" | "xxh3") {
                    return Err(fail(
                        "Unknown hash_algorithm option (jenkins, murmur3, xxh3)",
                    ));
                }
                self.ignored(key);
            }
            "lru_crawler_sleep" => {
                let v = need(value, "Missing lru_crawler_sleep value")?;
                match v.parse::<i64>() {
                    Ok(n) if (0..=1_000_000).contains(&n) => {}
                    _ => return Err(fail("LRU crawler sleep must be between 0 and 1 second")),
                }
                self.ignored(key);
            }
            "lru_crawler_tocrawl" => {
                let v = need(value, "Missing lru_crawler_tocrawl value")?;
                if v.parse::<u32>().is_err() {
                    return Err(fail("lru_crawler_tocrawl takes a numeric 32bit value"));
                }
                self.ignored(key);
            }
            "lru_maintainer" => {
                self.lru_maintainer = true;
                self.ignored(key);
            }
            "no_lru_maintainer" => {
                self.lru_maintainer = false;
                self.ignored(key);
            }
            "hot_lru_pct" | "warm_lru_pct" => {
                let v = need(value, &format!("Missing {key} argument"))?;
                let n = match v.parse::<i64>() {
                    Ok(n) if (1..80).contains(&n) => n,
                    _ => return Err(fail(format!("{key} must be > 1 and < 80"))),
                };
                if key == "hot_lru_pct" {
                    self.hot_lru_pct = n;
                } else {
                    self.warm_lru_pct = n;
                }
                self.ignored(key);
            }
            "hot_max_factor" | "warm_max_factor" => {
                let v = need(value, &format!("Missing {key} argument"))?;
                match v.parse::<f64>() {
                    Ok(f) if f > 0.0 => {}
                    _ => return Err(fail(format!("{key} must be > 0"))),
                }
                self.ignored(key);
            }
            "temporary_ttl" => {
                let v = need(value, "Missing temporary_ttl argument")?;
                let _: i64 = whole(v, key)?;
                self.temporary_ttl = true;
                self.ignored(key);
            }
            "slab_automove" => {
                // Without a value memcached turns it on (1).
                if let Some(v) = value {
                    match v.parse::<i64>() {
                        Ok(n) if (0..=2).contains(&n) => {}
                        _ => return Err(fail("slab_automove must be between 0 and 2")),
                    }
                }
                self.ignored(key);
            }
            "slab_automove_ratio" => {
                let v = need(value, "Missing slab_automove_ratio argument")?;
                match v.parse::<f64>() {
                    Ok(f) if f > 0.0 && f <= 1.0 => {}
                    _ => return Err(fail("slab_automove_ratio must be > 0 and < 1")),
                }
                self.ignored(key);
            }
            "slab_automove_window" => {
                let v = need(value, "Missing slab_automove_window argument")?;
                match v.parse::<i64>() {
                    Ok(n) if n > 2 => {}
                    _ => return Err(fail("slab_automove_window must be > 2")),
                }
                self.ignored(key);
            }
            "ssl_verify_mode" | "ssl_min_version" => {
                let v = need(value, &format!("Missing {key} argument"))?;
                let n: i64 = whole(v, key)?;
                if !(0..=3).contains(&n) {
                    return Err(fail(format!(
                        "Invalid {key}. Use help to see valid options."
                    )));
                }
                self.ignored(key);
            }
            "ext_max_frag" | "slab_automove_freeratio" => {
                let v = need(value, &format!("Missing {key} argument"))?;
                real(v, key)?;
                self.ignored(key);
            }
            "ext_path" => {
                let v = need(
                    value,
                    "missing argument to ext_path, ie: ext_path=/d/file:5G",
                )?;
                if !v.contains(':') {
                    return Err(fail(
                        "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)",
                    ));
                }
                self.ignored(key);
            }
            "resp_obj_mem_limit" => {
                self.warn("-o resp_obj_mem_limit: deprecated by memcached; ignored".into());
            }
            _ if NUMBER_KEYS.contains(&key) => {
                let v = need(value, &format!("Missing {key} argument"))?;
                let _: u64 = whole(v, key)?;
                self.ignored(key);
            }
            _ if TEXT_KEYS.contains(&key) => {
                need(value, &format!("Missing {key} argument"))?;
                self.ignored(key);
            }
            _ if FLAG_KEYS.contains(&key) => self.ignored(key),
            _ => return Err(fail(format!("Illegal suboption \"{item}\""))),
        }
        Ok(())
    }
}
