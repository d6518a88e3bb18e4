//! What a command line or a config file can get wrong, with the exit status memcached
//! uses for the same mistake.

use std::fmt;

use crate::getopt::GetoptError;

/// A command line memcached would refuse. Display is the one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    message: String,
    exit_code: i32,
}

impl SettingsError {
    pub(super) fn new(message: impl Into<String>, exit_code: i32) -> Self {
        SettingsError {
            message: message.into(),
            exit_code,
        }
    }

    /// The same mistake found in a file: says where, and exits EX_CONFIG.
    pub(super) fn in_file(self, place: &str) -> Self {
        SettingsError::new(format!("{place}: {}", self.message), EX_CONFIG)
    }

    /// The status memcached exits with for the same mistake: 1 for syntax errors and
    /// most bad numbers, 64 (EX_USAGE) for the checks it makes after reading all flags;
    /// 78 (EX_CONFIG) for anything wrong in a config file.
    pub fn exit_code(&self) -> i32 {
        self.exit_code
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SettingsError {}

impl From<GetoptError> for SettingsError {
    /// getopt failures make memcached exit 1 (after "Illegal argument").
    fn from(error: GetoptError) -> Self {
        SettingsError::new(error.to_string(), 1)
    }
}

/// Refused after every flag is read (memcached's checks of the whole command line).
pub(super) const EX_USAGE: i32 = 64;
/// Anything wrong in a config file.
pub(super) const EX_CONFIG: i32 = 78;
