//! Park and resume, over real sockets, with a handler defined here: a line protocol
//! whose requests park their session until another thread (or the test itself, through
//! a ticket) completes them, holding a store pin and a reservation meanwhile so that a
//! leak would show.
//!
//! Requests, one per line:
//! - `echo W`: answers `W`.
//! - `park MS W`: parks; a thread completes it with `W` after MS milliseconds.
//! - `hold`: parks and hands its ticket to the test, which completes it when it likes.
//! - `id`: answers `SLOT.GENERATION` of the connection.
//! - `wait`: parks until another connection of the same worker sends `wake W`, which
//!   completes it worker-locally (no run queue, no lock).
//! - `sleep MS`: parks until a deadline MS milliseconds away passes.
//! - `quit`: answers `Close` while still busy (a reply owed), handing its ticket to the
//!   test; the session must wait for the completion, not ask the handler again and again.
//! - `open`: opens an outbound session (another handler kind on the same worker) over a
//!   socket the test holds the other end of; every line the test writes there reaches
//!   this connection as `peer: LINE`.

mod backend;

use channel::Stream;
use server::runtime::{
    ConnId, Context, Handler, Reply, Runtime, RuntimeStats, Service, Shutdown, Ticket, Verdict,
};
use server::ServerConfig;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use store::{ItemRef, Reservation, Store, StoreConfig, StoreMode};

/// What a parked request holds until it is resumed or its client is gone.
struct Held {
    _pin: ItemRef<'static>,
    _reservation: Reservation<'static>,
}

enum Test {
    /// A client connection; `owing`: busy, a reply still to come (`quit`).
    Client { held: Option<Held>, owing: bool },
    /// An outbound session forwarding each line it reads to `client`.
    Peer { client: ConnId },
}

struct TestService {
    store: &'static Store,
    tickets: Mutex<Sender<Ticket<Vec<u8>>>>,
    /// Parked requests holding a pin and a reservation now.
    holding: AtomicUsize,
    /// Handlers told their client is gone.
    gone: AtomicUsize,
    /// The end of a socket pair `open` turns into an outbound session.
    peer: Mutex<Option<std::os::unix::net::UnixStream>>,
}

/// Each worker's connections waiting for a `wake`.
#[derive(Default)]
struct Waiting(Vec<ConnId>);

impl Service for TestService {
    type Handler = Test;
    type Local = Waiting;

    fn local(&self, _worker: usize) -> Waiting {
        Waiting::default()
    }

    fn accept(&self, _: &mut Waiting, _: &Stream) -> Test {
        Test::Client {
            held: None,
            owing: false,
        }
    }

    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

fn line(input: &[u8]) -> Option<(Vec<&str>, usize)> {
    let end = input.iter().position(|&b| b == b'\n')?;
    let text = std::str::from_utf8(&input[..end]).unwrap_or("");
    Some((text.split_whitespace().collect(), end + 1))
}

impl Test {
    fn hold(&mut self, service: &TestService) {
        if let Test::Client { held, .. } = self {
            let pin = service.store.get(b"pinned").expect("the test stored it");
            let reservation = service.store.reserve(b"r", 64, 0, 0).expect("room");
            *held = Some(Held {
                _pin: pin,
                _reservation: reservation,
            });
            service.holding.fetch_add(1, SeqCst);
        }
    }

    fn release(&mut self, service: &TestService) {
        if let Test::Client { held, .. } = self {
            if held.take().is_some() {
                service.holding.fetch_sub(1, SeqCst);
            }
        }
    }
}

impl Handler for Test {
    type Service = TestService;
    type Completion = Vec<u8>;
    type Payload = &'static [u8];

