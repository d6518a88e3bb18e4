//! The differential scripts, through `corvid proxy` in front of one memcached: a client
//! of the proxy must see byte for byte what a client of that memcached sees (issue 18).
//! The script's flags configure the memcached behind the proxy.
//!
//! Scripts about the server process itself are left out, each for its reason:
//! `shutdown*` (the proxy is not stopped by its clients: it answers `shutdown` with
//! memcached's refusal), `stats` and the binary `admin` (the proxy answers `stats` with
//! its own counters), `disabled_commands` (`-F -X -W` change what the memcached behind
//! answers for commands the proxy answers itself) and binary `disabled` (likewise for
//! flags the proxy does not pass on; `modes_ascii` and `modes_binary` are the same kind:
//! memcached's `-B`). Everything else runs.

#[macro_use]
mod support;

use support::Implementation;
macro_rules! through_proxy {
    ($module:ident, $sub:expr; $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[test]
                fn $name() {
                    crate::support::suite::check($sub, stringify!($name), crate::Implementation::Proxy);
                }
            )*
        }
    };
}

through_proxy! { text, "";
    cas, commands, delete_touch, errors, expiry, fairness, flush, half_close, incr_decr,
    interleave, keys, large_values, long_lines, multiget, noreply, pipeline, retrieval,
    sizes, sizes_large_limit, sizes_small_limit, storage, tokens, unix_socket, cas_disabled,
}

through_proxy! { meta, "meta";
    basics, delete_arith, errors, get, nocas, set, stampede,
}

through_proxy! { binary, "binary";
    arithmetic, malformed, modes, pipeline, retrieval, storage,
}
