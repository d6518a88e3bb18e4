//! memcached 1.6.18's flags, then Corvid's own, as entries of the options table
//! ([`options`](super::options)). Each entry checks its value with memcached's message
//! and exit status and stores it; the checks memcached makes only once every flag is in
//! are in [`Builder::finish`](super::builder::Builder).

use std::path::PathBuf;

use super::builder::Action;
use super::error::{SettingsError, EX_USAGE};
use super::model::{ProtocolMode, MIB};
use super::options::{
    exact, flag, int_value, short_only, size_value, text_value, Given, Kind, Opt, Status, Value,
};

fn invalid_number(letter: u8, value: &str) -> SettingsError {
    SettingsError::new(
        format!("Invalid number for -{}: \"{value}\"", letter as char),
        EX_USAGE,
    )
}

/// A whole number, strictly: memcached's atoi would read "abc" as 0 and "10x" as 10.
fn int(letter: u8, value: &str) -> Result<i64, SettingsError> {
    value.parse().map_err(|_| invalid_number(letter, value))
}

/// A whole number that must be positive, with memcached's message when it is not.
fn positive(letter: u8, value: &str, message: &str) -> Result<usize, SettingsError> {
    let n = int(letter, value)?;
    if n <= 0 {
        return Err(SettingsError::new(message, 1));
    }
    usize::try_from(n).map_err(|_| invalid_number(letter, value))
}

/// `-I`: bytes, or a number with a k, m or g suffix (either case). memcached 1.6.18
/// knows only k and m, but its help states sizes up to 1024m, and g is the same thing.
fn item_size(value: &str) -> Result<i64, SettingsError> {
    let (digits, unit) = match value.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&value[..at], c.to_ascii_lowercase()),
        _ => (value, 'b'),
    };
    let shift = match unit {
        'b' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        _ => return Err(invalid_number(b'I', value)),
    };
    let n: i64 = digits.parse().map_err(|_| invalid_number(b'I', value))?;
    // Anything too large to represent is simply larger than a gigabyte.
    Ok(n.checked_mul(1 << shift).unwrap_or(i64::MAX))
}