    fn step(
        &mut self,
        input: &[u8],
        reply: &mut Reply<'_, &'static [u8]>,
        cx: &mut Context<'_, Self>,
    ) -> Verdict {
        let Some((words, used)) = line(input) else {
            return Verdict::NeedBytes(1);
        };
        if let Test::Peer { client } = *self {
            let mut forwarded = b"peer: ".to_vec();
            forwarded.extend_from_slice(&input[..used]);
            cx.complete(client, forwarded);
            return Verdict::Consumed(used);
        }
        let service = cx.service();
        match words.as_slice() {
            ["echo", word] => reply.compose(|o| {
                o.extend_from_slice(word.as_bytes());
                o.push(b'\n');
            }),
            ["park", ms, word] => {
                self.hold(service);
                let ticket = cx.ticket().expect("a stream can park");
                let ms: u64 = ms.parse().expect("milliseconds");
                let word = format!("{word}\n").into_bytes();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(ms));
                    let _ = ticket.complete(word);
                });
                return Verdict::Park { consumed: used };
            }
            ["hold"] => {
                self.hold(service);
                let ticket = cx.ticket().expect("a stream can park");
                let tickets = service.tickets.lock().expect("lock");
                tickets.send(ticket).expect("the test listens");
                return Verdict::Park { consumed: used };
            }
            ["id"] => {
                let id = cx.id().expect("a stream has an id");
                reply.compose(|o| o.extend_from_slice(format!("{id}\n").as_bytes()));
            }
            ["wait"] => {
                let id = cx.id().expect("a stream has an id");
                cx.local().0.push(id);
                return Verdict::Park { consumed: used };
            }
            ["wake", word] => {
                let Some(waiting) = cx.local().0.pop() else {
                    reply.line(b"nobody\n");
                    return Verdict::Consumed(used);
                };
                cx.complete(waiting, format!("{word}\n").into_bytes());
                reply.line(b"woke\n");
            }
            ["quit"] => {
                if let Test::Client { owing, .. } = self {
                    *owing = true;
                }
                let ticket = cx.ticket().expect("a stream has tickets");
                let tickets = service.tickets.lock().expect("lock");
                tickets.send(ticket).expect("the test listens");
                // The line is not consumed: asked again, the handler answers the same.
                return Verdict::Close;
            }
            ["sleep", ms] => {
                cx.set_deadline(Duration::from_millis(ms.parse().expect("milliseconds")));
                return Verdict::Park { consumed: used };
            }
            ["open"] => {
                let end = service.peer.lock().expect("lock").take().expect("one open");
                end.set_nonblocking(true).expect("nonblocking");
                let stream = Stream::Unix(mio::net::UnixStream::from_std(end));
                let client = cx.id().expect("a stream has an id");
                cx.open(stream, Test::Peer { client });
                reply.line(b"opened\n");
            }
            _ => reply.line(b"what?\n"),
        }
        Verdict::Consumed(used)
    }

    fn resume(
        &mut self,
        completion: Vec<u8>,
        _input: &[u8],
        reply: &mut Reply<'_, &'static [u8]>,
        cx: &mut Context<'_, Self>,
    ) -> Verdict {
        self.release(cx.service());
        if let Test::Client { owing, .. } = self {
            *owing = false;
        }
        reply.compose(|o| o.extend_from_slice(&completion));
        Verdict::Continue
    }

    fn busy(&self) -> bool {
        matches!(self, Test::Client { owing: true, .. })
    }

    fn expired(
        &mut self,
        _input: &[u8],
        reply: &mut Reply<'_, &'static [u8]>,
        _cx: &mut Context<'_, Self>,
    ) -> Verdict {
        reply.line(b"expired\n");
        Verdict::Continue
    }

    fn gone(&mut self, _input: &[u8], cx: &mut Context<'_, Self>) {
        self.release(cx.service());
        cx.service().gone.fetch_add(1, SeqCst);
    }
}

struct Running {
    addr: SocketAddr,
    service: Arc<TestService>,
    stats: Arc<RuntimeStats>,
    shutdown: Arc<Shutdown>,
    tickets: Receiver<Ticket<Vec<u8>>>,
    thread: Option<JoinHandle<Result<(), server::ServerError>>>,
}

