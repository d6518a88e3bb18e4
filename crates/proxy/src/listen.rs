//! A listener address as twemproxy writes one: `host:port`, or `/path/to/socket` with
//! optional octal permissions after a space.
//!
//! ```
//! use proxy::ListenAddress;
//! assert_eq!(
//!     ListenAddress::parse("127.0.0.1:22121").unwrap(),
//!     ListenAddress::Tcp { host: "127.0.0.1".into(), port: 22121 },
//! );
//! assert_eq!(
//!     ListenAddress::parse("/run/proxy.sock 0660").unwrap(),
//!     ListenAddress::Unix { path: "/run/proxy.sock".into(), mode: Some(0o660) },
//! );
//! ```
//!
//! Names are not resolved here (no IO in this crate): the binary resolves them when it
//! binds, and `corvid proxy -t` resolves them as `nutcracker -t` does.

use std::fmt;
use std::path::PathBuf;

use crate::server::atoi;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListenAddress {
    /// An empty host means every interface.
    Tcp { host: String, port: u16 },
    /// `mode` is the socket file's permission bits, when given.
    Unix { path: PathBuf, mode: Option<u32> },
}

/// Why a `listen:` value was refused; the text is nutcracker's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListenError {
    #[error("has an invalid \"hostname:port\" format string")]
    Format,
    #[error("has an invalid port in \"hostname:port\" format string")]
    Port,
    #[error("has an invalid file permission in \"socket_path permission\" format string")]
    Permission,
}

impl ListenAddress {
    pub fn parse(text: &str) -> Result<ListenAddress, ListenError> {
        if text.starts_with('/') {
            return Ok(match text.rfind(' ') {
                None => ListenAddress::Unix {
                    path: PathBuf::from(text),
                    mode: None,
                },
                Some(space) => ListenAddress::Unix {
                    path: PathBuf::from(&text[..space]),
                    mode: Some(octal(&text[space + 1..]).ok_or(ListenError::Permission)?),
                },
            });
        }
        let colon = text.rfind(':').ok_or(ListenError::Format)?;
        let port = atoi(&text.as_bytes()[colon + 1..]);
        if !(1..=i32::from(u16::MAX)).contains(&port) {
            return Err(ListenError::Port);
        }
        Ok(ListenAddress::Tcp {
            host: text[..colon].to_string(),
            port: port as u16,
        })
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Tcp { host, port } => write!(f, "{host}:{port}"),
            ListenAddress::Unix { path, mode: None } => write!(f, "{}", path.display()),
            ListenAddress::Unix {
                path,
                mode: Some(mode),
            } => write!(f, "{} {mode:04o}", path.display()),
        }
    }
}

/// `strtol(text, NULL, 8)` as nutcracker uses it: leading blanks, a sign, then octal
/// digits up to the first other character (none gives 0); `None` when the value does
/// not fit a `long` or, as a `mode_t`, exceeds 0777.
fn octal(text: &str) -> Option<u32> {
    let text = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let mut value: i64 = 0;
    for byte in digits.bytes().take_while(|b| (b'0'..=b'7').contains(b)) {
        value = value.checked_mul(8)?.checked_add(i64::from(byte - b'0'))?;
    }
    let value = if negative { -value } else { value };
    // The C code stores the long in a mode_t (unsigned 32 bits) and compares.
    let mode = value as u32;
    (mode <= 0o777).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_takes_the_last_colon() {
        assert_eq!(
            ListenAddress::parse("[::1]:22121").unwrap(),
            ListenAddress::Tcp {
                host: "[::1]".into(),
                port: 22121
            }
        );
        assert_eq!(
            ListenAddress::parse(":22121").unwrap(),
            ListenAddress::Tcp {
                host: String::new(),
                port: 22121
            }
        );
        assert_eq!(ListenAddress::parse("127.0.0.1"), Err(ListenError::Format));
        assert_eq!(ListenAddress::parse("h:0"), Err(ListenError::Port));
        assert_eq!(ListenAddress::parse("h:99999"), Err(ListenError::Port));
        assert_eq!(ListenAddress::parse("h:"), Err(ListenError::Port));
    }

    #[test]
    fn unix_permissions_are_strtol_octal() {
        let mode = |t: &str| match ListenAddress::parse(t) {
            Ok(ListenAddress::Unix { mode, .. }) => Ok(mode),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(mode("/s"), Ok(None));
        assert_eq!(mode("/s 0666"), Ok(Some(0o666)));
        assert_eq!(mode("/s 0999"), Ok(Some(0))); // nutcracker accepts this too
        assert_eq!(mode("/s 777"), Ok(Some(0o777)));
        assert_eq!(mode("/s 1000"), Err(ListenError::Permission));
        assert_eq!(mode("/s -1"), Err(ListenError::Permission));
    }
}
