//! Numeric fields read exactly as memcached reads them.
//!
//! memcached parses every number with C's `strtoul`/`strtoull`/`strtol` wrapped in its
//! `safe_strto*` helpers. Clients in the wild depend on what those accept (a leading
//! `+`, leading tabs, `-0`), so the rules are reproduced here rather than replaced by
//! Rust's stricter `str::parse`.

/// C's `isspace` in the "C" locale: the bytes `strto*` skip in front of a number and
/// memcached accepts right after one.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What `strto*(token, &end, 10)` saw, before any range rule is applied.
struct Scanned {
    negative: bool,
    magnitude: u64,
    /// The digits did not fit in 64 bits (`strto*` would set `ERANGE`).
    overflow: bool,
}

/// Scans one token like `strto*` with base 10, then applies memcached's rule that the
/// number must be followed by whitespace or the end of the token. `None` means
/// memcached's `safe_strto*` would return false before any range check.
fn scan(token: &[u8]) -> Option<Scanned> {
    let mut i = token.iter().take_while(|&&b| is_c_space(b)).count();
    let mut negative = false;
    if let Some(&sign @ (b'+' | b'-')) = token.get(i) {
        negative = sign == b'-';
        i += 1;
    }
    let digits_start = i;
    let mut magnitude: u64 = 0;
    let mut overflow = false;
    while let Some(&digit @ b'0'..=b'9') = token.get(i) {
        match magnitude
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(digit - b'0')))
        {
            Some(m) => magnitude = m,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    match token.get(i) {
        Some(&next) if !is_c_space(next) => None,
        _ => Some(Scanned {
            negative,
            magnitude,
            overflow,
        }),
    }
}

/// memcached's `safe_strtoull`: `-1` is refused, but a minus sign on a number small
/// enough once negated (`-0`, `-18446744073709551615`) is accepted and wraps, as C does.
pub(crate) fn u64_field(token: &[u8]) -> Option<u64> {
    let scanned = scan(token)?;
    if scanned.overflow {
        return None;
    }
    let value = if scanned.negative {
        scanned.magnitude.wrapping_neg()
    } else {
        scanned.magnitude
    };
    // memcached only looks for a '-' when the value would be negative as a signed number.
    if (value as i64) < 0 && token.contains(&b'-') {
        return None;
    }
    Some(value)
}

/// memcached's `safe_strtoul` into a `uint32_t`: parsed as a 64-bit `unsigned long`,
/// then truncated to 32 bits without a range check.
pub(crate) fn u32_field(token: &[u8]) -> Option<u32> {
    u64_field(token).map(|value| value as u32)
}

/// memcached's `safe_strtol` into an `int32_t`: parsed as a 64-bit `long`, refused only
/// outside the 64-bit range, then truncated to 32 bits.
pub(crate) fn i32_field(token: &[u8]) -> Option<i32> {
    let scanned = scan(token)?;
    if scanned.overflow {
        return None;
    }
    let value = if scanned.negative {
        if scanned.magnitude > 1 << 63 {
            return None;
        }
        (scanned.magnitude as i64).wrapping_neg()
    } else {
        i64::try_from(scanned.magnitude).ok()?
    };
    Some(value as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers() {
        assert_eq!(u64_field(b"0"), Some(0));
        assert_eq!(u64_field(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(i32_field(b"-5"), Some(-5));
        assert_eq!(u32_field(b"4294967295"), Some(u32::MAX));
    }

    #[test]
    fn strtoull_accepts_sign_and_leading_whitespace() {
        assert_eq!(u64_field(b"+7"), Some(7));
        assert_eq!(u64_field(b"\t7"), Some(7));
        assert_eq!(u64_field(b"-0"), Some(0));
        assert_eq!(u64_field(b"7\tjunk"), Some(7));
    }

    #[test]
    fn strtoull_rejects_negative_and_overflow() {
        assert_eq!(u64_field(b"-1"), None);
        assert_eq!(u64_field(b"18446744073709551616"), None);
        assert_eq!(u64_field(b""), None);
        assert_eq!(u64_field(b"-"), None);
        assert_eq!(u64_field(b"1x"), None);
        assert_eq!(u64_field(b"0x10"), None);
    }

    #[test]
    fn strtoull_negation_wraps_like_c() {
        assert_eq!(u64_field(b"-18446744073709551615"), Some(1));
    }

    #[test]
    fn strtoul_truncates_to_32_bits() {
        assert_eq!(u32_field(b"4294967296"), Some(0));
        assert_eq!(u32_field(b"4294967297"), Some(1));
    }

    #[test]
    fn strtol_truncates_to_32_bits_and_refuses_64_bit_overflow() {
        assert_eq!(i32_field(b"2147483648"), Some(i32::MIN));
        assert_eq!(i32_field(b"4294967296"), Some(0));
        assert_eq!(i32_field(b"-9223372036854775808"), Some(0));
        assert_eq!(i32_field(b"-9223372036854775809"), None);
        assert_eq!(i32_field(b"9223372036854775807"), Some(-1));
        assert_eq!(i32_field(b"9223372036854775808"), None);
    }
}
