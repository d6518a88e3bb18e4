//! A timerfd the event loop can wait on. epoll's own timeout is in whole milliseconds,
//! far too coarse for an open-loop schedule with sends microseconds apart; a timerfd
//! wakes the loop when the next request is due, without spinning.

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use rustix::fd::{AsRawFd, OwnedFd};
use rustix::time::Timespec;
use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
};
use std::io;
use std::time::Duration;

pub struct Timer {
    fd: OwnedFd,
}

impl Timer {
    pub fn new() -> io::Result<Timer> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        Ok(Timer { fd })
    }

    pub fn register(&self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut SourceFd(&self.fd.as_raw_fd()),
            token,
            Interest::READABLE,
        )
    }

    /// Fires once, `after` from now (replacing any earlier arming).
    pub fn arm(&self, after: Duration) -> io::Result<()> {
        // An all-zero value would disarm instead of firing at once.
        let after = after.max(Duration::from_nanos(1));
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: after.as_secs() as _,
                tv_nsec: after.subsec_nanos() as _,
            },
        };
        timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec)?;
        Ok(())
    }

    /// Consumes an expiry so the next one raises a new edge.
    pub fn clear(&self) {
        let mut count = [0u8; 8];
        // EAGAIN (nothing expired since the last read) is as good as a read.
        let _ = rustix::io::read(&self.fd, &mut count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::time::Instant;

    #[test]
    fn wakes_the_poll_when_armed_and_not_before() {
        let mut poll = Poll::new().unwrap();
        let timer = Timer::new().unwrap();
        timer.register(poll.registry(), Token(7)).unwrap();
        let mut events = Events::with_capacity(4);
        // Not armed: nothing within 20 ms.
        poll.poll(&mut events, Some(Duration::from_millis(20)))
            .unwrap();
        assert!(events.is_empty());
        for _ in 0..3 {
            let start = Instant::now();
            timer.arm(Duration::from_micros(300)).unwrap();
            poll.poll(&mut events, Some(Duration::from_secs(5)))
                .unwrap();
            let waited = start.elapsed();
            assert_eq!(events.iter().next().map(|e| e.token()), Some(Token(7)));
            assert!(
                waited >= Duration::from_micros(300),
                "woke early: {waited:?}"
            );
            assert!(waited < Duration::from_secs(5));
            timer.clear();
        }
    }
}
