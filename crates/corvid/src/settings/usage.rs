//! The texts `-h`, `-V` and `-i` print, laid out as memcached lays out its own.

/// The memcached release whose flags and behaviour Corvid follows.
pub(super) const MEMCACHED_VERSION: &str = "1.6.18";

pub(super) fn version() -> String {
    format!(
        "corvid {} (memcached {MEMCACHED_VERSION} compatible)",
        env!("CARGO_PKG_VERSION")
    )
}

pub(super) fn license() -> String {
    format!(
        "{}\n\nCorvid is distributed under the MIT license.\n\
         It contains no memcached code; it follows memcached's documented behaviour.\n",
        version()
    )
}

pub(super) fn help() -> String {
    let mut text = version();
    text.push('\n');
    text.push_str(HELP);
    text
}

/// Status marks: `[ignored]` flags are accepted so memcached command lines start
/// Corvid, and print a warning; `[refused]` ones would weaken security if ignored.
const HELP: &str = "\
-p, --port=<num>          TCP port to listen on; 0 turns TCP off (default: 11211)
-U, --udp-port=<num>      UDP port to listen on (default: 0, off)
-s, --unix-socket=<file>  listen on a UNIX socket instead of TCP and UDP
-a, --unix-mask=<mask>    octal permissions of the UNIX socket (default: 700)
-A, --enable-shutdown     allow the text \"shutdown\" command
-l, --listen=<addr>       address(es) to listen on, comma separated (default: all)
-d, --daemon              detach and run in the background
-r, --enable-coredumps    raise the core file size limit to its maximum
-u, --user=<user>         switch to this user after start (required when started as root)
-m, --memory-limit=<num>  memory for items, in megabytes (default: 64)
-M, --disable-evictions   answer an error when memory is full instead of evicting
-c, --conn-limit=<num>    most connections open at once (default: 1024)
-k, --lock-memory         lock all memory in RAM
-v, --verbose             log errors and warnings
-vv                       also log every command and response
-vvv                      also log internal state changes
-h, --help                print this text and exit
-i, --license             print the license and exit
-V, --version             print the version and exit
-P, --pidfile=<file>      write the process id to <file> (with -d)
-f, --slab-growth-factor=<num> memcached slab growth factor [ignored: no slabs]
-n, --slab-min-size=<bytes>    memcached smallest slab chunk [ignored: no slabs]
-L, --enable-largepages   preallocate with large pages [ignored]
-D <char>                 key prefix delimiter for detailed stats [ignored]
-t, --threads=<num>       worker threads (default: 4)
-R, --max-reqs-per-event=<num> requests served per connection before it yields
                          to others (default: 20)
-C, --disable-cas         do not keep CAS values
-b, --listen-backlog=<num> length of the pending connection queue (default: 1024)
-B, --protocol=<name>     auto, ascii or binary (default: auto)
-I, --max-item-size=<num> largest item, bytes or with a k, m or g suffix
                          (default: 1m, min: 1k, max: 1024m)
-S, --enable-sasl         SASL authentication [refused: not supported]
-F, --disable-flush-all   refuse the flush_all command
-X, --disable-dumping     refuse stats cachedump and lru_crawler metadump
-W, --disable-watch       refuse the watch command
-Y, --auth-file=<file>    text protocol authentication [refused: not supported]
-e, --memory-file=<file>  restartable item memory in a file [ignored]
-Z, --enable-ssl          TLS [refused: not supported]
-N, --napi-ids=<num>      number of NAPI ids [ignored]
-o, --extended=<list>     comma separated memcached extended options; Corvid uses:
   - idle_timeout=<sec>   close connections idle this long (default: 0, never)
   - maxconns_fast        over -c, send an error to each new connection and close it
                          (default)
   - no_maxconns_fast     over -c, stop accepting until a connection closes
                          every other memcached -o option is accepted and ignored
                          with a warning
";
