//! `stats conns`: one entry per listening socket, UDP socket and client, in memcached's
//! lines and order.

use super::stat_line::stat;

/// Appends `stats conns` lines for one connection.
/// One `stats conns` entry: what memcached lists of a socket, in its order of lines.
pub(crate) enum ConnEntry<'a> {
    /// A listening socket (`state conn_listening`).
    Listening { addr: &'a str },
    /// A worker's UDP socket (`UDP UDP`, `state conn_read`).
    Udp { addr: &'a str },
    /// A client, with the socket it came in on.
    Client {
        addr: &'a str,
        listen_addr: &'a str,
        state: &'a str,
    },
}

/// Appends one `stats conns` entry for descriptor `fd`.
pub(crate) fn write_conn(out: &mut Vec<u8>, fd: i64, entry: &ConnEntry<'_>, idle_secs: u64) {
    match entry {
        ConnEntry::Listening { addr } => {
            stat(out, &format!("{fd}:addr"), addr);
            stat(out, &format!("{fd}:state"), "conn_listening");
        }
        ConnEntry::Udp { addr } => {
            stat(out, &format!("{fd}:UDP"), "UDP");
            stat(out, &format!("{fd}:addr"), addr);
            stat(out, &format!("{fd}:state"), "conn_read");
        }
        ConnEntry::Client {
            addr,
            listen_addr,
            state,
        } => {
            stat(out, &format!("{fd}:addr"), addr);
            stat(out, &format!("{fd}:listen_addr"), listen_addr);
            stat(out, &format!("{fd}:state"), state);
        }
    }
    stat(out, &format!("{fd}:secs_since_last_cmd"), idle_secs);
}
