//! `corvid proxy -V`, `-h` and `-D`: nutcracker prints these to stderr, and so does
//! Corvid.

use super::args::{
    DEFAULT_CONF_FILE, DEFAULT_MBUF_SIZE, DEFAULT_OUTPUT, DEFAULT_PID_FILE, DEFAULT_STATS_ADDR,
    DEFAULT_STATS_INTERVAL_MS, DEFAULT_STATS_PORT, DEFAULT_THREADS, DEFAULT_VERBOSITY,
    MAX_VERBOSITY,
};

/// The first lines of `-V`, `-h` and `-D`.
pub fn banner() -> String {
    format!(
        "This is corvid-{} proxy (nutcracker-compatible)\n\n",
        env!("CARGO_PKG_VERSION")
    )
}

pub fn usage() -> String {
    format!(
        "\
Usage: corvid proxy [-?hVdDt] [-v verbosity level] [-o output file]
                    [-c conf file] [-s stats port] [-a stats addr]
                    [-i stats interval] [-p pid file] [-m mbuf size]
                    [--toml file] [--threads N] [--explain key]
                    [--io-backend epoll|uring]

Options:
  -h, --help             : this help
  -V, --version          : show version and exit
  -t, --test-conf        : test configuration for syntax errors and exit
  -d, --daemonize        : run as a daemon
  -D, --describe-stats   : print stats description and exit
  -v, --verbose=N        : set logging level (default: {DEFAULT_VERBOSITY}, min: 0, max: {MAX_VERBOSITY})
  -o, --output=S         : set logging file (default: {DEFAULT_OUTPUT})
  -c, --conf-file=S      : set configuration file (default: {DEFAULT_CONF_FILE})
  -s, --stats-port=N     : set stats monitoring port (default: {DEFAULT_STATS_PORT})
  -a, --stats-addr=S     : set stats monitoring ip (default: {DEFAULT_STATS_ADDR})
  -i, --stats-interval=N : set stats aggregation interval in msec (default: {DEFAULT_STATS_INTERVAL_MS} msec)
  -p, --pid-file=S       : set pid file (default: {DEFAULT_PID_FILE}, written with -d)
  -m, --mbuf-size=N      : accepted for nutcracker compatibility (default: {DEFAULT_MBUF_SIZE} bytes)

Corvid's own:
      --toml=S           : read Corvid's TOML route configuration instead of -c
      --threads=N        : worker threads (default: {DEFAULT_THREADS})
      --explain=KEY      : print where KEY goes and why, and exit (repeatable)
      --io-backend=S     : workers' IO: epoll or uring (io_uring) (default: epoll)

"
    )
}

/// `-D`: the statistics the stats port reports, in twemproxy's names.
pub fn stats_description() -> String {
    let pool = [
        ("client_eof", "client connections closed by the client"),
        ("client_err", "client connections closed on an error"),
        ("client_connections", "client connections open now"),
        ("server_ejects", "times a server of the pool was ejected"),
        ("forward_error", "requests that could not be forwarded"),
        (
            "fragments",
            "requests split across servers (multi-key gets)",
        ),
    ];
    let server = [
        ("server_eof", "server connections closed by the server"),
        ("server_err", "server connections closed on an error"),
        ("server_timedout", "server connections that timed out"),
        ("server_connections", "server connections open now"),
        (
            "server_ejected_at",
            "when the server was last ejected, usec since the epoch",
        ),
        ("requests", "requests sent"),
        ("request_bytes", "bytes of requests sent"),
        ("responses", "responses received"),
        ("response_bytes", "bytes of responses received"),
        ("in_queue", "requests waiting to be sent"),
        ("in_queue_bytes", "bytes of requests waiting to be sent"),
        ("out_queue", "requests sent and waiting for a response"),
        (
            "out_queue_bytes",
            "bytes of requests waiting for a response",
        ),
    ];
    let mut text = String::from("pool stats:\n");
    for (name, meaning) in pool {
        text.push_str(&format!("  {name:<20}\"{meaning}\"\n"));
    }
    text.push_str("\nserver stats:\n");
    for (name, meaning) in server {
        text.push_str(&format!("  {name:<20}\"{meaning}\"\n"));
    }
    text
}
