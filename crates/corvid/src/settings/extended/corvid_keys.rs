//! The `-o` keys Corvid applies of its own accord (`idle_timeout`, `io_backend`,
//! `maxconns_fast`) and `modern`, first in the table so `-h` lists them first.

use super::value::{fail, ignored, need, whole};
use crate::settings::options::{extended, toggle, Kind, Opt, Status, Value};

/// The keys Corvid uses.
pub(super) const CORVID_KEYS: &[Opt] = &[
    extended(
        "idle_timeout",
        Kind::Int,
        "<sec>",
        "close connections idle this long; 0 never",
        |b, g| {
            let v = need(g, "Missing numeric argument for idle_timeout")?;
            b.settings.idle_timeout = whole(v, "idle_timeout")?;
            Ok(())
        },
    )
    .note("waiting for a command, or mid-line")
    .show(|s| {
        Some(Value::Integer(
            i64::try_from(s.idle_timeout).unwrap_or(i64::MAX),
        ))
    }),
    extended(
        "io_backend",
        Kind::Text,
        "<name>",
        "how workers do connections' IO: epoll or uring (io_uring)",
        |b, g| {
            b.settings.io_uring = match need(g, "Missing io_backend argument")? {
                "epoll" => false,
                "uring" => true,
                _ => return Err(fail("Unknown io_backend (epoll, uring)")),
            };
            Ok(())
        },
    )
    .note("uring falls back to epoll, saying so once, where the kernel refuses io_uring")
    .show(|s| {
        Some(Value::String(
            if s.io_uring { "uring" } else { "epoll" }.into(),
        ))
    }),
    toggle(
        "maxconns_fast",
        "no_maxconns_fast",
        "over -c, send new connections an error and close them (no_: stop accepting)",
        |b, g| {
            b.settings.maxconns_fast = !g.negated;
            Ok(())
        },
    )
    .note("`no_maxconns_fast` behaves as `maxconns_fast`, with a warning at start")
    .show(|s| Some(Value::Boolean(s.maxconns_fast))),
    toggle(
        "modern",
        "no_modern",
        "memcached's modern defaults (nothing in 1.6.18)",
        |b, g| {
            // A no-op in memcached 1.6.18 as well: only its `no_` twin is worth a warning.
            if g.negated {
                ignored(b, "modern", "false".into(), "no_modern");
            }
            Ok(())
        },
    )
    .status(Status::Ignored)
    .note("`modern` is silent, as in memcached"),
];
