//! A new connection's arrival on a worker: the acceptor's stream becomes a session (TLS
//! wrapped on a TLS listener, counted in `stats conns`, put in the ring's file table on
//! io_uring) and is driven once.

use super::{Ready, Worker};
use crate::runtime::address::{peer_name, socket_name};
use crate::runtime::counters::{bump, ConnInfo, ConnState};
use crate::runtime::handler::{Handler, Service};
use crate::runtime::ring::RingIo;
use crate::runtime::session::Session;
use crate::Security;
use channel::Stream;
use mio::Interest;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

impl<H: Handler> Worker<H> {
    /// Takes on a connection the acceptor accepted on listener number `listener`; on a
    /// TLS listener, as a TLS stream whose handshake happens here, as it is read.
    pub(super) fn adopt(&mut self, stream: Stream, security: Security, listener: usize) {
        let stats = &self.env.shared.stats;
        if self.stopping.is_some() {
            stats.curr_connections.fetch_sub(1, Relaxed);
            if let Some(l) = stats.listeners.get(listener) {
                l.open.fetch_sub(1, Relaxed);
            }
            return;
        }
        let stream = match (security, &self.env.shared.config.tls) {
            (Security::Plain, _) | (_, None) => stream,
            (security, Some(tls)) => {
                match stream.into_tls(&tls.context, security == Security::MutualTls) {
                    Some(stream) => stream,
                    None => {
                        stats.curr_connections.fetch_sub(1, Relaxed);
                        if let Some(l) = stats.listeners.get(listener) {
                            l.open.fetch_sub(1, Relaxed);
                        }
                        return;
                    }
                }
            }
        };
        let fd = stream.fd();
        let id = self.env.agenda.ids.allocate();
        let listen_addr = match stream.local_addr() {
            Some(addr) => socket_name("tcp", addr),
            None => stats
                .listeners
                .get(listener)
                .map(|l| l.addr.clone())
                .unwrap_or_default(),
        };
        let info = Arc::new(ConnInfo {
            fd: i64::from(fd),
            addr: peer_name(&stream),
            listen_addr,
            listener,
            worker: self.env.shared.index,
            id,
            last_cmd: AtomicU64::new(self.env.service.now()),
            state: AtomicU8::new(ConnState::New as u8),
        });
        let key = stats.add_connection(info.clone());
        bump(&self.env.shared.counters().total_connections, 1);
        if self.env.shared.config.verbose > 1 {
            eprintln!("<{fd} new client connection");
        }
        let handler = self
            .env
            .service
            .accept_on(&mut self.env.agenda.local, &stream, listener);
        if stream.is_handshaking() {
            self.handshakes.started(id);
        }
        // Plain streams do their IO on the ring; TLS ones (whose records rustls reads
        // and writes through system calls) keep to epoll.
        let file = match self.env.ring.as_mut() {
            Some(ring) if !stream.buffers_input() => Some(ring.register(id.slot(), fd)),
            _ => None,
        };
        let mut session = Session::new(stream, id, Some((info, key)), handler);
        session.ring = file.map(RingIo::new);
        self.insert(session);
    }

    /// Registers a new session and drives it once: data may have arrived before the
    /// registration, and the edge that announced it is gone.
    pub(super) fn insert(&mut self, mut session: Session<H>) {
        let id = session.id();
        let slot = id.slot() as usize;
        if self.sessions.len() <= slot {
            self.sessions.resize_with(slot + 1, || None);
        }
        // Edge-triggered, both directions, registered once: no re-registration calls.
        // A session on the ring is not registered: its completions wake it.
        let registered = match session.ring {
            Some(_) => Ok(()),
            None => self.poll.registry().register(
                &mut session.stream,
                id.token(),
                Interest::READABLE | Interest::WRITABLE,
            ),
        };
        self.sessions[slot] = Some(session);
        if registered.is_err() {
            return self.close(slot);
        }
        self.ready.push(Ready::Session(id));
    }
}
