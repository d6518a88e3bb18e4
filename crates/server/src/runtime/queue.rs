//! How other threads talk to a worker: post a message to its run queue, wake its poll.
//!
//! ```
//! use server::runtime::RunQueue;
//! let poll = mio::Poll::new().unwrap();
//! let waker = mio::Waker::new(poll.registry(), mio::Token(0)).unwrap();
//! let queue: RunQueue<u32> = RunQueue::new(waker);
//! queue.post(7).unwrap();
//! let mut batch = Vec::new();
//! assert!(!queue.drain(64, &mut batch));
//! assert_eq!(batch, [7]);
//! ```
//!
//! The worker drains a bounded number of messages per loop turn, so a flood of posts
//! cannot starve its connections. A post wakes the worker only when the queue was empty:
//! a worker that has not drained the earlier messages yet has been woken already.

use super::id::ConnId;
use channel::Stream;
use mio::Waker;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};

/// What other threads send a worker whose sessions complete with `C`.
pub(crate) enum Message<C> {
    /// A connection the acceptor took, how its listener carries it, and the listener's
    /// number: serve it.
    Adopt(Stream, crate::Security, usize),
    /// Work a parked session waited for is done.
    Complete(ConnId, C),
    /// Stop: drain and exit.
    Shutdown,
}

/// The right to resume one parked session, from any thread: [`Ticket::complete`] posts
/// the completion to the session's worker, which hands it to the session's handler
/// (`Handler::resume`) unless the connection has closed meanwhile (then it is dropped
/// and counted as stale).
pub struct Ticket<C> {
    id: ConnId,
    queue: Arc<RunQueue<Message<C>>>,
}

impl<C> Ticket<C> {
    pub(crate) fn new(id: ConnId, queue: Arc<RunQueue<Message<C>>>) -> Ticket<C> {
        Ticket { id, queue }
    }

    /// The session this ticket resumes.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Posts `completion` to the session's worker. Fails only if the worker is gone
    /// (the server stopped), in which case the completion is dropped.
    pub fn complete(self, completion: C) -> io::Result<()> {
        self.queue.post(Message::Complete(self.id, completion))
    }
}

impl<C> Clone for Ticket<C> {
    fn clone(&self) -> Self {
        Ticket {
            id: self.id,
            queue: self.queue.clone(),
        }
    }
}

impl<C> std::fmt::Debug for Ticket<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ticket({})", self.id)
    }
}

/// Messages for one worker plus the waker of its poll.
pub struct RunQueue<M> {
    messages: Mutex<VecDeque<M>>,
    waker: Waker,
}

impl<M> RunQueue<M> {
    /// A queue waking `waker`.
    pub fn new(waker: Waker) -> RunQueue<M> {
        RunQueue {
            messages: Mutex::new(VecDeque::new()),
            waker,
        }
    }

    /// Queues `message`, waking the worker if it may be asleep.
    pub fn post(&self, message: M) -> io::Result<()> {
        let was_empty = {
            let mut messages = self.lock();
            messages.push_back(message);
            messages.len() == 1
        };
        if was_empty {
            self.waker.wake()?;
        }
        Ok(())
    }

    /// Takes up to `max` messages, oldest first; true if more remain (then the worker
    /// must come back without waiting for a wake-up).
    pub fn drain(&self, max: usize, into: &mut Vec<M>) -> bool {
        let mut messages = self.lock();
        let n = messages.len().min(max);
        into.extend(messages.drain(..n));
        !messages.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<M>> {
        // A panic while holding the lock cannot leave a VecDeque inconsistent.
        self.messages.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::time::Duration;

    #[test]
    fn drain_is_bounded_and_in_order() {
        let poll = Poll::new().expect("poll");
        let waker = Waker::new(poll.registry(), Token(0)).expect("waker");
        let q: RunQueue<u32> = RunQueue::new(waker);
        for i in 0..5 {
            q.post(i).expect("post");
        }
        let mut batch = Vec::new();
        assert!(q.drain(3, &mut batch));
        assert!(!q.drain(10, &mut batch));
        assert_eq!(batch, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_post_to_an_empty_queue_wakes_the_poll() {
        let mut poll = Poll::new().expect("poll");
        let waker = Waker::new(poll.registry(), Token(9)).expect("waker");
        let q: RunQueue<u32> = RunQueue::new(waker);
        q.post(1).expect("post");
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .expect("poll");
        assert!(events.iter().any(|e| e.token() == Token(9)));
    }
}
