//! Replies made comparable: each server's version string replaced, CAS values numbered in
//! order of appearance, text and binary alike, with the datagram cuts kept.

use protocol::binary::opcode as op;

use crate::support::normalise::CasLabels;
/// Version strings are each server's own, and CAS values are numbered in order of first
/// appearance (as in the binary differential scripts: the same items must carry the same
/// or different CAS on both servers, whatever the numbers); everything else must match.
/// A message's datagrams are joined, normalised and cut again where they were cut.
pub(crate) fn normalise(datagrams: Vec<Vec<u8>>, cas: &mut CasLabels) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = datagrams.into_iter();
    while let Some(first) = rest.next() {
        let total = match first.get(4..6) {
            Some(t) => usize::from(u16::from_be_bytes([t[0], t[1]])),
            None => 0,
        };
        let mut message = vec![first];
        while message.len() < total {
            match rest.next() {
                Some(d) => message.push(d),
                None => break,
            }
        }
        out.extend(normalise_message(message, cas));
    }
    out
}

fn normalise_message(message: Vec<Vec<u8>>, cas: &mut CasLabels) -> Vec<Vec<u8>> {
    let mut payload: Vec<u8> = message
        .iter()
        .flat_map(|d| d.get(8..).unwrap_or_default())
        .copied()
        .collect();
    let before = payload.len();
    if payload.starts_with(b"VERSION ") {
        payload = b"VERSION <version>\r\n".to_vec();
    } else if payload.first() == Some(&0x81) {
        normalise_binary(&mut payload, cas);
    }
    if payload.len() != before {
        // Only a VERSION reply changes length, and it fits one datagram.
        let mut d = message[0].get(..8).unwrap_or_default().to_vec();
        d.extend_from_slice(&payload);
        return vec![d];
    }
    let mut at = 0;
    message
        .into_iter()
        .map(|mut d| {
            let n = d.len().saturating_sub(8);
            d.truncate(d.len() - n);
            d.extend_from_slice(&payload[at..at + n]);
            at += n;
            d
        })
        .collect()
}

/// Binary response frames: CAS values numbered, VERSION's value replaced.
fn normalise_binary(payload: &mut Vec<u8>, cas: &mut CasLabels) {
    let mut at = 0;
    while let Some(h) = payload.get(at..at + 24) {
        if h[0] != 0x81 {
            return;
        }
        let opcode = h[1];
        let status = u16::from_be_bytes([h[6], h[7]]);
        let body = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let value = u64::from_be_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]);
        if value != 0 {
            let label = cas.label(value) as u64;
            payload[at + 16..at + 24].copy_from_slice(&label.to_be_bytes());
        }
        let body_end = (at + 24 + body).min(payload.len());
        if opcode == op::VERSION && status == 0 {
            let version = b"<version>";
            payload.splice(at + 24..body_end, version.iter().copied());
            payload[at + 8..at + 12].copy_from_slice(&(version.len() as u32).to_be_bytes());
            at += 24 + version.len();
        } else {
            at = body_end;
        }
    }
}
