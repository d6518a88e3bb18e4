//! What nutcracker (or Corvid) says about a YAML configuration it refuses.

use super::document::StructureProblem;
use crate::listen::ListenError;
use crate::server::ServerSpecError;

/// ketama hashes `name-N` in an 86-byte buffer; longer names hash bytes nutcracker never
/// wrote, so they are refused rather than guessed at.
pub const MAX_KETAMA_NAME: usize = 80;

/// Why nutcracker (or Corvid) refuses a configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("conf: '{file}' must contain only 1 document; found {count} documents")]
    Documents { file: String, count: usize },
    #[error("conf: '{file}' is not valid YAML: {message}")]
    Syntax { file: String, message: String },
    #[error("conf: '{file}' {problem}")]
    Structure {
        file: String,
        problem: StructureProblem,
    },
    #[error("conf: directive \"{key}\" {problem}")]
    Directive {
        key: String,
        problem: DirectiveProblem,
    },
    #[error("conf: directive \"{0}\" is unknown")]
    Unknown(String),
    #[error("conf: directive \"listen:\" is missing")]
    MissingListen,
    #[error("conf: directive \"server_connections:\" cannot be 0")]
    ZeroServerConnections,
    #[error("conf: directive \"redis_auth:\" is only valid for a redis pool")]
    RedisAuth,
    #[error("conf: pool '{0}' has no servers")]
    NoServers(String),
    #[error("conf: pool '{pool}' has servers with same name '{name}'")]
    SameServerName { pool: String, name: String },
    #[error("conf: '{0}' has no pools")]
    NoPools(String),
    #[error("conf: pools '{first}' and '{second}' have the same listen address '{listen}'")]
    SameListen {
        first: String,
        second: String,
        listen: String,
    },
    // nutcracker's message lacks the opening quote before the name; kept.
    #[error("conf: '{file}' has pools with same name {name}'")]
    SamePoolName { file: String, name: String },
    #[error(
        "conf: pool '{0}' is a redis pool (redis: true): corvid proxy serves memcached pools only"
    )]
    Redis(String),
    #[error("conf: pool '{pool}' has a server named '{name}', longer than {MAX_KETAMA_NAME} bytes: nutcracker's ketama cannot hash it")]
    LongName { pool: String, name: String },
}

/// What is wrong with a directive's value; nutcracker's words, after `directive "key"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveProblem {
    #[error("is a duplicate")]
    Duplicate,
    #[error("is not a number")]
    NotANumber,
    #[error("is not \"true\" or \"false\"")]
    NotABoolean,
    #[error("is not a valid hash")]
    Hash,
    #[error("is not a valid hash tag string with two characters")]
    HashTag,
    #[error("is not a valid distribution")]
    Distribution,
    #[error("{0}")]
    Listen(ListenError),
    #[error("{0}")]
    Server(ServerSpecError),
}
