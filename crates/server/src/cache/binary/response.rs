//! Response frames composed into the connection's reply: successes, hits (flags, key,
//! value pinned or copied), misses with memcached's quiet rules, a hit whose value is on
//! disk (the session parks), stat frames; and whether the replies queued so far must be
//! written out before the next request is read, as memcached writes them.

use crate::cache::state::{Cx, State};
use crate::cache::tier::Expect;
use crate::cache::value::{queue_value, Pinned};
use crate::cache::waiting::{Then, Waiting};
use crate::runtime::{Reply, Verdict};
use protocol::binary::{self, Request, ResponseHeader, Status};
use store::{External, ItemRef};

/// Response composition into the reply.
pub(super) struct Out<'r, 'a> {
    pub(super) reply: &'r mut Reply<'a, Pinned>,
    /// memcached writes out everything queued right after an error or a NOOP, before it
    /// reads the next request; what it has not written yet is lost if the connection
    /// then turns out to be broken (see [`Frame::Drop`]).
    pub(super) flush: bool,
    /// The error just queued refuses a value that memcached swallows before it writes
    /// anything out (a value too large). A stream answers it at once anyway
    /// (docs/protocol-binary.md); in a datagram it decides which replies share a write.
    pub(super) swallow_first: bool,
}

impl Out<'_, '_> {
    pub(super) fn compose(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        self.reply.compose(f);
    }

    pub(super) fn error(&mut self, opcode: u8, status: Status, opaque: u32) {
        self.compose(|out| binary::write_error(out, opcode, status, opaque));
        self.flush = true;
    }

    /// A success with `body` as value and no extras or key.
    pub(super) fn success(&mut self, opcode: u8, opaque: u32, cas: u64, body: &[u8]) {
        self.compose(|out| {
            binary::write_header(
                out,
                &ResponseHeader {
                    opcode,
                    status: Status::Success,
                    extras_len: 0,
                    key_len: 0,
                    body_len: body.len() as u32,
                    opaque,
                    cas,
                },
            );
            out.extend_from_slice(body);
        });
    }

    /// A hit: flags as extras, then the key (GETK, GATK) and the value (not TOUCH).
    pub(super) fn item(
        &mut self,
        r: &Request<'_>,
        item: ItemRef<'static>,
        with_key: bool,
        with_value: bool,
    ) {
        let key_len = if with_key { r.key.len() } else { 0 };
        let value_len = if with_value { item.value().len() } else { 0 };
        let header = |out: &mut Vec<u8>, item: &ItemRef<'static>| {
            binary::write_header(
                out,
                &ResponseHeader {
                    opcode: r.opcode,
                    status: Status::Success,
                    extras_len: 4,
                    key_len: key_len as u16,
                    body_len: (4 + key_len + value_len) as u32,
                    opaque: r.opaque,
                    cas: item.cas(),
                },
            );
            out.extend_from_slice(&item.flags().to_be_bytes());
            out.extend_from_slice(&r.key[..key_len]);
        };
        if with_value {
            queue_value(self.reply, item, b"", header);
        } else {
            self.compose(|out| header(out, &item));
        }
    }

    /// A miss that is answered: GETK and GATK name the key (and send no message).
    pub(super) fn miss(&mut self, r: &Request<'_>, with_key: bool) {
        if !with_key {
            return self.error(r.opcode, Status::KeyNotFound, r.opaque);
        }
        self.compose(|out| write_miss(out, r, true));
    }

    /// A hit whose value is on disk: the session parks until it is read, the reply
    /// composed now but for the value (a miss's reply if it cannot be read). Over UDP, a
    /// miss at once, as in memcached.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn disk_item(
        &mut self,
        r: &Request<'_>,
        item: &ItemRef<'static>,
        ext: External,
        with_key: bool,
        quiet: bool,
        consumed: usize,
        state: &mut State,
        cx: &Cx<'_>,
    ) -> Verdict {
        let cache = cx.service();
        let (Some(tier), Some(ticket)) = (cache.tier.as_ref(), cx.ticket()) else {
            if !quiet {
                self.miss(r, with_key);
            }
            return Verdict::Consumed(consumed);
        };
        let key_len = if with_key { r.key.len() } else { 0 };
        let mut head = Vec::new();
        binary::write_header(
            &mut head,
            &ResponseHeader {
                opcode: r.opcode,
                status: Status::Success,
                extras_len: 4,
                key_len: key_len as u16,
                body_len: (4 + key_len + ext.value_len) as u32,
                opaque: r.opaque,
                cas: item.cas(),
            },
        );
        head.extend_from_slice(&item.flags().to_be_bytes());
        head.extend_from_slice(&r.key[..key_len]);
        let mut miss = Vec::new();
        if !quiet {
            write_miss(&mut miss, r, with_key);
        }
        let mut waiting = Waiting::new(Then::Done);
        let expect = Expect::of(item, ext);
        if let Err(miss) = waiting.push_disk(tier, ticket, r.key, ext, expect, head, miss, b"") {
            // No read buffer free (`get_oom_extstore`): not found, as memcached answers.
            if !miss.is_empty() {
                self.compose(|out| out.extend_from_slice(&miss));
            }
            return Verdict::Consumed(consumed);
        }
        *state = State::Disk(Box::new(waiting));
        Verdict::Park { consumed }
    }

    /// The text `stats` writers' "STAT name value\r\n" lines as stat frames, so that both
    /// protocols report the same names from one source.
    pub(super) fn stat_lines(&mut self, opaque: u32, text: &[u8]) {
        self.compose(|out| {
            for line in text.split(|&b| b == b'\n') {
                let Some(rest) = line.strip_prefix(b"STAT ") else {
                    continue;
                };
                let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
                let split = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
                let value = rest.get(split + 1..).unwrap_or(&[]);
                binary::write_stat(out, opaque, &rest[..split], value);
            }
        });
    }

    /// The empty stat frame that ends a stats reply.
    pub(super) fn stat_end(&mut self, opaque: u32) {
        self.compose(|out| binary::write_stat(out, opaque, b"", b""));
    }
}

/// A miss's frame: KeyNotFound, naming the key for GETK and GATK, else with memcached's
/// "Not found" message.
fn write_miss(out: &mut Vec<u8>, r: &Request<'_>, with_key: bool) {
    if !with_key {
        return binary::write_error(out, r.opcode, Status::KeyNotFound, r.opaque);
    }
    binary::write_miss_with_key(out, r.opcode, r.opaque, r.key);
}
