//! What a worker allows TLS handshakes: a few handshake steps per loop turn, and a
//! deadline for each.
//!
//! A handshake step (reading a ClientHello: a key exchange and a signature) costs a few
//! hundred microseconds of cryptography. Taking at most [`PER_TURN`] per loop turn means
//! a flood of new connections delays the established ones by at most that much per turn;
//! the rest wait for the next turn, which comes at once (the worker does not sleep while
//! work waits). A client that opens a connection and never finishes its handshake is
//! closed at its deadline; deadlines are kept in accept order, which is deadline order,
//! so checking them costs a look at the front of a queue.

use super::id::ConnId;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Handshake steps a worker takes per loop turn.
pub(crate) const PER_TURN: usize = 4;

/// A worker's handshake budget and deadlines.
pub(crate) struct Handshakes {
    budget: usize,
    timeout: Duration,
    deadlines: VecDeque<(Instant, ConnId)>,
}

impl Handshakes {
    pub(crate) fn new(timeout: Duration) -> Handshakes {
        Handshakes {
            budget: PER_TURN,
            timeout,
            deadlines: VecDeque::new(),
        }
    }

    /// A loop turn begins: the budget is full again.
    #[inline]
    pub(crate) fn new_turn(&mut self) {
        self.budget = PER_TURN;
    }

    /// Whether one more handshake step fits this turn (and takes it).
    #[inline]
    pub(crate) fn admit(&mut self) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        true
    }

    /// Session `id` began a handshake now.
    pub(crate) fn started(&mut self, id: ConnId) {
        self.deadlines
            .push_back((Instant::now() + self.timeout, id));
    }

    /// The earliest deadline, for the poll's timeout.
    #[inline]
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.front().map(|&(at, _)| at)
    }

    /// A session whose deadline has passed (it may have finished its handshake or
    /// closed since: the caller checks).
    pub(crate) fn due(&mut self, now: Instant) -> Option<ConnId> {
        match self.deadlines.front() {
            Some(&(at, id)) if at <= now => {
                self.deadlines.pop_front();
                Some(id)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refills_each_turn_and_deadlines_come_in_order() {
        let mut h = Handshakes::new(Duration::ZERO);
        for _ in 0..PER_TURN {
            assert!(h.admit());
        }
        assert!(!h.admit());
        h.new_turn();
        assert!(h.admit());
        let (a, b) = (ConnId::new(1, 0), ConnId::new(2, 0));
        h.started(a);
        h.started(b);
        assert!(h.next_deadline().is_some());
        let now = Instant::now();
        assert_eq!(h.due(now), Some(a));
        assert_eq!(h.due(now), Some(b));
        assert_eq!(h.due(now), None);
        assert_eq!(h.next_deadline(), None);
    }
}
