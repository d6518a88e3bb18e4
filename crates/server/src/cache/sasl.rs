//! `-S`: SASL on the binary protocol, as memcached serves it. Before a connection has
//! authenticated, only the SASL opcodes (list mechanisms 0x20, start 0x21, step 0x22)
//! and VERSION are served; any other request is answered with an auth error (0x20) and
//! the connection closed, as memcached does.
//!
//! Two mechanisms, checked against the `user:password` file `MEMCACHED_SASL_PWDB`
//! names:
//!
//! - `PLAIN` (RFC 4616): start carries `authzid NUL user NUL password`; the authzid
//!   must be empty or the user itself, as Cyrus SASL (memcached's) requires.
//! - `CRAM-MD5` (RFC 2195): start answers "continue" (0x21) with a challenge
//!   `<random.seconds@corvid>`; step carries `user hexdigest`, the HMAC-MD5 of the
//!   challenge keyed with the password, compared in constant time.
//!
//! Success answers `Authenticated`; failure `Auth failure.` (status 0x20) and the
//! connection stays open for another try. Each finished attempt counts `auth_cmds`, a
//! failed one `auth_errors` too.

use super::state::{Cx, Login};
use super::value::Pinned;
use crate::runtime::{bump, Reply, Verdict};
use hmac::{Hmac, Mac};
use protocol::binary::{
    self, opcode as op, Header, ResponseHeader, Status, HEADER_LEN, REQUEST_MAGIC,
};
use std::hash::{BuildHasher, Hasher};

/// What `list mechanisms` answers (memcached's with a `cram-md5 plain` mech_list).
pub(crate) const MECHANISMS: &[u8] = b"CRAM-MD5 PLAIN";
/// The largest SASL request body accepted; credentials are short.
const MAX_BODY: usize = 4096;

/// Handles the binary request at the head of `input` if it is SASL's to handle: a SASL
/// opcode, or anything but VERSION before authentication. `None`: serve it as usual.
pub(crate) fn step(
    input: &[u8],
    reply: &mut Reply<'_, Pinned>,
    sasl: &mut Login,
    cx: &mut Cx<'_>,
) -> Option<Verdict> {
    let Some(header) = Header::parse(input) else {
        return Some(Verdict::NeedBytes(HEADER_LEN - input.len()));
    };
    if header.magic != REQUEST_MAGIC {
        return None;
    }
    let is_sasl = matches!(
        header.opcode,
        op::SASL_LIST_MECHS | op::SASL_AUTH | op::SASL_STEP
    );
    if !is_sasl {
        if sasl.authenticated || header.opcode == op::VERSION {
            return None;
        }
        refuse(reply, &header);
        return Some(Verdict::Close);
    }
    let body = header.body_len as usize;
    let key = usize::from(header.key_len);
    let extras = usize::from(header.extras_len);
    if body > MAX_BODY || key + extras > body {
        refuse(reply, &header);
        return Some(Verdict::Close);
    }
    let total = HEADER_LEN + body;
    if input.len() < total {
        return Some(Verdict::NeedBytes(total - input.len()));
    }
    let key_bytes = &input[HEADER_LEN + extras..HEADER_LEN + extras + key];
    let value = &input[HEADER_LEN + extras + key..total];
    match header.opcode {
        op::SASL_LIST_MECHS => respond(reply, &header, Status::Success, MECHANISMS),
        op::SASL_AUTH => start(key_bytes, value, reply, &header, sasl, cx),
        _ => continue_step(key_bytes, value, reply, &header, sasl, cx),
    }
    Some(Verdict::Consumed(total))
}

/// An auth error, as memcached answers an unauthenticated request.
fn refuse(reply: &mut Reply<'_, Pinned>, header: &Header) {
    reply.compose(|out| binary::write_error(out, header.opcode, Status::AuthError, header.opaque));
}

fn respond(reply: &mut Reply<'_, Pinned>, header: &Header, status: Status, body: &[u8]) {
    reply.compose(|out| {
        binary::write_header(
            out,
            &ResponseHeader {
                opcode: header.opcode,
                status,
                extras_len: 0,
                key_len: 0,
                body_len: body.len() as u32,
                opaque: header.opaque,
                cas: 0,
            },
        );
        out.extend_from_slice(body);
    });
}

