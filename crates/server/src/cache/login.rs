//! `-Y`: memcached's text-protocol login. Until a connection logs in, every line it sends
//! (classic or meta: memcached's issue #882, meta must not bypass it) is answered
//! `CLIENT_ERROR unauthenticated`, except a storage-shaped line whose value is the login:
//!
//! ```text
//! set <any key> <any flags> <any exptime> <len>\r\n
//! <user> <password>\r\n
//! ```
//!
//! answered `STORED` (logged in), `CLIENT_ERROR authentication failure`, `CLIENT_ERROR
//! bad authentication token format` (fewer than two words) or `CLIENT_ERROR bad command
//! line termination` (no `\r\n` after `len` bytes), as memcached answers them. Both
//! outcomes count `auth_cmds`, a failure `auth_errors` too. The state is the handler's
//! `authenticated` flag, one per connection.
//!
//! Where memcached is weak, Corvid refuses: a login value over 16 KiB (memcached waits
//! for it forever with a buffer that cannot hold it) is answered `CLIENT_ERROR
//! unauthenticated` and the connection closed; a line with no newline after 2 KiB closes
//! the connection, as memcached's does.

use super::state::Cx;
use super::value::Pinned;
use crate::runtime::{bump, Reply, Verdict};
use protocol::text;

/// The longest login value (`user password\r\n`) accepted.
pub(crate) const MAX_LOGIN: usize = 16 * 1024;
/// A line this long with no newline is junk (memcached's limit for it).
const MAX_LINE: usize = 2048;

/// Answers the request at the head of `input` of a connection not logged in yet; sets
/// `authenticated` on a good login.
pub(crate) fn step(
    input: &[u8],
    reply: &mut Reply<'_, Pinned>,
    authenticated: &mut bool,
    cx: &mut Cx<'_>,
) -> Verdict {
    let Some(newline) = input.iter().position(|&b| b == b'\n') else {
        return if input.len() > MAX_LINE {
            Verdict::Broken
        } else {
            Verdict::NeedBytes(1)
        };
    };
    let line = &input[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut tokens = line.split(|&b| b == b' ').filter(|t| !t.is_empty());
    let command = tokens.next();
    let len = tokens
        .nth(3)
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| t.parse::<u32>().ok());
    let (Some(b"set"), Some(len)) = (command, len) else {
        reply.line(text::CLIENT_ERROR_UNAUTHENTICATED);
        return Verdict::Consumed(newline + 1);
    };
    let value_len = len as usize + 2;
    if value_len > MAX_LOGIN {
        reply.line(text::CLIENT_ERROR_UNAUTHENTICATED);
        return Verdict::Close;
    }
    let total = newline + 1 + value_len;
    if input.len() < total {
        return Verdict::NeedBytes(total - input.len());
    }
    let value = &input[newline + 1..total];
    let Some(value) = value.strip_suffix(b"\r\n") else {
        reply.line(text::CLIENT_ERROR_BAD_COMMAND_LINE_TERMINATION);
        return Verdict::Consumed(total);
    };
    let mut words = value.split(|&b| b == b' ').filter(|t| !t.is_empty());
    let (Some(user), Some(pass)) = (words.next(), words.next()) else {
        reply.line(text::CLIENT_ERROR_BAD_AUTHENTICATION_TOKEN_FORMAT);
        return Verdict::Consumed(total);
    };
    let counters = cx.service().counters(cx.worker());
    bump(&counters.auth_cmds, 1);
    let known = cx
        .config()
        .auth_file
        .as_ref()
        .is_some_and(|users| users.check(user, pass));
    if known {
        *authenticated = true;
        reply.line(text::STORED);
    } else {
        bump(&counters.auth_errors, 1);
        reply.line(text::CLIENT_ERROR_AUTHENTICATION_FAILURE);
    }
    Verdict::Consumed(total)
}
