//! Reply bytes: memcached's fixed reply lines (the one table of them, for the classic
//! and the meta commands alike) and the two lines that carry numbers.
//!
//! The writers append to the connection's output buffer and format numbers on the
//! stack, so once the buffer has grown they never allocate.

pub const STORED: &[u8] = b"STORED\r\n";
pub const NOT_STORED: &[u8] = b"NOT_STORED\r\n";
pub const EXISTS: &[u8] = b"EXISTS\r\n";
pub const NOT_FOUND: &[u8] = b"NOT_FOUND\r\n";
pub const DELETED: &[u8] = b"DELETED\r\n";
pub const TOUCHED: &[u8] = b"TOUCHED\r\n";
pub const END: &[u8] = b"END\r\n";
pub const OK: &[u8] = b"OK\r\n";
/// `stats reset`.
pub const RESET: &[u8] = b"RESET\r\n";
/// `version` replies `VERSION <x.y.z>\r\n`; the server supplies the version.
pub const VERSION_PREFIX: &[u8] = b"VERSION ";
/// Unknown command or wrong number of tokens.
pub const ERROR: &[u8] = b"ERROR\r\n";

pub const CLIENT_ERROR_BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format\r\n";
/// The data block of a storage command was not followed by `\r\n`.
pub const CLIENT_ERROR_BAD_DATA_CHUNK: &[u8] = b"CLIENT_ERROR bad data chunk\r\n";
pub const CLIENT_ERROR_INVALID_EXPTIME: &[u8] = b"CLIENT_ERROR invalid exptime argument\r\n";
pub const CLIENT_ERROR_INVALID_DELTA: &[u8] = b"CLIENT_ERROR invalid numeric delta argument\r\n";
/// `incr`/`decr` on a value that is not a decimal number.
pub const CLIENT_ERROR_NON_NUMERIC: &[u8] =
    b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
pub const CLIENT_ERROR_DELETE_USAGE: &[u8] =
    b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
/// `shutdown <anything but graceful>` when shutdown is enabled (`-A`).
pub const CLIENT_ERROR_INVALID_SHUTDOWN_MODE: &[u8] = b"CLIENT_ERROR invalid shutdown mode\r\n";
/// `flush_all` when flushing is disabled (`-F`), checked before its arguments.
pub const CLIENT_ERROR_FLUSH_NOT_ALLOWED: &[u8] = b"CLIENT_ERROR flush_all not allowed\r\n";
/// `stats detail` without `on`, `off` or `dump`.
pub const CLIENT_ERROR_STATS_DETAIL_USAGE: &[u8] =
    b"CLIENT_ERROR usage: stats detail on|off|dump\r\n";
/// A value larger than the item size limit; the server swallows `bytes` + 2.
pub const SERVER_ERROR_TOO_LARGE: &[u8] = b"SERVER_ERROR object too large for cache\r\n";
/// No memory for a value that would fit; the server swallows `bytes` + 2.
pub const SERVER_ERROR_OUT_OF_MEMORY_STORING: &[u8] =
    b"SERVER_ERROR out of memory storing object\r\n";
/// `incr`/`decr` could not allocate the new value.
pub const SERVER_ERROR_OUT_OF_MEMORY: &[u8] = b"SERVER_ERROR out of memory\r\n";
/// A multi-get could not build its reply.
pub const SERVER_ERROR_OUT_OF_MEMORY_GET: &[u8] =
    b"SERVER_ERROR out of memory writing get response\r\n";
/// Sent to a connection over the `-c` limit, which is then closed.
pub const ERROR_TOO_MANY_CONNECTIONS: &[u8] = b"ERROR Too many open connections\r\n";
/// `watch` under `-W`.
pub const CLIENT_ERROR_WATCH_NOT_ALLOWED: &[u8] = b"CLIENT_ERROR watch commands not allowed\r\n";
/// `stats cachedump` under `-X`.
pub const CLIENT_ERROR_CACHEDUMP_NOT_ALLOWED: &[u8] =
    b"CLIENT_ERROR stats cachedump not allowed\r\n";
/// `lru_crawler metadump` under `-X`.
pub const ERROR_METADUMP_NOT_ALLOWED: &[u8] = b"ERROR metadump not allowed\r\n";
/// `refresh_certs` without `-Z` (memcached's case and all).
pub const ERROR_TLS_NOT_ENABLED: &[u8] = b"Error TLS not enabled\r\n";
/// `-Y`: any line before the login, and a login value over 16 KiB.
pub const CLIENT_ERROR_UNAUTHENTICATED: &[u8] = b"CLIENT_ERROR unauthenticated\r\n";
/// `-Y`: a login with an unknown user or a wrong password.
pub const CLIENT_ERROR_AUTHENTICATION_FAILURE: &[u8] = b"CLIENT_ERROR authentication failure\r\n";
/// `-Y`: a login value of fewer than two words.
pub const CLIENT_ERROR_BAD_AUTHENTICATION_TOKEN_FORMAT: &[u8] =
    b"CLIENT_ERROR bad authentication token format\r\n";
