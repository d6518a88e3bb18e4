//! Turning a raw reply into the bytes that are compared: everything is kept verbatim except
//! what legitimately differs between two correct servers (docs/testing.md lists it and why).

use super::script::Expect;

/// Stats whose values both servers must agree on: counters that follow from the commands a
/// script sent, and settings that follow from the flags. Every other stat keeps its name
/// and position but not its value (pids, clocks, rusage, memory layout, connection counts
/// that include the startup probe, byte counts that include the CAS values sent).
pub const COMPARED_STATS: &[&str] = &[
    // stats (general)
    "max_connections",
    "rejected_connections",
    "cmd_get",
    "cmd_set",
    "cmd_flush",
    "cmd_touch",
    "cmd_meta",
    "get_hits",
    "get_misses",
    "delete_misses",
    "delete_hits",
    "incr_misses",
    "incr_hits",
    "decr_misses",
    "decr_hits",
    "cas_misses",
    "cas_hits",
    "cas_badval",
    "touch_hits",
    "touch_misses",
    "store_too_large",
    "store_no_memory",
    "auth_cmds",
    "auth_errors",
    "limit_maxbytes",
    "accepting_conns",
    "listen_disabled_num",
    "threads",
    "curr_items",
    "evictions",
    // stats settings
    "maxbytes",
    "maxconns",
    "udpport",
    "inter",
    "verbosity",
    "umask",
    "shutdown_command",
    "num_threads",
    "detail_enabled",
    "reqs_per_event",
    "cas_enabled",
    "tcp_backlog",
    "binding_protocol",
    "auth_enabled_sasl",
    "auth_enabled_ascii",
    "item_size_max",
    "flush_enabled",
    "dump_enabled",
    "maxconns_fast",
    "idle_timeout",
    "ext_item_size",
    "ext_item_age",
    "ext_low_ttl",
    "ext_recache_rate",
    "ext_wbuf_size",
    "ext_compact_under",
    "ext_drop_under",
    "ext_max_sleep",
    "ext_max_frag",
    "ext_drop_unread",
    // stats sizes
    "sizes_status",
];

/// CAS values as this server has shown them, in order of first appearance. Scripts refer
/// to them as `${casN}`; replies show them as `<casN>`, so the comparison checks that the
/// same items carry the same (or different) CAS on both servers without caring about the
/// numbers themselves. A CAS of 0 ("none", as under -C) is shown as 0, not as its label.
#[derive(Default, Debug)]
pub struct CasLabels {
    seen: Vec<u64>,
}

impl CasLabels {
    pub fn label(&mut self, cas: u64) -> usize {
        match self.seen.iter().position(|&c| c == cas) {
            Some(i) => i + 1,
            None => {
                self.seen.push(cas);
                self.seen.len()
            }
        }
    }

    pub fn value(&self, label: usize) -> Option<u64> {
        label.checked_sub(1).and_then(|i| self.seen.get(i)).copied()
    }
}

/// How a read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The expectation was met.
    Complete,
    /// The server closed the connection.
    Closed,
    /// Nothing more arrived within the safety timeout.
    TimedOut,
}

/// One raw reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub end: End,
    /// The write before this read failed (the server had closed the connection).
    pub write_failed: bool,
}

/// The comparable form of `reply`.
pub fn normalise(reply: &Reply, expect: &Expect, cas: &mut CasLabels) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.bytes.len() + 32);
    if reply.write_failed {
        out.extend_from_slice(b"<write failed: connection closed>");
    }
    if matches!(expect, Expect::Frames(_)) {
        frames(&reply.bytes, &mut out, cas);
    } else {
        lines(&reply.bytes, expect, &mut out, cas);
    }
    match reply.end {
        End::Complete => {}
        End::Closed => out.extend_from_slice(b"<connection closed>"),
        End::TimedOut => out.extend_from_slice(b"<timed out waiting for more>"),
    }
    out
}