/// `-I` as it is best written: `1m` rather than `1048576`.
pub(super) fn size_text(bytes: usize) -> String {
    for (shift, unit) in [(30, 'g'), (20, 'm'), (10, 'k')] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

fn path(g: Given<'_>) -> PathBuf {
    PathBuf::from(g.value.unwrap_or_default())
}

fn path_value(p: &Option<PathBuf>) -> Option<Value> {
    // TOML text is UTF-8: a path that is not is printed with U+FFFD in place of bad bytes.
    p.as_ref()
        .map(|p| text_value(p.to_string_lossy().into_owned()))
}

/// memcached 1.6.18's flags in its own table's order, then Corvid's.
pub(super) const FLAGS: &[Opt] = &[
    flag(b'a', "unix-mask", Kind::Text, "<mask>", "octal permissions of the Unix socket", |b, g| {
        let v = g.text(b'a')?;
        match u32::from_str_radix(v, 8) {
            Ok(mask) if mask <= 0o7777 => b.settings.unix_mask = mask,
            _ => {
                return Err(SettingsError::new(
                    format!("Invalid octal mask for -a: \"{v}\""),
                    EX_USAGE,
                ))
            }
        }
        Ok(())
    })
    .note("a string of octal digits in a file (`\"700\"`), never a TOML number")
    .show(|s| Some(text_value(format!("{:o}", s.unix_mask)))),
    flag(b'A', "enable-shutdown", Kind::Switch, "", "allow the text \"shutdown\" command", |b, _| {
        b.settings.allow_shutdown = true;
        Ok(())
    })
    .show(|s| Some(Value::Boolean(s.allow_shutdown))),
    flag(b'Z', "enable-ssl", Kind::Switch, "", "TLS on the TCP listeners (the -o ssl_* options say how)", |b, _| {
        b.settings.tls_enabled = true;
        Ok(())
    })
    .note("rustls; `-l notls:addr` stays plain, `-l mtls:addr` requires a client certificate; a Unix socket stays plain (see [tls.md](tls.md))")
    .show(|s| Some(Value::Boolean(s.tls_enabled))),
    flag(b'p', "port", Kind::Int, "<num>", "TCP port to listen on; 0 turns TCP off, -1 picks a free one", |b, g| {
        b.port = int(b'p', g.text(b'p')?)?;
        b.port_given = true;
        Ok(())
    })
    .show(|s| Some(int_value(s.port))),
    flag(b's', "unix-socket", Kind::Text, "<file>", "listen on a Unix socket instead of TCP and UDP", |b, g| {
        b.settings.unix_socket = Some(path(g));
        Ok(())
    })
    .show(|s| path_value(&s.unix_socket)),
    flag(b'U', "udp-port", Kind::Int, "<num>", "UDP port to listen on; 0 is off, -1 picks a free one", |b, g| {
        b.udp_port = int(b'U', g.text(b'U')?)?;
        Ok(())
    })
    .note("on the `-l` interfaces; `-U n` without `-p` also moves TCP to n, as memcached does (see [udp.md](udp.md))")
    .show(|s| Some(int_value(s.udp_port))),
    flag(b'm', "memory-limit", Kind::Int, "<num>", "item memory, in megabytes", |b, g| {
        let v = g.text(b'm')?;
        let mib: u64 = v.parse().map_err(|_| invalid_number(b'm', v))?;
        b.settings.memory_limit = usize::try_from(mib)
            .ok()
            .and_then(|m| m.checked_mul(MIB))
            .ok_or_else(|| invalid_number(b'm', v))?;
        Ok(())
    })
    .show(|s| Some(size_value(s.memory_limit / MIB))),
    flag(b'M', "disable-evictions", Kind::Switch, "", "answer an error when memory is full instead of evicting", |b, _| {
        b.settings.no_evict = true;
        Ok(())
    })
    .show(|s| Some(Value::Boolean(s.no_evict))),
    flag(b'c', "conn-limit", Kind::Int, "<num>", "most connections open at once", |b, g| {
        let v = g.text(b'c')?;
        b.settings.max_conns = positive(b'c', v, "Maximum connections must be greater than 0")?;
        Ok(())
    })
    .note("the open-file limit is raised to fit, as memcached does; beyond the limit a client gets `ERROR Too many open connections`")
    .show(|s| Some(size_value(s.max_conns))),
    flag(b'k', "lock-memory", Kind::Switch, "", "lock all memory in RAM", |b, _| {
        b.settings.lock_memory = true;
        Ok(())
    })
    .show(|s| Some(Value::Boolean(s.lock_memory))),
    flag(b'h', "help", Kind::Switch, "", "print this text and exit", |b, _| {
        b.action = Some(Action::Help);
        Ok(())
    })
    .status(Status::CommandLine),
    flag(b'i', "license", Kind::Switch, "", "print the license and exit", |b, _| {
        b.action = Some(Action::License);
        Ok(())
    })
    .status(Status::CommandLine),
    flag(b'V', "version", Kind::Switch, "", "print the version and exit", |b, _| {
        b.action = Some(Action::Version);
        Ok(())
    })
    .status(Status::CommandLine),
    flag(b'r', "enable-coredumps", Kind::Switch, "", "raise the core file size limit to its maximum", |b, _| {
        b.settings.enable_coredumps = true;
        Ok(())
    })
    .show(|s| Some(Value::Boolean(s.enable_coredumps))),
    flag(b'v', "verbose", Kind::Count, "", "log errors and warnings; twice, also every command and response", |b, _| {
        // `--verbose=x` is accepted and its value ignored, as memcached does.
        b.settings.verbose = b.settings.verbose.saturating_add(1);
        Ok(())
    })
    .note("an integer in a file: `verbose = 2` is `-vv`")
    .show(|s| Some(int_value(s.verbose)))
    .reset(|b| b.settings.verbose = 0),
    flag(b'd', "daemon", Kind::Switch, "", "detach and run in the background", |b, _| {
        b.settings.daemonize = true;
        Ok(())
    })
    .show(|s| Some(Value::Boolean(s.daemonize))),
    flag(b'l', "listen", Kind::List, "<addr>", "addresses to listen on, comma separated (default: all)", |b, g| {
        // As memcached: repeated -l add up, empty list items are skipped. `notls:` and
        // `mtls:` need -Z, which may come later: checked once every flag is in.
        for address in g.text(b'l')?.split(',').filter(|a| !a.is_empty()) {
            if !b.settings.listen.iter().any(|known| known == address) {
                b.settings.listen.push(address.to_string());
            }
        }
        Ok(())
    })
    .note("`addr` or `addr:port`; with `-Z`, `notls:addr` is plain and `mtls:addr` requires a client certificate; without `-Z` both are refused, as memcached refuses `notls:`")
    .show(|s| Some(Value::Array(s.listen.iter().cloned().map(Value::String).collect())))
    .reset(|b| b.settings.listen.clear()),
    flag(b'u', "user", Kind::Text, "<user>", "switch to this user after binding, when started as root", |b, g| {
        b.settings.user = Some(g.text(b'u')?.to_string());
        Ok(())
    })
    .show(|s| s.user.clone().map(Value::String)),
    flag(b'P', "pidfile", Kind::Text, "<file>", "write the process id to <file>", |b, g| {
        b.settings.pid_file = Some(path(g));
        Ok(())
    })
    .note("removed on a clean exit, as memcached does")
    .show(|s| path_value(&s.pid_file)),
    flag(b'f', "slab-growth-factor", Kind::Float, "<num>", "memcached slab growth factor", |b, g| {
        let v = g.text(b'f')?;
        let factor: f64 = v.parse().map_err(|_| invalid_number(b'f', v))?;
        if factor.is_nan() || factor <= 1.0 {
            return Err(SettingsError::new("Factor must be greater than 1", 1));
        }
        b.ignore("slab-growth-factor", factor.to_string(), "-f: corvid has no slab classes; ignored");
        Ok(())
    })
    .status(Status::Ignored)
    .note("no slabs; values of 1 or less are refused as memcached refuses them"),
    flag(b'n', "slab-min-size", Kind::Int, "<bytes>", "memcached smallest slab chunk", |b, g| {
        let n = positive(b'n', g.text(b'n')?, "Chunk size must be greater than 0")?;
        b.ignore("slab-min-size", n.to_string(), "-n: corvid has no slab classes; ignored");
        Ok(())
    })
    .status(Status::Ignored)
    .note("no slabs; 0 is refused as memcached refuses it"),
    flag(b'L', "enable-largepages", Kind::Switch, "", "preallocate with large pages", |b, _| {
        b.ignore("enable-largepages", "true".into(), "-L: large pages are not supported; ignored");
        Ok(())
    })
    .status(Status::Ignored),
    flag(b'R', "max-reqs-per-event", Kind::Int, "<num>", "requests served per connection before it yields to others", |b, g| {
        let v = g.text(b'R')?;
        b.settings.reqs_per_event =
            positive(b'R', v, "Number of requests per event must be greater than 0")?;
        Ok(())
    })
    .show(|s| Some(size_value(s.reqs_per_event))),
    flag(b'C', "disable-cas", Kind::Switch, "", "do not keep CAS values", |b, _| {
        b.settings.cas_disabled = true;
        Ok(())
    })
    .show(|s| Some(Value::Boolean(s.cas_disabled))),
    flag(b'b', "listen-backlog", Kind::Int, "<num>", "length of the pending connection queue", |b, g| {
        let v = g.text(b'b')?;
        b.settings.backlog = v.parse().map_err(|_| invalid_number(b'b', v))?;
        Ok(())
    })
    .show(|s| Some(int_value(s.backlog))),
    flag(b'B', "protocol", Kind::Text, "<name>", "auto, ascii or binary", |b, g| {
        let v = g.text(b'B')?;
        b.settings.protocol = match v {
            "auto" => ProtocolMode::Auto,
            "ascii" => ProtocolMode::Ascii,
            "binary" => ProtocolMode::Binary,
            _ => {
                return Err(SettingsError::new(
                    format!(
                        "Invalid value for binding protocol: {v} \
                         -- should be one of auto, binary, or ascii"
                    ),
                    EX_USAGE,
                ))
            }
        };
        Ok(())
    })
    .show(|s| {
        Some(text_value(match s.protocol {
            ProtocolMode::Auto => "auto",
            ProtocolMode::Ascii => "ascii",
            ProtocolMode::Binary => "binary",
        }))
    }),
    flag(b'I', "max-item-size", Kind::Size, "<size>", "largest item: bytes, or with a k, m or g suffix (min: 1k, max: 1024m)", |b, g| {
        b.item_size_max = item_size(g.text(b'I')?)?;
        Ok(())
    })
    .note("also takes `g`; below 512k only with `-o slab_chunk_max`, as memcached")
    .show(|s| Some(text_value(size_text(s.item_size_max)))),
    flag(b'S', "enable-sasl", Kind::Switch, "", "SASL authentication (binary protocol)", |b, _| {
        b.settings.sasl = true;
        Ok(())
    })
    .note("PLAIN and CRAM-MD5 against the `user:password` file `MEMCACHED_SASL_PWDB` names; serves binary only; with `-B ascii`/`auto` or UDP refused, as memcached (see [auth.md](auth.md))")
    .show(|s| Some(Value::Boolean(s.sasl))),
    flag(b'F', "disable-flush-all", Kind::Switch, "", "refuse the flush_all command", |b, _| {
        b.settings.flush_enabled = false;
        Ok(())
    })
    .show(|s| Some(Value::Boolean(!s.flush_enabled))),
    flag(b'X', "disable-dumping", Kind::Switch, "", "refuse stats cachedump and lru_crawler metadump", |b, _| {
        b.settings.dump_enabled = false;
        Ok(())
    })
    .show(|s| Some(Value::Boolean(!s.dump_enabled))),
    flag(b'W', "disable-watch", Kind::Switch, "", "refuse the watch command", |b, _| {
        b.settings.watch_enabled = false;
        Ok(())
    })
    .show(|s| Some(Value::Boolean(!s.watch_enabled))),
    flag(b'Y', "auth-file", Kind::Text, "<file>", "text protocol authentication: user:password lines", |b, g| {
        b.settings.auth_file = Some(g.text(b'Y')?.into());
        Ok(())
    })
    .note("memcached's login (`set <any> <flags> <exptime> <len>` with `user password` as the value); covers meta commands; serves text only; with `-B binary`/`auto` or UDP refused, as memcached (see [auth.md](auth.md))")
    .show(|s| s.auth_file.as_ref().map(|p| Value::String(p.to_string_lossy().into_owned()))),
    flag(b'e', "memory-file", Kind::Text, "<file>", "item memory in this file, kept across a clean stop (warm restart); put it on tmpfs or a DAX mount", |b, g| {
        let file = path(g);
        if file.as_os_str().is_empty() {
            return Err(SettingsError::new("-e: the memory file name is empty", EX_USAGE));
        }
        b.settings.memory_file = Some(file);
        Ok(())
    })
    .note("every clean stop saves, the next start with the same `-m`, `-I`, `-C` takes the cache back ([restart.md](restart.md))")
    .show(|s| path_value(&s.memory_file)),
    flag(b'o', "extended", Kind::List, "<list>", "comma separated memcached extended options, below", |_, _| {
        // The list is expanded key by key where options are applied (table::apply).
        Ok(())
    })
    .status(Status::CommandLine)
    .note("each key is a config key of its own"),
    flag(b'N', "napi-ids", Kind::Int, "<num>", "number of NAPI ids", |b, g| {
        let n = positive(b'N', g.text(b'N')?, "Maximum number of NAPI IDs must be greater than 0")?;
        b.napi_ids = Some(n as i64);
        b.ignore("napi-ids", n.to_string(), "-N: NAPI ids are not supported; ignored");
        Ok(())
    })
    .status(Status::Ignored)
    .note("checked against `-t` as memcached checks it"),
    flag(b't', "threads", Kind::Int, "<num>", "worker threads", |b, g| {
        let threads = positive(b't', g.text(b't')?, "Number of threads must be greater than 0")?;
        b.settings.threads = threads;
        if threads > 64 {
            b.warn(format!(
                "-t {threads}: this many worker threads is not recommended; \
                 use at most the number of cores"
            ));
        }
        Ok(())
    })
    .note("over 64 warns as memcached does")
    .show(|s| Some(size_value(s.threads))),
    short_only(b'D', "prefix-delimiter", Kind::Text, "<char>", "key prefix delimiter for detailed stats", |b, g| {
        let v = g.text(b'D')?;
        if v.is_empty() {
            return Err(SettingsError::new("No delimiter specified", 1));
        }
        b.ignore("prefix-delimiter", v.to_string(), "-D: per-prefix stats are not supported; ignored");
        Ok(())
    })
    .status(Status::Ignored)
    .note("memcached has no long name for `-D`; an empty one is refused as memcached refuses it"),
    exact(1, "config", Kind::Text, "<file>", "read settings from this TOML file; flags given here override it", |b, g| {
        b.config_file = Some(path(g));
        Ok(())
    }),
    exact(2, "memcached-conf", Kind::Text, "<file>", "read flags from a Debian /etc/memcached.conf", |b, g| {
        b.memcached_conf = Some(path(g));
        Ok(())
    }),
    exact(3, "print-config", Kind::Switch, "", "print the effective settings as TOML and exit", |b, _| {
        b.print_config = true;
        Ok(())
    }),
    exact(4, "admin", Kind::Text, "<addr:port>", "serve /metrics, /health and /stats over HTTP here (off by default)", |b, g| {
        let v = g.value.unwrap_or_default().to_string_lossy();
        let addr = v.parse().map_err(|_| {
            SettingsError::new(format!("--admin: \"{v}\" is not an address and port (127.0.0.1:9211)"), EX_USAGE)
        })?;
        b.settings.admin = Some(addr);
        Ok(())
    })
    .status(Status::Used)
    .note("Prometheus metrics, health and `stats` as JSON, on a thread of its own (see [operations.md](operations.md#metrics-the-admin-listener))")
    .show(|s| s.admin.map(|a| text_value(a.to_string()))),
];
