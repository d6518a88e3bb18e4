//! How other threads talk to a worker: post a task, wake its poll.
//!
//! The worker drains a bounded number of tasks per loop turn, so a flood of posts
//! cannot starve its connections.

use mio::Waker;
use std::collections::VecDeque;
use std::io;
use std::sync::Mutex;

/// A unit of work run on the worker thread with the worker's state.
pub type Task<W> = Box<dyn FnOnce(&mut W) + Send>;

/// Tasks for one worker plus the waker of its poll.
pub struct RunQueue<W> {
    tasks: Mutex<VecDeque<Task<W>>>,
    waker: Waker,
}

impl<W> RunQueue<W> {
    /// A queue waking `waker` on each post.
    pub fn new(waker: Waker) -> RunQueue<W> {
        RunQueue {
            tasks: Mutex::new(VecDeque::new()),
            waker,
        }
    }

    /// Queues `task` and wakes the worker.
    pub fn post(&self, task: Task<W>) -> io::Result<()> {
        self.lock().push_back(task);
        self.waker.wake()
    }

    /// Takes up to `max` tasks, oldest first. Returns them with whether more remain.
    pub fn drain(&self, max: usize, into: &mut Vec<Task<W>>) -> bool {
        let mut tasks = self.lock();
        let n = tasks.len().min(max);
        into.extend(tasks.drain(..n));
        !tasks.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Task<W>>> {
        // A panicking task cannot leave the queue itself inconsistent: recover the data.
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Poll, Token};

    #[test]
    fn drain_is_bounded_and_in_order() {
        let poll = Poll::new().expect("poll");
        let waker = Waker::new(poll.registry(), Token(0)).expect("waker");
        let q: RunQueue<Vec<u32>> = RunQueue::new(waker);
        for i in 0..5 {
            q.post(Box::new(move |v: &mut Vec<u32>| v.push(i)))
                .expect("post");
        }
        let mut batch = Vec::new();
        assert!(q.drain(3, &mut batch));
        let mut seen = Vec::new();
        for t in batch.drain(..) {
            t(&mut seen);
        }
        assert!(!q.drain(10, &mut batch));
        for t in batch.drain(..) {
            t(&mut seen);
        }
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }
}
