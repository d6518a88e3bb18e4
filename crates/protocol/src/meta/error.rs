//! Meta lines memcached refuses, and its exact reply for each.

/// A meta line memcached refuses, with its exact reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaError {
    /// `ERROR`: unknown meta command, or too few tokens.
    UnknownCommand,
    BadCommandLineFormat,
    DuplicateFlag,
    InvalidFlag,
    InvalidOrDuplicateFlag,
    BadToken,
    OpaqueTooLong,
    InvalidSetMode,
    InvalidArithmeticMode,
    MTokenLength,
    DecodingKey,
    InvalidInitial,
    InvalidDelta,
    /// `mg`'s wording.
    GetFlagsTooLong,
    /// `ms`, `md`, `ma`'s wording.
    FlagsTooLong,
}

impl MetaError {
    /// The exact reply line.
    pub fn reply(&self) -> &'static [u8] {
        match self {
            MetaError::UnknownCommand => b"ERROR\r\n",
            MetaError::BadCommandLineFormat => b"CLIENT_ERROR bad command line format\r\n",
            MetaError::DuplicateFlag => b"CLIENT_ERROR duplicate flag\r\n",
            MetaError::InvalidFlag => b"CLIENT_ERROR invalid flag\r\n",
            MetaError::InvalidOrDuplicateFlag => b"CLIENT_ERROR invalid or duplicate flag\r\n",
            MetaError::BadToken => b"CLIENT_ERROR bad token in command line format\r\n",
            MetaError::OpaqueTooLong => b"CLIENT_ERROR opaque token too long\r\n",
            MetaError::InvalidSetMode => b"CLIENT_ERROR invalid mode for ms M token\r\n",
            MetaError::InvalidArithmeticMode => b"CLIENT_ERROR invalid mode for ma M token\r\n",
            MetaError::MTokenLength => b"CLIENT_ERROR incorrect length for M token\r\n",
            MetaError::DecodingKey => b"CLIENT_ERROR error decoding key\r\n",
            MetaError::InvalidInitial => b"CLIENT_ERROR invalid numeric initial value\r\n",
            MetaError::InvalidDelta => b"CLIENT_ERROR invalid numeric delta value\r\n",
            MetaError::GetFlagsTooLong => b"CLIENT_ERROR options flags are too long\r\n",
            MetaError::FlagsTooLong => b"CLIENT_ERROR options flags too long\r\n",
        }
    }
}

/// A refused line: the reply, and (for `ms` whose length was readable) how many bytes of
/// data block follow the line and must be discarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub error: MetaError,
    pub swallow: usize,
}

impl From<MetaError> for Rejected {
    fn from(error: MetaError) -> Self {
        Rejected { error, swallow: 0 }
    }
}
