//! `-o ext_*` as memcached reads them: collected in command-line order, checked as a whole
//! once all are in, turned into an [`ExtConfig`], with memcached's messages.
//!
//! ```
//! use server::disk_tier::options::ExtOptions;
//! let mut o = ExtOptions::default();
//! o.apply("ext_page_size", Some("8")).unwrap();
//! o.apply("ext_path", Some("/var/cache/ext:64m")).unwrap();
//! let ext = o.build().unwrap().unwrap();
//! assert_eq!(ext.disk.page_size, 8 << 20);
//! assert_eq!(ext.disk.page_count(), 8);
//! ```

use super::ExtConfig;
use disk::{DiskConfig, FileSpec, MIB};
use std::time::Duration;

/// What memcached prints after a bad `ext_path` value.
const PARSE_FAILED: &str = "failed to parse ext_path argument";

/// The `ext_*` keys, as given.
#[derive(Debug, Clone, Default)]
pub struct ExtOptions {
    paths: Vec<FileSpec>,
    page_size_mb: Option<u64>,
    wbuf_size_mb: Option<u64>,
    threads: Option<usize>,
    item_size: Option<u32>,
    item_age: Option<u32>,
    low_ttl: Option<u32>,
    recache_rate: Option<u32>,
    compact_under: Option<u32>,
    drop_under: Option<u32>,
    max_sleep_us: Option<u64>,
    max_frag: Option<f64>,
    drop_unread: bool,
    read_mem_mb: Option<u64>,
}

