//! Settings as they are being read from each source, and memcached's checks that need
//! all of them at once.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::{SettingsError, EX_USAGE};
use super::model::{ProtocolMode, Settings, MIB};

/// What `-h`, `-i` and `-V` ask for instead of serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Help,
    License,
    Version,
}

/// Settings being read, plus what memcached checks only once every flag is in.
pub(super) struct Builder {
    pub(super) settings: Settings,
    pub(super) port: i64,
    pub(super) udp_port: i64,
    pub(super) port_given: bool,
    pub(super) item_size_max: i64,
    /// Only for memcached's `-I` rules, which are stated in its slab terms.
    pub(super) slab_chunk_max: i64,
    pub(super) napi_ids: Option<i64>,
    pub(super) hot_lru_pct: i64,
    pub(super) warm_lru_pct: i64,
    pub(super) lru_maintainer: bool,
    pub(super) temporary_ttl: bool,
    /// Set by `-h`, `-V`, `-i`: what to do instead of serving.
    pub(super) action: Option<Action>,
    pub(super) config_file: Option<PathBuf>,
    pub(super) memcached_conf: Option<PathBuf>,
    pub(super) print_config: bool,
    /// Which source is being read (each file, then the command line): an option that
    /// adds up starts afresh in each source that names it.
    pub(super) layer: u8,
    /// The source that last set each option, by config key.
    pub(super) origin: BTreeMap<&'static str, u8>,
    /// The disk tier's keys so far, checked as memcached checks them while reading.
    pub(super) ext: server::disk_tier::options::ExtOptions,
}

impl Default for Builder {
    fn default() -> Self {
        let settings = Settings::default();
        Builder {
            port: settings.port.into(),
            udp_port: settings.udp_port.into(),
            port_given: false,
            item_size_max: settings.item_size_max as i64,
            slab_chunk_max: (MIB / 2) as i64,
            napi_ids: None,
            hot_lru_pct: 20,
            warm_lru_pct: 40,
            lru_maintainer: true,
            temporary_ttl: false,
            action: None,
            config_file: None,
            memcached_conf: None,
            print_config: false,
            layer: 0,
            origin: BTreeMap::new(),
            ext: Default::default(),
            settings,
        }
    }
}

impl Builder {
    pub(super) fn warn(&mut self, line: String) {
        if !self.settings.warnings.contains(&line) {
            self.settings.warnings.push(line);
        }
    }

    /// Records an option Corvid accepts and ignores, with its one warning line.
    pub(super) fn ignore(&mut self, key: &'static str, value: String, warning: &str) {
        self.settings.ignored.insert(key, value);
        self.warn(warning.to_string());
    }

    /// memcached's checks made after every flag is read, in its order.
    pub(super) fn finish(mut self) -> Result<Settings, SettingsError> {
        let usage = |message: String| Err(SettingsError::new(message, EX_USAGE));
        let threads = self.settings.threads as i64;
        if let Some(napi) = self.napi_ids.filter(|&n| n > threads) {
            return usage(format!(
                "Number of napi_ids({napi}) cannot be greater than number of threads({threads})"
            ));
        }
        let item = self.item_size_max;
        if item < 1024 {
            return usage("Item max size cannot be less than 1024 bytes.".into());
        }
        if item as u64 > (self.settings.memory_limit / 2) as u64 {
            return usage("Cannot set item size limit higher than 1/2 of memory max.".into());
        }
        if item > 1 << 30 {
            return usage("Cannot set item size limit higher than a gigabyte.".into());
        }
        // memcached's slab rules for -I, kept so the same -I values are accepted.
        let chunk = self.slab_chunk_max;
        if chunk > item {
            return usage(format!(
                "slab_chunk_max (bytes: {chunk}) cannot be larger than -I (item_size_max {item})"
            ));
        }
        if item % chunk != 0 {
            return usage(format!(
                "-I (item_size_max: {item}) must be evenly divisible by slab_chunk_max (bytes: {chunk})"
            ));
        }
        let page = MIB as i64;
        if page % chunk != 0 {
            return usage(format!(
                "slab_chunk_max (bytes: {chunk}) must divide evenly into {page} (slab_page_size)"
            ));
        }
        if self.hot_lru_pct + self.warm_lru_pct > 80 {
            return usage("hot_lru_pct + warm_lru_pct cannot be more than 80% combined".into());
        }
        if self.temporary_ttl && !self.lru_maintainer {
            return usage("temporary_ttl requires lru_maintainer to be enabled".into());
        }
        for address in &self.settings.listen {
            for prefix in ["notls", "mtls"] {
                if address.starts_with(&format!("{prefix}:")) && !self.settings.tls_enabled {
                    return Err(SettingsError::new(
                        format!("'{prefix}' option is valid only when SSL is enabled"),
                        71,
                    ));
                }
            }
        }
        for port in [self.port, self.udp_port] {
            // -1 is memcached's "any free port"; below that its bind fails (exit 71).
            if !(-1..=65535).contains(&port) {
                return usage(format!("ERROR: Invalid port number {port}."));
            }
        }
        // Both in range: checked just above.
        let (port, udp_port) = (self.port as i32, self.udp_port as i32);
        let s = &mut self.settings;
        s.item_size_max = item as usize;
        s.port = port;
        s.udp_port = udp_port;
        // memcached: `-U n` without `-p` moves TCP to port n as well.
        if udp_port != 0 && !self.port_given {
            s.port = udp_port;
        }
        // memcached's rules for logins: each serves one protocol, and not over UDP.
        let protocol_given = self.origin.contains_key("protocol");
        if s.sasl {
            if protocol_given && s.protocol != ProtocolMode::Binary {
                return usage(
                    "ERROR: You cannot allow the ASCII protocol while using SASL.".into(),
                );
            }
            s.protocol = ProtocolMode::Binary;
            if s.udp_bind_port().is_some() {
                return usage(
                    "ERROR: Cannot enable UDP while using binary SASL authentication.".into(),
                );
            }
        }
        if s.auth_file.is_some() {
            if protocol_given && s.protocol != ProtocolMode::Ascii {
                return usage(
                    "ERROR: You cannot allow the BINARY protocol while using ascii authentication \
                     tokens."
                        .into(),
                );
            }
            s.protocol = ProtocolMode::Ascii;
            if s.udp_bind_port().is_some() {
                return usage(
                    "Cannot use UDP with ascii authentication enabled (-U 0 to disable)".into(),
                );
            }
        }
        if s.tls_enabled && s.tcp_port().is_none() {
            return usage("ERROR: You cannot enable SSL without a TCP port.".into());
        }
        Ok(self.settings)
    }
}
