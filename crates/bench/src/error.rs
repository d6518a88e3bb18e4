//! What can stop a benchmark before it produces numbers.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Flag(String),
    #[error("cannot resolve {addr}: {source}")]
    Resolve { addr: String, source: io::Error },
    #[error("cannot connect to {target}: {source}")]
    Connect { target: String, source: io::Error },
    #[error("event loop: {0}")]
    Poll(io::Error),
    #[error("a load thread panicked")]
    ThreadPanicked,
    #[error("all connections were lost")]
    AllConnectionsLost,
}