impl ExtOptions {
    /// Takes one `-o` key (with its value, if any). `Ok(false)`: not an `ext_*` key
    /// this reads. An error is memcached's message (its exit status is 1).
    pub fn apply(&mut self, key: &str, value: Option<&str>) -> Result<bool, String> {
        let number = |v: Option<&str>| -> Result<u64, String> {
            let v = v.ok_or_else(|| format!("Missing {key} argument"))?;
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("could not parse argument to {key}"))
        };
        let small = |v: Option<&str>| -> Result<u32, String> { Ok(number(v)? as u32) };
        match key {
            "ext_path" => {
                let v = value.ok_or("missing argument to ext_path, ie: ext_path=/d/file:5G")?;
                let spec = FileSpec::parse(v).map_err(|e| format!("{e}\n{PARSE_FAILED}"))?;
                self.paths.push(spec);
            }
            "ext_page_size" => {
                if !self.paths.is_empty() {
                    return Err("Must specify ext_page_size before any ext_path arguments".into());
                }
                self.page_size_mb = Some(number(value)?);
            }
            "ext_wbuf_size" => self.wbuf_size_mb = Some(number(value)?),
            "ext_threads" => self.threads = Some(number(value)? as usize),
            "ext_item_size" => self.item_size = Some(small(value)?),
            "ext_item_age" => self.item_age = Some(small(value)?),
            "ext_low_ttl" => self.low_ttl = Some(small(value)?),
            "ext_recache_rate" => self.recache_rate = Some(small(value)?),
            "ext_compact_under" => self.compact_under = Some(small(value)?),
            "ext_drop_under" => self.drop_under = Some(small(value)?),
            "ext_max_sleep" => self.max_sleep_us = Some(number(value)?),
            "ext_max_frag" => {
                let v = value.ok_or_else(|| format!("Missing {key} argument"))?;
                let f: f64 = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|f: &f64| f.is_finite())
                    .ok_or_else(|| format!("could not parse argument to {key}"))?;
                self.max_frag = Some(f);
            }
            "ext_drop_unread" => self.drop_unread = true,
            "ext_read_mem" => self.read_mem_mb = Some(number(value)?),
            // Accepted for memcached's command lines; Corvid's reads have no depth knob.
            "ext_io_depth" => {
                number(value)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Forgets the `ext_path`s given so far (a command line naming files replaces a
    /// config file's).
    pub fn clear_paths(&mut self) {
        self.paths.clear();
    }

    /// Whether any `ext_path` was given (the tier runs only then).
    pub fn enabled(&self) -> bool {
        !self.paths.is_empty()
    }

    /// The tier's configuration; None without `ext_path`. The engine checks sizes and
    /// files when it opens (`Server::bind`), with memcached's messages.
    pub fn build(&self) -> Result<Option<ExtConfig>, String> {
        if self.paths.is_empty() {
            return Ok(None);
        }
        let mut disk = DiskConfig::new(self.paths.clone());
        if let Some(mb) = self.page_size_mb {
            disk.page_size = mb.saturating_mul(MIB);
        }
        if let Some(mb) = self.wbuf_size_mb {
            disk.wbuf_size = mb.saturating_mul(MIB);
        }
        if let Some(t) = self.threads {
            disk.io_threads = t;
        }
        disk.compact_under = self.compact_under;
        disk.drop_under = self.drop_under;
        if let Some(f) = self.max_frag {
            disk.max_frag = f;
        }
        disk.drop_unread = self.drop_unread;
        if let Some(mb) = self.read_mem_mb {
            disk.read_mem = mb.saturating_mul(MIB);
        }
        if let Some(us) = self.max_sleep_us {
            disk.max_sleep = Duration::from_micros(us.max(1));
        }
        let mut ext = ExtConfig::new(disk);
        if let Some(v) = self.item_size {
            ext.item_size = v;
        }
        if let Some(v) = self.item_age {
            ext.item_age = v;
        }
        if let Some(v) = self.low_ttl {
            ext.low_ttl = v;
        }
        if let Some(v) = self.recache_rate {
            ext.recache_rate = v;
        }
        Ok(Some(ext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(pairs: &[(&str, Option<&str>)]) -> String {
        let mut o = ExtOptions::default();
        for (k, v) in pairs {
            if let Err(e) = o.apply(k, *v) {
                return e;
            }
        }
        panic!("accepted {pairs:?}");
    }

    #[test]
    fn memcacheds_messages_for_bad_options() {
        assert_eq!(
            refused(&[("ext_path", Some("/d/f"))]),
            "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)\n\
             failed to parse ext_path argument"
        );
        assert_eq!(
            refused(&[("ext_path", Some("/d/f:0m"))]),
            "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)\n\
             failed to parse ext_path argument"
        );
        assert_eq!(
            refused(&[("ext_path", Some("/d/f:1g:bogus"))]),
            "Unknown extstore bucket: bogus\nfailed to parse ext_path argument"
        );
        assert_eq!(
            refused(&[("ext_path", Some("/d/f:1g")), ("ext_page_size", Some("8"))]),
            "Must specify ext_page_size before any ext_path arguments"
        );
        assert_eq!(
            refused(&[("ext_threads", Some("abc"))]),
            "could not parse argument to ext_threads"
        );
        assert_eq!(
            refused(&[("ext_path", None)]),
            "missing argument to ext_path, ie: ext_path=/d/file:5G"
        );
    }

    #[test]
    fn everything_lands_where_it_belongs() {
        let mut o = ExtOptions::default();
        for (k, v) in [
            ("ext_page_size", Some("8")),
            ("ext_wbuf_size", Some("2")),
            ("ext_threads", Some("3")),
            ("ext_path", Some("/a:64m")),
            ("ext_path", Some("/b:1g:compact")),
            ("ext_item_size", Some("1024")),
            ("ext_item_age", Some("60")),
            ("ext_low_ttl", Some("30")),
            ("ext_recache_rate", Some("0")),
            ("ext_compact_under", Some("4")),
            ("ext_drop_under", Some("2")),
            ("ext_max_sleep", Some("2000")),
            ("ext_max_frag", Some("0.5")),
            ("ext_drop_unread", None),
            ("ext_io_depth", Some("1")),
            ("ext_read_mem", Some("16")),
        ] {
            assert_eq!(o.apply(k, v), Ok(true), "{k}");
        }
        assert_eq!(o.apply("idle_timeout", Some("1")), Ok(false));
        let ext = o.build().unwrap().unwrap();
        let d = &ext.disk;
        assert_eq!(
            (d.page_size, d.wbuf_size, d.io_threads),
            (8 << 20, 2 << 20, 3)
        );
        assert_eq!(d.files.len(), 2);
        assert_eq!((d.compact_under, d.drop_under), (Some(4), Some(2)));
        assert_eq!((d.max_frag, d.drop_unread), (0.5, true));
        assert_eq!(d.max_sleep, Duration::from_millis(2));
        assert_eq!(d.read_mem, 16 << 20);
        assert_eq!(
            (ext.item_size, ext.item_age, ext.low_ttl, ext.recache_rate),
            (1024, 60, 30, 0)
        );
        assert!(ExtOptions::default().build().unwrap().is_none());
    }
}
