//! A backend server as twemproxy writes one: `host:port:weight [name]` or
//! `/path/to/socket:weight [name]`.
//!
//! ```
//! use proxy::ServerSpec;
//! let server = ServerSpec::parse("10.0.0.7:11211:2 cache-7").unwrap();
//! assert_eq!(server.weight, 2);
//! assert_eq!(server.ketama_name, b"cache-7");
//! let unnamed = ServerSpec::parse("10.0.0.7:11212:1").unwrap();
//! assert_eq!(unnamed.ketama_name, b"10.0.0.7:11212");
//! ```
//!
//! Parsing follows nutcracker's, which scans from the end: the last space starts the
//! name, the last colon before it the weight, the one before that the port. Its
//! consequences are kept, because they decide placement: without a name, a server is
//! hashed onto the continuum as `host` when its port is 11211 (libmemcached's habit) and
//! as `host:port` otherwise; a Unix socket without a name is hashed as `path:` (the colon
//! that precedes its weight is part of the name nutcracker derives).

use std::fmt;
use std::path::PathBuf;

/// The port twemproxy leaves out of a server's continuum name.
pub const KETAMA_DEFAULT_PORT: u16 = 11211;

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// A host name or address literal (not resolved here) and a port.
    Tcp { host: String, port: u16 },
    /// A Unix socket path.
    Unix(PathBuf),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One `servers:` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerSpec {
    /// The entry without its name (`host:port:weight`): twemproxy's label for the server
    /// in logs and stats.
    pub label: String,
    pub address: Address,
    /// At least 1.
    pub weight: u32,
    /// The name given after the space, if any.
    pub name: Option<String>,
    /// What ketama hashes for this server's points: the name if given, else `host` (port
    /// 11211), `host:port` or `path:`. Two servers of a pool may not share it.
    pub ketama_name: Vec<u8>,
}

/// Why a `servers:` entry was refused; the text is nutcracker's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServerSpecError {
    #[error("has an invalid \"hostname:port:weight [name]\"or \"/path/unix_socket:weight [name]\" format string")]
    Format,
    #[error("has an invalid weight in \"hostname:port:weight [name]\" format string")]
    Weight,
    #[error("has a zero weight in \"hostname:port:weight [name]\" format string")]
    ZeroWeight,
    #[error("has an invalid port in \"hostname:port:weight [name]\" format string")]
    Port,
}

impl ServerSpec {
    /// Parses one entry as nutcracker does.
    pub fn parse(text: &str) -> Result<ServerSpec, ServerSpecError> {
        let bytes = text.as_bytes();
        let unix = bytes.first() == Some(&b'/');
        // The parts, found right to left; `end` is one past the part still unparsed.
        let mut end = bytes.len();
        let mut name = None;
        if let Some(space) = last_index(&bytes[..end], b' ') {
            name = Some(&text[space + 1..end]);
            end = space;
        }
        let colon = last_index(&bytes[..end], b':').ok_or(ServerSpecError::Format)?;
        let weight_text = &text[colon + 1..end];
        end = colon;
        let mut port_text = "";
        if !unix {
            let colon = last_index(&bytes[..end], b':').ok_or(ServerSpecError::Format)?;
            port_text = &text[colon + 1..end];
            end = colon;
        }
        // nutcracker looks for one more delimiter and wants none: a Unix path may not
        // contain a colon.
        if unix && last_index(&bytes[..end], b':').is_some() {
            return Err(ServerSpecError::Format);
        }
        let host = &text[..end];

        let weight = match atoi(weight_text.as_bytes()) {
            n if n < 0 => return Err(ServerSpecError::Weight),
            0 => return Err(ServerSpecError::ZeroWeight),
            n => n as u32,
        };
        let (address, ketama_default) = if unix {
            // nutcracker's name for it keeps the colon before the weight.
            (
                Address::Unix(PathBuf::from(host)),
                format!("{host}:").into_bytes(),
            )
        } else {
            let port = atoi(port_text.as_bytes());
            if !(1..=i32::from(u16::MAX)).contains(&port) {
                return Err(ServerSpecError::Port);
            }
            let port = port as u16;
            let name = if port == KETAMA_DEFAULT_PORT {
                host.as_bytes().to_vec()
            } else {
                format!("{host}:{port_text}").into_bytes()
            };
            (
                Address::Tcp {
                    host: host.to_string(),
                    port,
                },
                name,
            )
        };
        let label = match name {
            Some(n) => text[..text.len() - n.len() - 1].to_string(),
            None => text.to_string(),
        };
        Ok(ServerSpec {
            label,
            address,
            weight,
            name: name.map(str::to_string),
            ketama_name: match name {
                Some(n) => n.as_bytes().to_vec(),
                None => ketama_default,
            },
        })
    }

    /// The name libmemcached hashes for this server in its weighted ketama: `host-N` for
    /// port 11211, else `host:port`; IPv6 literals without their brackets (as pylibmc
    /// passes them); Unix sockets as `path:0`. Given names play no part in libmemcached.
    pub fn libmemcached_name(&self) -> Vec<u8> {
        match &self.address {
            Address::Tcp { host, port } => {
                let host = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host);
                if *port == KETAMA_DEFAULT_PORT {
                    host.as_bytes().to_vec()
                } else {
                    format!("{host}:{port}").into_bytes()
                }
            }
            Address::Unix(path) => format!("{}:0", path.display()).into_bytes(),
        }
    }
}

