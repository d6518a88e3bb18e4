//! Reading an `-o` value as memcached reads it, failing with its messages (exit status
//! 1), and recording a key Corvid accepts but does not use.

use crate::settings::builder::Builder;
use crate::settings::error::SettingsError;
use crate::settings::options::Given;

/// memcached exits 1 for every `-o` mistake found while reading the list.
pub(super) fn fail(message: impl Into<String>) -> SettingsError {
    SettingsError::new(message, 1)
}

pub(super) fn need<'v>(g: Given<'v>, missing: &str) -> Result<&'v str, SettingsError> {
    g.extended().ok_or_else(|| fail(missing))
}

pub(super) fn whole<T: std::str::FromStr>(value: &str, key: &str) -> Result<T, SettingsError> {
    value
        .parse()
        .map_err(|_| fail(format!("could not parse argument to {key}")))
}

pub(super) fn real(value: &str, key: &str) -> Result<f64, SettingsError> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(fail(format!("could not parse argument to {key}"))),
    }
}

/// Records an `-o` key Corvid does not use: warned about once, kept for --print-config.
pub(super) fn ignored(b: &mut Builder, key: &'static str, value: String, spelled: &str) {
    b.ignore(
        key,
        value,
        &format!("-o {spelled}: not used by corvid; ignored"),
    );
}
