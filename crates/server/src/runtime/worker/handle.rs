//! The acceptor's side of a worker: starting its thread, handing it connections, asking
//! it to stop.

use super::{port_token, Worker, WAKER};
use crate::runtime::counters::bump;
use crate::runtime::handler::{Handler, Service, WorkerShared};
use crate::runtime::queue::{Message, RunQueue};
use crate::Security;
use channel::Stream;
use mio::{Interest, Poll};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The acceptor's handle on a worker.
pub(crate) struct WorkerHandle<C> {
    pub(crate) queue: Arc<RunQueue<Message<C>>>,
    pub(crate) thread: std::thread::JoinHandle<()>,
}

impl<C: Send + 'static> WorkerHandle<C> {
    /// Starts worker number `index` on its own thread.
    pub(crate) fn spawn<H>(
        index: usize,
        config: Arc<crate::ServerConfig>,
        stats: Arc<crate::runtime::counters::RuntimeStats>,
        shutdown: Arc<crate::runtime::shutdown::Shutdown>,
        service: Arc<H::Service>,
    ) -> std::io::Result<WorkerHandle<C>>
    where
        H: Handler<Completion = C>,
    {
        let poll = Poll::new()?;
        let queue = Arc::new(RunQueue::new(mio::Waker::new(poll.registry(), WAKER)?));
        let shared = WorkerShared {
            index,
            counters: stats.workers[index].clone(),
            config,
            stats,
            queue: queue.clone(),
            shutdown,
        };
        let ports = service.ports(index)?;
        for (i, port) in ports.iter().enumerate() {
            poll.registry().register(
                &mut mio::unix::SourceFd(&port.fd()),
                port_token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
        }
        // memcached counts each thread's UDP socket as an open connection.
        let count = ports.len() as u64;
        shared.stats.curr_connections.fetch_add(count, Relaxed);
        bump(&shared.counters().total_connections, count);
        let thread = std::thread::Builder::new()
            .name(format!("worker-{index}"))
            .spawn(move || Worker::<H>::new(shared, service, poll, ports).run())?;
        Ok(WorkerHandle { queue, thread })
    }

    /// Hands over a connection accepted on listener number `listener`.
    pub(crate) fn adopt(&self, stream: Stream, security: Security, listener: usize) {
        // Failing to wake means the worker is gone; the stream is then dropped (closed).
        let _ = self.queue.post(Message::Adopt(stream, security, listener));
    }

    pub(crate) fn begin_shutdown(&self) {
        let _ = self.queue.post(Message::Shutdown);
    }

    pub(crate) fn join(self) {
        let _ = self.thread.join();
    }
}
