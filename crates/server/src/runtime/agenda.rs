//! The part of a worker its handlers may change: the service's worker-local state, the
//! id allocator, and what is to be done once the current call returns (completions
//! posted on the worker itself, sessions handlers opened, deadlines).
//!
//! Everything here stays on the worker thread: posting a completion to another session
//! of the same worker costs a push onto a vector, no lock and no system call.

use super::id::{ConnId, Ids};
use super::latency::Tally;
use channel::Stream;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

/// Completions worker-local deliveries may take per call, so two sessions that keep
/// completing each other cannot hold the worker.
pub(crate) const LOCAL_PER_TURN: usize = 1024;

/// A worker's handler-side state, for sessions of handler type `H` with completions `C`
/// and worker-local service state `L`.
pub(crate) struct Agenda<H, C, L> {
    /// The service's state for this worker.
    pub(crate) local: L,
    /// Hands out connection ids.
    pub(crate) ids: Ids,
    /// Worker-local completions, oldest first.
    pub(crate) completions: VecDeque<(ConnId, C)>,
    /// Sessions opened by handlers, registered once the current step returns.
    pub(crate) opens: Vec<(ConnId, Stream, H)>,
    /// Session deadlines, earliest first. An entry is stale when its session has closed
    /// or set another deadline since.
    pub(crate) deadlines: BinaryHeap<Reverse<(Instant, ConnId)>>,
    /// What the current turn answered, for the latency histograms.
    pub(crate) tally: Tally,
}

impl<H, C, L> Agenda<H, C, L> {
    pub(crate) fn new(local: L) -> Self {
        Agenda {
            local,
            ids: Ids::default(),
            completions: VecDeque::new(),
            opens: Vec::new(),
            deadlines: BinaryHeap::new(),
            tally: Tally::default(),
        }
    }

    /// Whether completions or opened sessions wait.
    #[inline]
    pub(crate) fn has_work(&self) -> bool {
        !self.opens.is_empty() || !self.completions.is_empty()
    }

    /// The earliest deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes the earliest deadline if it is due at `now`.
    pub(crate) fn due(&mut self, now: Instant) -> Option<(Instant, ConnId)> {
        if self.next_deadline()? > now {
            return None;
        }
        self.deadlines.pop().map(|Reverse(entry)| entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_come_due_earliest_first() {
        let mut a: Agenda<(), (), ()> = Agenda::new(());
        let now = Instant::now();
        a.deadlines
            .push(Reverse((now + Duration::from_secs(2), ConnId::new(1, 0))));
        a.deadlines.push(Reverse((now, ConnId::new(2, 0))));
        assert_eq!(a.next_deadline(), Some(now));
        assert_eq!(a.due(now), Some((now, ConnId::new(2, 0))));
        assert_eq!(a.due(now), None);
        assert!(a.due(now + Duration::from_secs(3)).is_some());
    }
}
