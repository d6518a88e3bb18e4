//! Standard base64 (RFC 4648 alphabet, `=` padding) for meta `b` keys, without
//! allocation: decode into a caller's buffer, encode onto the end of a reply.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn value(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Decodes `src` into `out` the way memcached's decoder does: bytes outside the alphabet
/// are skipped, the remaining count must be a multiple of 4, and decoding ends with the
/// first group holding padding. None if that fails or the result does not fit `out`.
pub(crate) fn decode(src: &[u8], out: &mut [u8]) -> Option<usize> {
    let sextet = |c: u8| if c == b'=' { Some(0) } else { value(c) };
    let count = src.iter().filter(|&&c| sextet(c).is_some()).count();
    if count == 0 || !count.is_multiple_of(4) || count / 4 * 3 > out.len() {
        return None;
    }
    let mut n = 0;
    let mut group = [0u32; 4];
    let mut filled = 0;
    let mut pad = 0;
    for &c in src {
        let Some(v) = sextet(c) else {
            continue;
        };
        if c == b'=' {
            pad += 1;
        }
        group[filled] = v;
        filled += 1;
        if filled == 4 {
            let acc = (group[0] << 18) | (group[1] << 12) | (group[2] << 6) | group[3];
            out[n..n + 3].copy_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            n += 3;
            filled = 0;
            if pad > 0 {
                if pad > 2 {
                    return None;
                }
                return Some(n - pad);
            }
        }
    }
    Some(n)
}

/// Appends the base64 encoding of `src` to `out`.
pub(crate) fn encode(src: &[u8], out: &mut Vec<u8>) {
    for chunk in src.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let acc = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((acc >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}