fn start(threads: usize, idle_timeout: Option<Duration>) -> Running {
    let store: &'static Store =
        Box::leak(Box::new(Store::new(StoreConfig::default()).expect("store")));
    store
        .store(StoreMode::Set, b"pinned", b"value", 0, 0)
        .expect("store");
    let (send, tickets) = channel();
    let service = Arc::new(TestService {
        store,
        tickets: Mutex::new(send),
        holding: AtomicUsize::new(0),
        gone: AtomicUsize::new(0),
        peer: Mutex::new(None),
    });
    let config = ServerConfig {
        tcp: vec!["127.0.0.1:0".parse().expect("addr")],
        threads,
        idle_timeout,
        io_backend: backend::io_backend(),
        ..ServerConfig::default()
    };
    let runtime = Runtime::bind(Arc::new(config)).expect("bind");
    let addr = runtime.local_addrs()[0];
    let stats = runtime.stats();
    let shutdown = runtime.shutdown();
    let s = service.clone();
    let thread = std::thread::spawn(move || runtime.run(s));
    Running {
        addr,
        service,
        stats,
        shutdown,
        tickets,
        thread: Some(thread),
    }
}

impl Running {
    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        s
    }

    fn ticket(&self) -> Ticket<Vec<u8>> {
        self.tickets
            .recv_timeout(Duration::from_secs(20))
            .expect("a ticket")
    }

    /// Polls until `what` holds (the worker may still be busy when the client is done).
    fn until(&self, what: &str, mut done: impl FnMut(&Running) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Nothing held: no pin, no reservation, no pooled buffer, no parked request.
    fn leaks_nothing(&self, what: &str) {
        self.until(what, |r| {
            r.service.store.pinned_items() == 0
                && r.service.store.open_reservations() == 0
                && r.service.holding.load(SeqCst) == 0
                && r.stats.totals().buffers_lent == 0
        });
    }

    fn stop(mut self) -> Duration {
        let begun = Instant::now();
        self.shutdown.request();
        let thread = self.thread.take().expect("running");
        thread.join().expect("no panic").expect("clean exit");
        begun.elapsed()
    }
}

fn read_exactly(s: &mut TcpStream, want: &[u8]) {
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got).expect("read");
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
}

/// Resets the connection (SO_LINGER 0): the server sees an error, not a half-close.
fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .expect("linger");
    drop(s);
}

fn reads_eof(s: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset),
    }
}

#[test]
fn pipelined_requests_around_parked_ones_are_answered_in_order() {
    let r = start(2, None);
    let mut s = r.connect();
    s.write_all(b"echo a\npark 200 b\necho c\npark 50 d\npark 1 e\necho f\n")
        .expect("write");
    read_exactly(&mut s, b"a\nb\nc\nd\ne\nf\n");
    r.leaks_nothing("after the parked requests");
    // Requests split across writes, one arriving while the session is parked.
    s.write_all(b"park 100 x\nec").expect("write");
    std::thread::sleep(Duration::from_millis(20));
    s.write_all(b"ho y\n").expect("write");
    read_exactly(&mut s, b"x\ny\n");
    r.stop();
}

#[test]
fn a_client_that_resets_while_parked_leaks_nothing() {
    let r = start(1, None);
    let mut s = r.connect();
    // Pipelined input behind the parked request keeps a read buffer busy too.
    s.write_all(b"echo a\nhold\necho never\n").expect("write");
    read_exactly(&mut s, b"a\n");
    let ticket = r.ticket();
    assert_eq!(r.service.holding.load(SeqCst), 1);
    reset(s);
    // The hang-up is seen while parked: the handler lets go at once.
    r.until("the handler to hear its client left", |r| {
        r.service.gone.load(SeqCst) == 1
    });
    r.leaks_nothing("after the reset");
    // The completion comes too late and is dropped, counted.
    ticket.complete(b"late\n".to_vec()).expect("post");
    r.until("a stale completion", |r| {
        r.stats.totals().stale_completions == 1
    });
    r.stop();
}

#[test]
fn a_client_that_half_closes_while_parked_gets_its_answer_then_leaks_nothing() {
    let r = start(1, None);
    let mut s = r.connect();
    s.write_all(b"hold\necho after\n").expect("write");
    let ticket = r.ticket();
    s.shutdown(std::net::Shutdown::Write).expect("half-close");
    std::thread::sleep(Duration::from_millis(50));
    ticket.complete(b"answer\n".to_vec()).expect("post");
    read_exactly(&mut s, b"answer\nafter\n");
    assert!(reads_eof(&mut s));
    r.leaks_nothing("after the half-closed client");
    assert_eq!(r.stats.totals().stale_completions, 0);
    r.stop();
}

