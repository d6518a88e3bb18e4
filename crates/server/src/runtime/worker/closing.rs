//! How sessions leave a worker: idle ones are closed once a second, and a closed one is
//! freed (out of the poll or the ring's file table, counters and buffers given back),
//! at once or, with operations still in flight on the ring, at their last completion.

use super::Worker;
use crate::runtime::counters::bump;
use crate::runtime::handler::{Handler, Service};
use crate::runtime::life::CloseReason;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

impl<H: Handler> Worker<H> {
    pub(super) fn close_idle(&mut self, idle: Duration) {
        let now = self.env.service.now();
        for slot in 0..self.sessions.len() {
            let stale = self.sessions[slot].as_ref().is_some_and(|s| {
                // Strictly more, as memcached: with whole seconds, `>=` closed a session
                // whose last command was a few milliseconds before a second boundary.
                s.is_idle()
                    && s.inbound.as_ref().is_some_and(|(info, _)| {
                        now.saturating_sub(info.last_cmd.load(Relaxed)) > idle.as_secs()
                    })
            });
            if stale {
                bump(&self.env.shared.counters().idle_kicks, 1);
                if let Some(s) = self.sessions[slot].as_mut() {
                    s.why = CloseReason::IdleTimeout;
                }
                self.close(slot);
            }
        }
        self.after_drive();
    }

    /// Closes the session in `slot`, if any: the handler hears its client is gone,
    /// buffers go back, the id goes stale. A session with operations in flight on the
    /// ring has them cancelled and is freed at the last completion (`complete_io`),
    /// since the kernel may still write into its memory until then; meanwhile it is
    /// closed to everyone else (`open_session`).
    pub(super) fn close(&mut self, slot: usize) {
        if let Some(session) = self.sessions.get_mut(slot).and_then(Option::as_mut) {
            if session.ring_busy() {
                session.start_dying(&mut self.env);
                return;
            }
        }
        self.finish_close(slot);
    }

    pub(super) fn finish_close(&mut self, slot: usize) {
        let Some(mut session) = self.sessions.get_mut(slot).and_then(Option::take) else {
            return;
        };
        match (session.ring.as_ref(), self.env.ring.as_mut()) {
            // Out of the ring's file table before the descriptor closes with the session.
            (Some(io), Some(ring)) => ring.unregister(io.file),
            _ => {
                let _ = self.poll.registry().deregister(&mut session.stream);
            }
        }
        session.release(&mut self.env);
        self.env.agenda.ids.release(session.id());
        let shared = &self.env.shared;
        if let Some((info, key)) = &session.inbound {
            shared.stats.remove_connection(*key);
            shared.stats.curr_connections.fetch_sub(1, Relaxed);
            if let Some(l) = shared.stats.listeners.get(info.listener) {
                l.open.fetch_sub(1, Relaxed);
            }
            if shared.config.verbose > 1 {
                eprintln!("<{} connection closed.", info.fd);
            }
        }
        shared
            .counters()
            .buffers_lent
            .store(self.env.pool.lent() as u64, Relaxed);
    }
}
