//! memcached 1.6.18's options, for [`Getopt`](crate::getopt::Getopt).

use crate::getopt::{spec, Spec, Value};

/// Every option memcached 1.6.18 accepts, in the order of its own table (the order
/// decides how an ambiguous prefix's possibilities are listed).
pub(crate) const OPTIONS: &[Spec] = &[
    spec(b'a', Some("unix-mask"), Value::Required),
    spec(b'A', Some("enable-shutdown"), Value::No),
    spec(b'Z', Some("enable-ssl"), Value::No),
    spec(b'p', Some("port"), Value::Required),
    spec(b's', Some("unix-socket"), Value::Required),
    spec(b'U', Some("udp-port"), Value::Required),
    spec(b'm', Some("memory-limit"), Value::Required),
    spec(b'M', Some("disable-evictions"), Value::No),
    spec(b'c', Some("conn-limit"), Value::Required),
    spec(b'k', Some("lock-memory"), Value::No),
    spec(b'h', Some("help"), Value::No),
    spec(b'i', Some("license"), Value::No),
    spec(b'V', Some("version"), Value::No),
    spec(b'r', Some("enable-coredumps"), Value::No),
    Spec {
        short: b'v',
        long: Some("verbose"),
        short_value: Value::No,
        long_value: Value::Optional,
    },
    spec(b'd', Some("daemon"), Value::No),
    spec(b'l', Some("listen"), Value::Required),
    spec(b'u', Some("user"), Value::Required),
    spec(b'P', Some("pidfile"), Value::Required),
    spec(b'f', Some("slab-growth-factor"), Value::Required),
    spec(b'n', Some("slab-min-size"), Value::Required),
    spec(b'L', Some("enable-largepages"), Value::No),
    spec(b'R', Some("max-reqs-per-event"), Value::Required),
    spec(b'C', Some("disable-cas"), Value::No),
    spec(b'b', Some("listen-backlog"), Value::Required),
    spec(b'B', Some("protocol"), Value::Required),
    spec(b'I', Some("max-item-size"), Value::Required),
    spec(b'S', Some("enable-sasl"), Value::No),
    spec(b'F', Some("disable-flush-all"), Value::No),
    spec(b'X', Some("disable-dumping"), Value::No),
    spec(b'W', Some("disable-watch"), Value::No),
    spec(b'Y', Some("auth-file"), Value::Required),
    spec(b'e', Some("memory-file"), Value::Required),
    spec(b'o', Some("extended"), Value::Required),
    spec(b'N', Some("napi-ids"), Value::Required),
    spec(b't', Some("threads"), Value::Required),
    spec(b'D', None, Value::Required),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_short_flag_of_memcached_is_known() {
        // memcached 1.6.18's getopt string.
        let optstring = "a:AZp:s:U:m:Mc:khiVrvdl:u:P:f:n:t:D:LR:Cb:B:I:SFXWY:e:o:N:";
        let bytes = optstring.as_bytes();
        for (i, &c) in bytes.iter().enumerate() {
            if c == b':' {
                continue;
            }
            let takes_value = bytes.get(i + 1) == Some(&b':');
            let spec = OPTIONS.iter().find(|s| s.short == c).expect("flag missing");
            assert_eq!(
                spec.short_value == Value::Required,
                takes_value,
                "{}",
                c as char
            );
        }
        assert_eq!(
            OPTIONS.len(),
            optstring.chars().filter(|&c| c != ':').count()
        );
    }
}