fn last_index(bytes: &[u8], byte: u8) -> Option<usize> {
    bytes.iter().rposition(|&b| b == byte)
}

/// A number as nutcracker reads one (its flags and its YAML): `None` when it is not one.
/// See [`atoi`] for the rules.
pub fn twemproxy_number(text: &str) -> Option<i32> {
    let n = atoi(text.as_bytes());
    (n >= 0).then_some(n)
}

/// nutcracker's `nc_atoi`: decimal digits only, nothing else, not empty; -1 when not a
/// number. Overflow wraps as the C `int` arithmetic does on x86-64, and a result that
/// wrapped negative is -1, so `99999999999` is accepted as 1215752191.
pub(crate) fn atoi(text: &[u8]) -> i32 {
    if text.is_empty() {
        return -1;
    }
    let mut value: i32 = 0;
    for &byte in text {
        if !byte.is_ascii_digit() {
            return -1;
        }
        value = value.wrapping_mul(10).wrapping_add(i32::from(byte - b'0'));
    }
    if value < 0 {
        -1
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Address {
        Address::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn host_port_weight() {
        let s = ServerSpec::parse("127.0.0.1:11211:1").unwrap();
        assert_eq!(s.address, tcp("127.0.0.1", 11211));
        assert_eq!((s.weight, s.name.as_deref()), (1, None));
        assert_eq!(s.ketama_name, b"127.0.0.1");
        assert_eq!(s.label, "127.0.0.1:11211:1");
        let s = ServerSpec::parse("cache.example:22122:3").unwrap();
        assert_eq!(s.ketama_name, b"cache.example:22122");
        assert_eq!(s.weight, 3);
    }

    #[test]
    fn names_are_after_the_last_space() {
        let s = ServerSpec::parse("127.0.0.1:11212:1 server1").unwrap();
        assert_eq!(s.name.as_deref(), Some("server1"));
        assert_eq!(s.ketama_name, b"server1");
        assert_eq!(s.label, "127.0.0.1:11212:1");
        // The last space wins; what is left is not a weight.
        assert_eq!(
            ServerSpec::parse("127.0.0.1:11211:1 name with space"),
            Err(ServerSpecError::Weight)
        );
    }

    #[test]
    fn unix_sockets_keep_the_colon_in_their_name() {
        let s = ServerSpec::parse("/tmp/mc.sock:2").unwrap();
        assert_eq!(s.address, Address::Unix("/tmp/mc.sock".into()));
        assert_eq!(s.ketama_name, b"/tmp/mc.sock:");
        assert_eq!(s.libmemcached_name(), b"/tmp/mc.sock:0");
        assert_eq!(
            ServerSpec::parse("/tmp/a:b:1"),
            Err(ServerSpecError::Format)
        );
    }

    #[test]
    fn errors_in_nutcrackers_order() {
        assert_eq!(
            ServerSpec::parse("127.0.0.1:11211"),
            Err(ServerSpecError::Format)
        );
        assert_eq!(ServerSpec::parse("x"), Err(ServerSpecError::Format));
        assert_eq!(
            ServerSpec::parse("127.0.0.1:11211:0"),
            Err(ServerSpecError::ZeroWeight)
        );
        assert_eq!(
            ServerSpec::parse("127.0.0.1:11211:x"),
            Err(ServerSpecError::Weight)
        );
        assert_eq!(
            ServerSpec::parse("127.0.0.1:11211:"),
            Err(ServerSpecError::Weight)
        );
        // Weight is checked before port.
        assert_eq!(ServerSpec::parse("h:0:0"), Err(ServerSpecError::ZeroWeight));
        assert_eq!(ServerSpec::parse("h:0:1"), Err(ServerSpecError::Port));
        assert_eq!(ServerSpec::parse("h:65536:1"), Err(ServerSpecError::Port));
        assert_eq!(ServerSpec::parse("h:-1:1"), Err(ServerSpecError::Port));
        assert!(ServerSpec::parse(":11211:1").is_ok());
    }

    #[test]
    fn ipv6_literals() {
        let s = ServerSpec::parse("[::1]:22122:1").unwrap();
        assert_eq!(s.address, tcp("[::1]", 22122));
        assert_eq!(s.ketama_name, b"[::1]:22122");
        assert_eq!(s.libmemcached_name(), b"::1:22122");
    }

    #[test]
    fn atoi_is_ncs() {
        assert_eq!(atoi(b"400"), 400);
        assert_eq!(atoi(b"0400"), 400);
        for bad in [&b""[..], b"-1", b"+5", b"0x10", b"1e3", b" 1"] {
            assert_eq!(atoi(bad), -1, "{bad:?}");
        }
        assert_eq!(atoi(b"99999999999"), 1_215_752_191);
        assert_eq!(atoi(b"2147483648"), -1);
    }
}
