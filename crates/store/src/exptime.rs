//! memcached's expiry argument turned into an absolute deadline.

/// Exptimes up to this many seconds are relative; larger ones are unix times.
pub const RELATIVE_MAX: i64 = 60 * 60 * 24 * 30;

/// An item's end of life in unix seconds; `NEVER` means it does not expire.
pub type Deadline = u64;

pub const NEVER: Deadline = 0;

/// Turns a wire exptime into a deadline: 0 never expires; up to 30 days counts from `now`;
/// beyond that it is an absolute unix time; negative means already expired. An item is dead
/// once `now >= deadline`, as in memcached, so a 10-second item read 10 s later is gone.
pub fn deadline(exptime: i64, now: u64) -> Deadline {
    if exptime == 0 {
        NEVER
    } else if exptime < 0 {
        // Any past instant will do; 1 is the earliest that is not NEVER.
        1
    } else if exptime <= RELATIVE_MAX {
        now + exptime as u64
    } else if (exptime as u64) <= now {
        1
    } else {
        exptime as u64
    }
}

/// True when an item with this deadline is dead at `now`.
pub fn is_expired(deadline: Deadline, now: u64) -> bool {
    deadline != NEVER && now >= deadline
}

/// Seconds left, -1 for never (meta `t`).
pub fn remaining(deadline: Deadline, now: u64) -> i64 {
    if deadline == NEVER {
        -1
    } else {
        deadline.saturating_sub(now) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_never() {
        assert_eq!(deadline(0, 1000), NEVER);
        assert!(!is_expired(NEVER, u64::MAX));
    }

    #[test]
    fn relative_up_to_thirty_days() {
        let now = 1_700_000_000;
        assert_eq!(deadline(10, now), now + 10);
        assert_eq!(deadline(RELATIVE_MAX, now), now + RELATIVE_MAX as u64);
    }

    #[test]
    fn absolute_beyond_thirty_days() {
        let now = 1_700_000_000;
        assert_eq!(
            deadline(RELATIVE_MAX + 1, now),
            1,
            "absolute in the past is expired"
        );
        assert_eq!(deadline(now as i64 + 50, now), now + 50);
        assert_eq!(deadline(now as i64, now), 1);
    }

    #[test]
    fn negative_is_expired() {
        assert!(is_expired(deadline(-1, 5000), 5000));
    }

    #[test]
    fn boundary() {
        let d = deadline(10, 100);
        assert!(!is_expired(d, 109));
        assert!(is_expired(d, 110));
        assert_eq!(remaining(d, 104), 6);
    }
}