/// The attempt ended: counted, and answered.
fn outcome(
    ok: bool,
    reply: &mut Reply<'_, Pinned>,
    header: &Header,
    sasl: &mut Login,
    cx: &Cx<'_>,
) {
    let counters = cx.service().counters(cx.worker());
    bump(&counters.auth_cmds, 1);
    sasl.challenge = None;
    if ok {
        sasl.authenticated = true;
        respond(reply, header, Status::Success, b"Authenticated");
    } else {
        bump(&counters.auth_errors, 1);
        refuse(reply, header);
    }
}

fn start(
    mechanism: &[u8],
    value: &[u8],
    reply: &mut Reply<'_, Pinned>,
    header: &Header,
    sasl: &mut Login,
    cx: &Cx<'_>,
) {
    let Some(users) = cx.config().sasl.as_ref() else {
        return outcome(false, reply, header, sasl, cx);
    };
    match mechanism {
        b"PLAIN" => {
            let mut parts = value.split(|&b| b == 0);
            let ok = match (parts.next(), parts.next(), parts.next(), parts.next()) {
                // As Cyrus SASL: a user may act only as itself (no proxy authorisation).
                (Some(authzid), Some(user), Some(pass), None) => {
                    users.check(user, pass) && (authzid.is_empty() || authzid == user)
                }
                _ => false,
            };
            outcome(ok, reply, header, sasl, cx);
        }
        b"CRAM-MD5" => {
            let challenge = challenge();
            respond(reply, header, Status::AuthContinue, &challenge);
            sasl.challenge = Some(challenge);
        }
        _ => outcome(false, reply, header, sasl, cx),
    }
}

fn continue_step(
    mechanism: &[u8],
    value: &[u8],
    reply: &mut Reply<'_, Pinned>,
    header: &Header,
    sasl: &mut Login,
    cx: &Cx<'_>,
) {
    let ok = match (mechanism, sasl.challenge.take(), cx.config().sasl.as_ref()) {
        (b"CRAM-MD5", Some(challenge), Some(users)) => {
            cram_md5_matches(value, &challenge, |user| users.password(user))
        }
        _ => false,
    };
    outcome(ok, reply, header, sasl, cx);
}

/// Whether `response` (`user hexdigest`) answers `challenge` with the user's password.
pub(crate) fn cram_md5_matches(
    response: &[u8],
    challenge: &[u8],
    password: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
) -> bool {
    let Some(space) = response.iter().rposition(|&b| b == b' ') else {
        return false;
    };
    let (user, digest) = (&response[..space], &response[space + 1..]);
    // An unknown user still costs a digest, so timing does not tell users apart.
    let known = password(user);
    let key = known.as_deref().unwrap_or(b"");
    let Ok(mut mac) = Hmac::<md5::Md5>::new_from_slice(key) else {
        return false;
    };
    mac.update(challenge);
    let expected = hex(&mac.finalize().into_bytes());
    let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_slice(), digest).into();
    same && known.is_some()
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .collect()
}

/// A fresh challenge: unique per attempt (a random number from the standard library's
/// per-process keys, mixed with a counter and the time), not secret.
fn challenge() -> Box<[u8]> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(n);
    hasher.write_u128(now.as_nanos());
    format!("<{}.{}@corvid>", hasher.finish(), now.as_secs())
        .into_bytes()
        .into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cram_md5_follows_rfc_2195() {
        // RFC 2195's example: user tim, password tanstaaftanstaaf.
        let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
        let password = |u: &[u8]| (u == b"tim").then(|| b"tanstaaftanstaaf".to_vec());
        assert!(cram_md5_matches(
            b"tim b913a602c7eda7a495b4e6e7334d3890",
            challenge,
            password
        ));
        assert!(!cram_md5_matches(
            b"tim b913a602c7eda7a495b4e6e7334d3891",
            challenge,
            password
        ));
        assert!(!cram_md5_matches(
            b"tom b913a602c7eda7a495b4e6e7334d3890",
            challenge,
            password
        ));
        assert!(!cram_md5_matches(b"tim", challenge, password));
        assert_ne!(super::challenge(), super::challenge());
    }
}
