//! Numbers in meta tokens, read the way memcached's `safe_strtol`/`safe_strtoull` read
//! them: optional leading C-locale whitespace and sign, decimal digits, nothing after.

/// Sign and magnitude of a decimal token; None if malformed or beyond 64 bits.
fn decimal(token: &[u8]) -> Option<(bool, u64)> {
    let mut s = token;
    while let [b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r', rest @ ..] = s {
        s = rest;
    }
    let negative = match s {
        [b'-', rest @ ..] => {
            s = rest;
            true
        }
        [b'+', rest @ ..] => {
            s = rest;
            false
        }
        _ => false,
    };
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((negative, n))
}

/// `safe_strtoull` (and `safe_strtoul` on a 64-bit platform): a negative number is
/// refused unless it wraps to a value below 2^63, as strtoull's wrap-around allows.
pub(crate) fn u64_token(token: &[u8]) -> Option<u64> {
    let (negative, n) = decimal(token)?;
    if !negative {
        return Some(n);
    }
    let wrapped = n.wrapping_neg();
    (wrapped as i64 >= 0).then_some(wrapped)
}

/// `safe_strtol` into an int32: strtol's range (64-bit long), then memcached stores the
/// long into an int32 unchecked, so larger values wrap.
pub(crate) fn i32_token(token: &[u8]) -> Option<i32> {
    let (negative, n) = decimal(token)?;
    let v: i64 = if negative {
        if n > 1 << 63 {
            return None;
        }
        (n as i64).wrapping_neg()
    } else {
        i64::try_from(n).ok()?
    };
    Some(v as i32)
}