#[test]
fn a_completion_for_a_reused_slot_is_recognised_by_its_generation_and_dropped() {
    // One worker, so the second connection takes the slot the first one freed.
    let r = start(1, None);
    let mut a = r.connect();
    a.write_all(b"id\nhold\n").expect("write");
    let mut first = [0u8; 64];
    let n = a.read(&mut first).expect("read");
    let a_id = String::from_utf8_lossy(&first[..n]).trim().to_string();
    let ticket = r.ticket();
    reset(a);
    r.until("the first connection to close", |r| {
        r.service.gone.load(SeqCst) == 1
    });
    let mut b = r.connect();
    b.write_all(b"id\n").expect("write");
    let n = b.read(&mut first).expect("read");
    let b_id = String::from_utf8_lossy(&first[..n]).trim().to_string();
    let (a_slot, a_gen) = a_id.split_once('.').expect("slot.generation");
    let (b_slot, b_gen) = b_id.split_once('.').expect("slot.generation");
    assert_eq!(a_slot, b_slot, "the slot is reused");
    assert_ne!(a_gen, b_gen, "with a new generation");
    assert_eq!(ticket.id().to_string(), a_id);
    // The first connection's completion arrives: it must not reach the second one.
    ticket.complete(b"not for you\n".to_vec()).expect("post");
    r.until("the stale completion to be counted", |r| {
        r.stats.totals().stale_completions == 1
    });
    b.write_all(b"echo ok\n").expect("write");
    read_exactly(&mut b, b"ok\n");
    r.leaks_nothing("after the stale completion");
    r.stop();
}

#[test]
fn idle_timeout_closes_a_parked_connection() {
    let r = start(1, Some(Duration::from_secs(1)));
    let mut s = r.connect();
    s.write_all(b"hold\n").expect("write");
    let _ticket = r.ticket();
    let begun = Instant::now();
    assert!(reads_eof(&mut s), "closed by the idle timeout");
    // More than a second idle, checked once a second: closed within 1-3 s.
    assert!(
        begun.elapsed() < Duration::from_secs(10),
        "{:?}",
        begun.elapsed()
    );
    r.until("the handler to hear its client left", |r| {
        r.service.gone.load(SeqCst) == 1
    });
    r.leaks_nothing("after the idle timeout");
    r.stop();
}

#[test]
fn shutdown_with_a_parked_connection_exits_cleanly_and_promptly() {
    let r = start(2, None);
    let mut s = r.connect();
    s.write_all(b"echo a\nhold\n").expect("write");
    read_exactly(&mut s, b"a\n");
    let _never_completed = r.ticket();
    let took = r.stop();
    // A parked session gets the drain deadline (4 s) to finish, then is closed.
    assert!(
        took < server::runtime::DRAIN_DEADLINE + Duration::from_secs(5),
        "shutdown took {took:?}"
    );
    assert!(reads_eof(&mut s));
}

#[test]
fn shutdown_lets_a_parked_request_finish_first() {
    let r = start(1, None);
    let mut s = r.connect();
    s.write_all(b"park 300 done\necho not-read\n")
        .expect("write");
    // Parked, with a request behind it.
    r.until("the request to park", |r| {
        r.service.holding.load(SeqCst) == 1
    });
    let service = r.service.clone();
    let stopping = std::thread::spawn(move || r.stop());
    // The parked request is answered; what came after it is not read.
    read_exactly(&mut s, b"done\n");
    assert!(reads_eof(&mut s));
    // The server lingers until the client closes, then exits.
    drop(s);
    let took = stopping.join().expect("no panic");
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    assert_eq!(service.holding.load(SeqCst), 0);
}

