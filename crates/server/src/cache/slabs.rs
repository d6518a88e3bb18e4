//! `slabs automove <0|1|2>` and `slabs reassign <src> <dst>`: memcached's slab page
//! mover, which Corvid does not need (its segments hold items of every size), answered
//! as memcached 1.6.18 answers on a server where no page can move, so scripts that tune
//! it get the replies they expect rather than `ERROR`.
//!
//! ```text
//! slabs automove 1        OK                  (0, 1 and 2; `ratio <x>` too)
//! slabs automove 3        ERROR
//! slabs automove x        CLIENT_ERROR bad command line format
//! slabs reassign 1 2      NOSPARE source class has no spare pages
//! slabs reassign 1 1      SAME src and dst class are identical
//! slabs reassign 99 1     BADCLASS invalid src or dst class id
//! ```
//!
//! Classes are numbered as memcached numbers them with its default `-f`, `-n` and `-I`
//! (0, the global page pool, to 39), and none has a spare page.

use protocol::text::{self, Keys};

/// The largest class id memcached 1.6.18 has with its default settings.
const LARGEST_CLASS: i32 = 39;

/// The reply to `slabs <args>`; None when it is silenced (`noreply`, which memcached
/// honours for `automove` only).
pub(crate) fn answer(mut args: Keys<'_>, noreply: bool) -> Option<&'static [u8]> {
    let rest: Vec<&[u8]> = args.by_ref().take(4).collect();
    match rest.as_slice() {
        // memcached wants exactly two arguments after `reassign`, `noreply` or not.
        [b"reassign", src, dst] => Some(reassign(src, dst)),
        [b"automove", level, more @ ..] => {
            let reply = automove(level, more.first().copied());
            (!noreply).then_some(reply)
        }
        _ => Some(text::ERROR),
    }
}

fn automove(level: &[u8], ratio: Option<&[u8]>) -> &'static [u8] {
    if level == b"ratio" {
        return match ratio.and_then(|r| std::str::from_utf8(r).ok()?.parse::<f64>().ok()) {
            Some(_) => text::OK,
            None => text::ERROR,
        };
    }
    match strtoul(level) {
        None => text::CLIENT_ERROR_BAD_FORMAT,
        Some(0..=2) => text::OK,
        Some(_) => text::ERROR,
    }
}

fn reassign(src: &[u8], dst: &[u8]) -> &'static [u8] {
    let (Some(src), Some(dst)) = (strtol(src), strtol(dst)) else {
        return text::CLIENT_ERROR_BAD_FORMAT;
    };
    if src == dst {
        return text::SAME;
    }
    // -1 asks memcached to pick a class with a spare page; there is none, so it stays -1.
    let valid = |class: i32| (0..=LARGEST_CLASS).contains(&class);
    if !valid(src) || !valid(dst) {
        return text::BADCLASS;
    }
    text::NOSPARE
}

/// memcached's `safe_strtoul` into 32 bits: an optional sign and decimal digits that fit
/// 64 bits, a negative value refused, the rest truncated as its C cast truncates.
pub(crate) fn strtoul(token: &[u8]) -> Option<u32> {
    let (negative, digits) = sign(token);
    let n = digits_value(digits)?;
    let value = if negative { n.wrapping_neg() } else { n };
    if negative && (value as i64) < 0 {
        return None;
    }
    Some(value as u32)
}

/// memcached's `safe_strtol` into 32 bits: decimal digits that fit a 64-bit `long`,
/// truncated as its C cast truncates (`2147483648` is `-2147483648`).
fn strtol(token: &[u8]) -> Option<i32> {
    let (negative, digits) = sign(token);
    let n = i64::try_from(digits_value(digits)?).ok()?;
    Some(if negative { -n } else { n } as i32)
}

fn sign(token: &[u8]) -> (bool, &[u8]) {
    match token.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, token),
    }
}

fn digits_value(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_as_memcached_parses_them() {
        assert_eq!(strtoul(b"01"), Some(1));
        assert_eq!(strtoul(b"+2"), Some(2));
        assert_eq!(strtoul(b"4294967296"), Some(0));
        assert_eq!(strtoul(b"-1"), None);
        assert_eq!(strtoul(b"-0"), Some(0));
        assert_eq!(strtoul(b"1x"), None);
        assert_eq!(strtoul(b"99999999999999999999"), None);
        assert_eq!(strtol(b"2147483648"), Some(i32::MIN));
        assert_eq!(strtol(b"-2"), Some(-2));
        assert_eq!(strtol(b"x"), None);
    }

    #[test]
    fn replies() {
        assert_eq!(automove(b"2", None), text::OK);
        assert_eq!(automove(b"3", None), text::ERROR);
        assert_eq!(automove(b"ratio", None), text::ERROR);
        assert_eq!(automove(b"ratio", Some(b"0.5")), text::OK);
        assert_eq!(reassign(b"1", b"2"), text::NOSPARE);
        assert_eq!(reassign(b"-1", b"1"), text::BADCLASS);
        assert_eq!(reassign(b"40", b"1"), text::BADCLASS);
        assert_eq!(reassign(b"3", b"3"), text::SAME);
        assert_eq!(reassign(b"1", b"noreply"), text::CLIENT_ERROR_BAD_FORMAT);
    }
}