/// `-Y`: a login value not followed by `\r\n`.
pub const CLIENT_ERROR_BAD_COMMAND_LINE_TERMINATION: &[u8] =
    b"CLIENT_ERROR bad command line termination\r\n";
/// `lru_crawler metadump` behind replies not yet sent in the same batch.
pub const ERROR_METADUMP_PIPELINED: &[u8] =
    b"ERROR cannot pipeline other commands before metadump\r\n";
/// `lru_crawler metadump` under `-o no_lru_crawler`.
pub const CLIENT_ERROR_LRU_CRAWLER_DISABLED: &[u8] = b"CLIENT_ERROR lru crawler disabled\r\n";
/// `lru_crawler metadump` naming a class id that is not one.
pub const BADCLASS_CLASS_ID: &[u8] = b"BADCLASS invalid class id\r\n";
/// `stats cachedump` with fewer than two arguments.
pub const CLIENT_ERROR_BAD_COMMAND_LINE: &[u8] = b"CLIENT_ERROR bad command line\r\n";
/// `stats cachedump` of a class id past memcached's largest.
pub const CLIENT_ERROR_ILLEGAL_SLAB_ID: &[u8] = b"CLIENT_ERROR Illegal slab id\r\n";
/// `shutdown` (with any arguments) when the server was started without `-A`.
pub const SHUTDOWN_NOT_ENABLED: &[u8] = b"ERROR: shutdown not enabled\r\n";
/// `slabs reassign` with a source class that has fewer than two pages.
pub const NOSPARE: &[u8] = b"NOSPARE source class has no spare pages\r\n";
/// `slabs reassign` from a class to itself.
pub const SAME: &[u8] = b"SAME src and dst class are identical\r\n";
/// `slabs reassign` naming a class that does not exist.
pub const BADCLASS: &[u8] = b"BADCLASS invalid src or dst class id\r\n";
/// `stats sizes`: Corvid has no slab classes to histogram.
pub const STATS_SIZES_DISABLED: &[u8] = b"STAT sizes_status disabled\r\n";

/// Meta `mn`: the end of a batch.
pub const MN: &[u8] = b"MN\r\n";
/// Meta `mg` miss (and `me` of a missing key), without return flags.
pub const EN: &[u8] = b"EN\r\n";

/// Appends `VALUE <key> <flags> <bytes>[ <cas>]\r\n`, the line before each hit's data.
pub fn write_value_header(
    out: &mut Vec<u8>,
    key: &[u8],
    flags: u32,
    bytes: usize,
    cas: Option<u64>,
) {
    let mut numbers = itoa::Buffer::new();
    out.extend_from_slice(b"VALUE ");
    out.extend_from_slice(key);
    out.push(b' ');
    out.extend_from_slice(numbers.format(flags).as_bytes());
    out.push(b' ');
    out.extend_from_slice(numbers.format(bytes).as_bytes());
    if let Some(cas) = cas {
        out.push(b' ');
        out.extend_from_slice(numbers.format(cas).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `<n>\r\n`, the reply to a successful `incr`/`decr`.
pub fn write_number_line(out: &mut Vec<u8>, n: u64) {
    let mut numbers = itoa::Buffer::new();
    out.extend_from_slice(numbers.format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_header_without_and_with_cas() {
        let mut out = Vec::new();
        write_value_header(&mut out, b"foo", 5, 3, None);
        assert_eq!(out, b"VALUE foo 5 3\r\n");
        out.clear();
        write_value_header(&mut out, b"k", u32::MAX, 0, Some(u64::MAX));
        assert_eq!(out, b"VALUE k 4294967295 0 18446744073709551615\r\n");
    }

    #[test]
    fn number_line() {
        let mut out = Vec::new();
        write_number_line(&mut out, 0);
        write_number_line(&mut out, u64::MAX);
        assert_eq!(out, b"0\r\n18446744073709551615\r\n");
    }

    #[test]
    fn writers_do_not_reallocate_once_grown() {
        let mut out = Vec::with_capacity(512);
        let before = out.as_ptr();
        for _ in 0..4 {
            write_value_header(&mut out, &[b'k'; 250], u32::MAX, usize::MAX, Some(u64::MAX));
            write_number_line(&mut out, u64::MAX);
            assert!(out.len() <= 512);
            out.clear();
        }
        assert_eq!(out.as_ptr(), before);
        assert_eq!(out.capacity(), 512);
    }
}
