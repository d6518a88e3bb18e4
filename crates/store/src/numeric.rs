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

/// The decimal digits of an incr/decr result, in a stack buffer (no allocation on the
/// counter path).
#[derive(Debug, Clone, Copy)]
pub struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    pub fn new(mut value: u64) -> Digits {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        Digits { buf, start }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Length of the stored value replacing one of `old_len` bytes: memcached rewrites a
    /// number that got shorter in place, padded with spaces to the old length; a longer
    /// one gets a new item of exactly its digits.
    pub fn stored_len(&self, old_len: usize) -> usize {
        self.as_bytes().len().max(old_len)
    }

    /// Writes the stored value (digits, then space padding) into `out`, which is
    /// `stored_len` bytes.
    pub fn write_padded(&self, out: &mut [u8]) {
        let digits = self.as_bytes();
        out[..digits.len()].copy_from_slice(digits);
        out[digits.len()..].fill(b' ');
    }
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
        assert_eq!(Digits::new(0).as_bytes(), b"0");
        assert_eq!(Digits::new(u64::MAX).as_bytes(), b"18446744073709551615");
        let padded = |v: u64, old: usize| {
            let d = Digits::new(v);
            let mut out = vec![0; d.stored_len(old)];
            d.write_padded(&mut out);
            out
        };
        assert_eq!(padded(5, 3), b"5  ");
        assert_eq!(padded(11, 2), b"11");
        assert_eq!(padded(100, 2), b"100");
        assert_eq!(padded(1, 20), b"1                   ");
    }
}