#[test]
fn a_session_completes_another_on_its_worker_without_the_run_queue() {
    let r = start(1, None);
    let mut waiter = r.connect();
    waiter.write_all(b"wait\necho then\n").expect("write");
    let mut waker = r.connect();
    // The waiter must have parked first: ask until it has.
    loop {
        waker.write_all(b"wake hello\n").expect("write");
        let mut buf = [0u8; 16];
        let n = waker.read(&mut buf).expect("read");
        match &buf[..n] {
            b"woke\n" => break,
            b"nobody\n" => std::thread::sleep(Duration::from_millis(5)),
            other => panic!("{}", String::from_utf8_lossy(other)),
        }
    }
    read_exactly(&mut waiter, b"hello\nthen\n");
    r.stop();
}

#[test]
fn an_outbound_session_of_another_kind_feeds_a_client_session() {
    let r = start(1, None);
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
    *r.service.peer.lock().expect("lock") = Some(theirs);
    let mut s = r.connect();
    s.write_all(b"open\n").expect("write");
    read_exactly(&mut s, b"opened\n");
    let mut ours = ours;
    ours.write_all(b"one\ntwo\n").expect("write");
    read_exactly(&mut s, b"peer: one\npeer: two\n");
    s.write_all(b"echo still\n").expect("write");
    read_exactly(&mut s, b"still\n");
    r.stop();
}

#[test]
fn a_deadline_resumes_a_parked_session() {
    let r = start(1, None);
    let mut s = r.connect();
    let begun = Instant::now();
    s.write_all(b"sleep 150\necho after\n").expect("write");
    read_exactly(&mut s, b"expired\nafter\n");
    assert!(begun.elapsed() >= Duration::from_millis(150));
    r.stop();
}

#[test]
fn a_handler_that_closes_while_busy_does_not_spin_its_worker() {
    // One worker: if it spun on the closing session, the second client would never be
    // served.
    let r = start(1, None);
    let mut quitter = r.connect();
    quitter
        .write_all(
            b"quit
",
        )
        .expect("write");
    let ticket = r.ticket();
    let mut other = r.connect();
    other
        .write_all(
            b"echo alive
",
        )
        .expect("write");
    read_exactly(
        &mut other, b"alive
",
    );
    // The owed reply goes out, then the session closes.
    ticket
        .complete(
            b"bye
"
            .to_vec(),
        )
        .expect("post");
    read_exactly(
        &mut quitter,
        b"bye
",
    );
    assert!(reads_eof(&mut quitter));
    r.stop();
}

/// Writes `chunk` again and again without reading until the server stops taking bytes
/// (half a second of full socket buffers); the bytes written. Panics past `cap`: the
/// server went on receiving.
fn write_until_refused(s: &mut TcpStream, chunk: &[u8], cap: usize) -> usize {
    s.set_nonblocking(true).expect("nonblocking");
    let (mut sent, mut refusals) = (0, 0);
    while refusals < 10 {
        match s.write(chunk) {
            Ok(n) => (sent, refusals) = (sent + n, 0),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                refusals += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("write: {e}"),
        }
        assert!(sent < cap, "the server kept receiving: {sent} bytes taken");
    }
    s.set_nonblocking(false).expect("blocking");
    sent
}

#[test]
fn a_parked_session_receives_nothing_until_resumed() {
    let r = start(1, None);
    let mut s = r.connect();
    s.write_all(b"hold\n").expect("write");
    let ticket = r.ticket();
    let before = r.stats.totals().bytes_read;
    // On io_uring its receive is cancelled: what the client sends stays in the socket.
    let sent = write_until_refused(&mut s, &b"echo x\n".repeat(10_000), 64 << 20);
    let taken = r.stats.totals().bytes_read - before;
    assert!(
        taken < 1 << 20,
        "{taken} of {sent} bytes received while parked"
    );
    // Resumed, it receives again: the answer, then echoes of what waited.
    ticket.complete(b"held\n".to_vec()).expect("post");
    read_exactly(&mut s, b"held\n");
    read_exactly(&mut s, &b"x\n".repeat(50_000));
    reset(s);
    r.leaks_nothing("after the parked receiver");
    r.stop();
}