/// Text protocol replies, line by line, with data blocks copied as they are.
fn lines(bytes: &[u8], expect: &Expect, out: &mut Vec<u8>, cas: &mut CasLabels) {
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') else {
            out.extend_from_slice(&bytes[pos..]);
            break;
        };
        let line = &bytes[pos..pos + nl + 1];
        pos += nl + 1;
        let content = trim_line_end(line);
        let ending = &line[content.len()..];
        if let Some(data_len) = value_line(content, out, cas) {
            out.extend_from_slice(ending);
            // The data block is opaque: copy it without looking for lines inside.
            let data_end = (pos + data_len + 2).min(bytes.len());
            out.extend_from_slice(&bytes[pos..data_end]);
            pos = data_end;
        } else if let Some(data_len) = meta_line(content, out, cas) {
            out.extend_from_slice(ending);
            if let Some(data_len) = data_len {
                let data_end = (pos + data_len + 2).min(bytes.len());
                out.extend_from_slice(&bytes[pos..data_end]);
                pos = data_end;
            }
        } else if content.starts_with(b"VERSION ") {
            out.extend_from_slice(b"VERSION <version>");
            out.extend_from_slice(ending);
        } else if content.starts_with(b"STAT ssl_proto_errors ") {
            // Counted by memcached after 1.6.18 and by corvid; 1.6.18 has no such line.
        } else if tls_only_stat(content) {
            // Compared across transports: only the TLS side has it.
        } else if content.starts_with(b"STAT ") && matches!(expect, Expect::Stats) {
            stat_line(content, out);
            out.extend_from_slice(ending);
        } else if content.starts_with(b"STAT ") && matches!(expect, Expect::StatsShape) {
            if !well_formed_stat(content) {
                out.extend_from_slice(b"<malformed> ");
                out.extend_from_slice(line);
            }
        } else {
            out.extend_from_slice(line);
        }
    }
}

/// Binary protocol responses, one text line per frame: header fields by name, the CAS
/// labelled like text CAS values, the version body and stats values masked as in text.
fn frames(bytes: &[u8], out: &mut Vec<u8>, cas: &mut CasLabels) {
    let mut at = 0;
    while at < bytes.len() {
        let Some(h) = bytes.get(at..at + 24) else {
            out.extend_from_slice(b"<partial header> ");
            out.extend_from_slice(escape(&bytes[at..]).as_bytes());
            return;
        };
        let key_len = u16::from_be_bytes([h[2], h[3]]) as usize;
        let extras_len = h[4] as usize;
        let body_len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let cas_value =
            u64::from_be_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]);
        let Some(body) = bytes.get(at + 24..at + 24 + body_len) else {
            out.extend_from_slice(b"<partial frame> ");
            out.extend_from_slice(escape(&bytes[at..]).as_bytes());
            return;
        };
        at += 24 + body_len;
        let extras = body.get(..extras_len).unwrap_or(body);
        let key = body
            .get(extras_len..extras_len + key_len)
            .unwrap_or_default();
        let value = body.get(extras_len + key_len..).unwrap_or_default();
        let cas_text = match cas_value {
            0 => "0".to_string(),
            v => format!("<cas{}>", cas.label(v)),
        };
        let (opcode, magic) = (h[1], h[0]);
        let value_text = if magic == 0x81 && opcode == 0x0b && !value.is_empty() {
            "<version>".to_string()
        } else if magic == 0x81 && opcode == 0x10 && !key.is_empty() {
            let compared = std::str::from_utf8(key).is_ok_and(|k| COMPARED_STATS.contains(&k));
            if compared {
                escape(value)
            } else {
                "<value>".to_string()
            }
        } else {
            escape(value)
        };
        out.extend_from_slice(
            format!(
                "frame magic={magic:02x} opcode={opcode:02x} datatype={:02x} status={:04x} \
                 opaque={:08x} cas={cas_text} extras=\"{}\" key=\"{}\" value=\"{value_text}\" \
                 (lengths key={key_len} extras={extras_len} body={body_len})\n",
                h[5],
                u16::from_be_bytes([h[6], h[7]]),
                u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
                escape(extras),
                escape(key),
            )
            .as_bytes(),
        );
    }
}

fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// If `content` is `VALUE <key> <flags> <bytes> [<cas>]`, writes its normalised form and
/// returns the length of the data block that follows.
fn value_line(content: &[u8], out: &mut Vec<u8>, cas: &mut CasLabels) -> Option<usize> {
    if !content.starts_with(b"VALUE ") {
        return None;
    }
    let tokens: Vec<&[u8]> = content.split(|&b| b == b' ').collect();
    if !(tokens.len() == 4 || tokens.len() == 5) {
        return None;
    }
    let data_len: usize = std::str::from_utf8(tokens[3]).ok()?.parse().ok()?;
    out.extend_from_slice(&content[..content.len() - tokens.last().map_or(0, |t| t.len())]);
    match tokens.get(4) {
        Some(token) => match std::str::from_utf8(token)
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
        {
            // 0 means "no CAS" (-C): a fact to compare, not a number to hide. It still takes
            // a label, so label numbers do not depend on it.
            Some(0) => {
                cas.label(0);
                out.extend_from_slice(b"0");
            }
            Some(value) => out.extend_from_slice(format!("<cas{}>", cas.label(value)).as_bytes()),
            None => out.extend_from_slice(token),
        },
        None => out.extend_from_slice(tokens[3]),
    }
    Some(data_len)
}

/// Meta protocol reply codes whose return flags may carry a CAS (`c<number>`).
const META_REPLIES: &[&[u8]] = &[b"VA", b"HD", b"EN", b"NF", b"NS", b"EX"];

/// If `content` is a meta reply, writes it with `c<cas>` flags labelled and returns
/// `Some(data length)` for `VA <len> ...`, `Some(None)` for the others.
fn meta_line(content: &[u8], out: &mut Vec<u8>, cas: &mut CasLabels) -> Option<Option<usize>> {
    let mut tokens = content.split(|&b| b == b' ');
    let code = tokens.next()?;
    if !META_REPLIES.contains(&code) {
        return None;
    }
    // Built aside so a malformed line leaves `out` untouched and is copied verbatim.
    let mut line = code.to_vec();
    let mut data_len = None;
    if code == b"VA" {
        let len = tokens.next()?;
        data_len = Some(std::str::from_utf8(len).ok()?.parse().ok()?);
        line.push(b' ');
        line.extend_from_slice(len);
    }
    for token in tokens {
        line.push(b' ');
        let number = token
            .strip_prefix(b"c")
            .filter(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<u64>().ok());
        match number {
            Some(0) => {
                cas.label(0);
                line.extend_from_slice(b"c0");
            }
            Some(value) => line.extend_from_slice(format!("c<cas{}>", cas.label(value)).as_bytes()),
            None => line.extend_from_slice(token),
        }
    }
    out.extend_from_slice(&line);
    Some(data_len)
}

/// A `stats` line only a TLS server prints, when a TLS server is compared with a plain one.
fn tls_only_stat(content: &[u8]) -> bool {
    (content.starts_with(b"STAT ssl_") || content.starts_with(b"STAT time_since_server_cert"))
        && super::run::MIXED_TRANSPORTS.with(|m| m.get())
}

fn stat_line(content: &[u8], out: &mut Vec<u8>) {
    let rest = &content[b"STAT ".len()..];
    let (name, _value) = match rest.iter().position(|&b| b == b' ') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &b""[..]),
    };
    let compared = std::str::from_utf8(name).is_ok_and(|n| COMPARED_STATS.contains(&n));
    if compared {
        out.extend_from_slice(content);
    } else {
        out.extend_from_slice(b"STAT ");
        out.extend_from_slice(name);
        out.extend_from_slice(b" <value>");
    }
}

/// `STAT <name> <value>`: a non-empty name without spaces, then a non-empty value.
fn well_formed_stat(content: &[u8]) -> bool {
    let rest = &content[b"STAT ".len()..];
    match rest.iter().position(|&b| b == b' ') {
        Some(at) => at > 0 && at + 1 < rest.len(),
        None => false,
    }
}
