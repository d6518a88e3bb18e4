//! The decimal numbers incr/decr read from and write into values, as memcached reads them.

/// Parses an item value the way memcached 1.6's incr/decr does (strtoull plus its checks):
/// leading whitespace is skipped, an optional sign, at least one digit, and then either the
/// end or a whitespace byte (anything after it is ignored). Overflow is an error; a minus
/// sign is allowed only when the wrapped result is not "negative" (so `-0` is 0).
pub fn parse_value(v: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < v.len() && is_space(v[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < v.len() && (v[i] == b'+' || v[i] == b'-') {
        negative = v[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut n: u64 = 0;
    while i < v.len() && v[i].is_ascii_digit() {
        n = n.checked_mul(10)?.checked_add(u64::from(v[i] - b'0'))?;
        i += 1;
    }
    if i == start {
        return None;
    }
    if i < v.len() && !is_space(v[i]) {
        return None;
    }
    if negative {
        n = n.wrapping_neg();
        if (n as i64) < 0 {
            return None;
        }
    }
    Some(n)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The bytes memcached stores after incr/decr: the decimal number, right-padded with spaces
/// to the old length when it fits there (memcached rewrites in place), else exactly the digits.
pub fn render(value: u64, old_len: usize) -> Vec<u8> {
    let mut out = value.to_string().into_bytes();
    if out.len() < old_len {
        out.resize(old_len, b' ');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_memcached_accepts() {
        assert_eq!(parse_value(b"100"), Some(100));
        assert_eq!(parse_value(b" 10"), Some(10));
        assert_eq!(parse_value(b"\t7"), Some(7));
        assert_eq!(parse_value(b"10 20"), Some(10));
        assert_eq!(parse_value(b"+5"), Some(5));
        assert_eq!(parse_value(b"-0"), Some(0));
        assert_eq!(parse_value(b"0005"), Some(5));
        assert_eq!(parse_value(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_value(b"5  "), Some(5));
    }

    #[test]
    fn rejects_what_memcached_rejects() {
        for v in [
            &b"-5"[..],
            b" ",
            b"",
            b"abc",
            b"12abc",
            b"99999999999999999999",
            b"18446744073709551616",
        ] {
            assert_eq!(parse_value(v), None, "{:?}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn render_pads_in_place() {
        assert_eq!(render(5, 3), b"5  ");
        assert_eq!(render(11, 2), b"11");
        assert_eq!(render(100, 2), b"100");
        assert_eq!(render(1, 20), b"1                   ");
    }
}
