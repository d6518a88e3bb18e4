//! TLS (`-Z`) over real sockets with real clients: a rustls client, `openssl s_client`;
//! plain listeners beside TLS ones (`notls:`), client certificates (`mtls:`,
//! `ssl_verify_mode=2`), the oldest version allowed, certificate refresh by command and by
//! SIGHUP, large values through a small `ssl_wbuf_size`, and hostile clients: garbage
//! instead of a ClientHello, a handshake that never finishes, a record over the size
//! limit, a flood of handshakes beside an established connection. Certificates are made by
//! the test (rcgen).

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::text::TextClient;
use support::tls::{connect, Pki, TlsFiles};
use support::{Implementation, Server, Stream, TempDir, Transport};

const PATIENCE: Duration = Duration::from_secs(10);

/// corvid with `-Z` serving a certificate made now, and what it serves.
struct Tls {
    server: Server,
    pki: Pki,
    files: TlsFiles,
    _dir: TempDir,
}

impl Tls {
    fn start(args: &[&str]) -> Tls {
        Tls::start_as(Implementation::Corvid, args)
    }

    /// `args` may name `{ca}`, replaced by the CA file's path.
    fn start_as(implementation: Implementation, args: &[&str]) -> Tls {
        let dir = TempDir::new("tls");
        let pki = Pki::new();
        let files = pki.write(dir.path());
        let ca = files.ca.display().to_string();
        let mut all = files.args();
        all.extend(args.iter().map(|a| a.replace("{ca}", &ca)));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        // Plain TCP as far as the harness knows: its readiness probe is a bare connect.
        let server = Server::start(implementation, &all, Transport::Tcp);
        Tls {
            server,
            pki,
            files,
            _dir: dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.server.port()))
    }

    fn client(&self) -> TextClient {
        self.client_at(self.addr(), false)
    }

    fn client_at(&self, addr: SocketAddr, with_cert: bool) -> TextClient {
        let stream = connect(addr, self.pki.client(with_cert), PATIENCE)
            .unwrap_or_else(|e| panic!("TLS connect to {addr}: {e}\n{}", self.server.log()));
        TextClient::over(Stream::Tls(Box::new(stream)), "corvid")
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    l.local_addr().expect("addr").port()
}

/// Polls `check` until it holds (the server counts on its own threads).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stat(client: &mut TextClient, name: &str) -> String {
    client
        .stats()
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("no stat {name}"))
}

#[test]
fn text_meta_and_binary_are_served_and_settings_say_so() {
    let tls = Tls::start(&["-o", "ssl_wbuf_size=1"]);
    let mut c = tls.client();
    assert_eq!(c.set("k", b"v"), "STORED");
    assert_eq!(c.get("k").as_deref(), Some(&b"v"[..]));
    c.send(b"mg k v\r\n");
    assert_eq!(c.line(), "VA 1");
    assert_eq!(c.line(), "v");
    // A value much larger than ssl_wbuf_size (1 KiB) leaves in many records, intact.
    let big: Vec<u8> = (0..600_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(c.set("big", &big), "STORED");
    assert!(c.get("big") == Some(big.clone()), "large value corrupted");
    let settings = c.stats_group("settings");
    assert_eq!(settings["ssl_enabled"], "yes");
    assert_eq!(settings["ssl_wbuf_size"], "1024");
    assert_eq!(settings["ssl_min_version"], "tlsv1.2");
    assert_eq!(
        settings["ssl_chain_cert"],
        tls.files.cert.display().to_string()
    );
    let stats = c.stats();
    assert_eq!(stats["ssl_handshake_errors"], "0");
    assert!(stats.contains_key("time_since_server_cert_refresh"));

    // Binary over a second TLS connection: a noop frame answered.
    let mut raw = connect(tls.addr(), tls.pki.client(false), PATIENCE).expect("connect");
    let mut noop = [0u8; 24];
    noop[0] = 0x80;
    noop[1] = 0x0a;
    raw.write_all(&noop).expect("write");
    let mut reply = [0u8; 24];
    raw.read_exact(&mut reply).expect("read");
    assert_eq!((reply[0], reply[1], reply[7]), (0x81, 0x0a, 0));
}

#[test]
fn notls_listeners_are_plain_and_a_plain_client_on_a_tls_one_is_refused() {
    let plain_port = free_port();
    let listen = format!("notls:127.0.0.1:{plain_port}");
    let tls = Tls::start(&["-l", &listen]);
    let plain = TcpStream::connect((Ipv4Addr::LOCALHOST, plain_port)).expect("plain connect");
    let mut plain = TextClient::over(Stream::Tcp(plain), "corvid");
    assert_eq!(plain.set("p", b"1"), "STORED");
    let mut secure = tls.client();
    assert_eq!(secure.get("p").as_deref(), Some(&b"1"[..]));
    // Plain text to the TLS port is not a ClientHello: closed, counted.
    let mut wrong = TcpStream::connect(tls.addr()).expect("connect");
    wrong.set_read_timeout(Some(PATIENCE)).expect("timeout");
    wrong.write_all(b"get p\r\n").expect("write");
    let mut sink = Vec::new();
    let _ = wrong.read_to_end(&mut sink);
    assert!(
        !sink.windows(5).any(|w| w == b"VALUE"),
        "served plaintext on TLS"
    );
    eventually("the handshake error counted", || {
        stat(&mut secure, "ssl_handshake_errors") == "1"
    });
}

#[test]
fn client_certificates_are_required_where_asked() {
    let mutual_port = free_port();
    let listen = format!("mtls:127.0.0.1:{mutual_port}");
    let tls = Tls::start(&["-l", &listen, "-o", "ssl_ca_cert={ca}"]);
    let mutual = SocketAddr::from((Ipv4Addr::LOCALHOST, mutual_port));
    // The default listener (ssl_verify_mode=0) asks for none.
    assert_eq!(tls.client().set("a", b"1"), "STORED");
    // mtls: with a certificate the CA signed: served.
    let mut with = tls.client_at(mutual, true);
    assert_eq!(with.get("a").as_deref(), Some(&b"1"[..]));
    // Without one: the handshake fails (TLS 1.3 clients learn it at their first read).
    let refused = connect(mutual, tls.pki.client(false), PATIENCE).and_then(|mut s| {
        s.write_all(b"version\r\n")?;
        let mut buf = [0u8; 64];
        s.read(&mut buf)
    });
    assert!(
        refused.is_err() || refused.as_ref().is_ok_and(|n| *n == 0),
        "{refused:?}"
    );

    // ssl_verify_mode=2 requires one on every TLS listener.
    let strict = Tls::start(&["-o", "ssl_ca_cert={ca},ssl_verify_mode=2"]);
    let mut ok = strict.client_at(strict.addr(), true);
    assert_eq!(ok.set("b", b"2"), "STORED");
    let refused = connect(strict.addr(), strict.pki.client(false), PATIENCE).and_then(|mut s| {
        s.write_all(b"version\r\n")?;
        let mut buf = [0u8; 64];
        s.read(&mut buf)
    });
    assert!(
        refused.is_err() || refused.as_ref().is_ok_and(|n| *n == 0),
        "{refused:?}"
    );
}

#[test]
fn tls13_minimum_refuses_a_tls12_client() {
    let tls = Tls::start(&["-o", "ssl_min_version=3"]);
    let only12 = tls.pki.client_with(false, &[&rustls::version::TLS12]);
    assert!(connect(tls.addr(), only12, PATIENCE).is_err());
    let mut c = tls.client();
    assert_eq!(c.stats_group("settings")["ssl_min_version"], "tlsv1.3");
}

/// The server certificate a client was given.
fn served_cert(c: &support::tls::TlsClient) -> Vec<u8> {
    c.conn.peer_certificates().expect("a certificate")[0].to_vec()
}

#[test]
fn refresh_certs_and_sighup_reach_new_connections_only_and_a_bad_reload_keeps_the_old() {
    let tls = Tls::start(&[]);
    let old = connect(tls.addr(), tls.pki.client(false), PATIENCE).expect("connect");
    let first = served_cert(&old);
    let mut old = TextClient::over(Stream::Tls(Box::new(old)), "corvid");
    assert_eq!(old.set("k", b"1"), "STORED");

    // New files, of another CA: refresh_certs loads them.
    let second = Pki::new();
    second.write(tls._dir.path());
    old.send(b"refresh_certs\r\n");
    assert_eq!(old.line(), "OK");
    let fresh = connect(tls.addr(), second.client(false), PATIENCE).expect("new cert served");
    assert_ne!(served_cert(&fresh), first);
    // The old connection keeps its session and its certificate.
    assert_eq!(old.get("k").as_deref(), Some(&b"1"[..]));

    // A reload that fails says why and keeps what was loaded.
    std::fs::write(&tls.files.key, "not a key").expect("write");
    old.send(b"refresh_certs\r\n");
    let why = old.line();
    assert!(why.starts_with("Error loading the key"), "{why}");
    connect(tls.addr(), second.client(false), PATIENCE).expect("still the second cert");

    // SIGHUP: a third certificate.
    let third = Pki::new();
    third.write(tls._dir.path());
    let pid = tls.server.pid() as i32;
    // SAFETY: kill() with a pid this test spawned and a valid signal number.
    let sent = unsafe { libc::kill(pid, libc::SIGHUP) };
    assert_eq!(sent, 0);
    eventually("SIGHUP loads the third certificate", || {
        connect(tls.addr(), third.client(false), PATIENCE).is_ok()
    });
    assert_eq!(old.get("k").as_deref(), Some(&b"1"[..]));
    let refresh = stat(&mut old, "time_since_server_cert_refresh");
    assert!(refresh.parse::<u64>().is_ok_and(|s| s < 60), "{refresh}");
}

#[test]
fn refresh_certs_without_tls_is_refused_as_memcached_refuses_it() {
    for implementation in [Implementation::Memcached, Implementation::Corvid] {
        let server = Server::start(implementation, &[], Transport::Tcp);
        let mut c = TextClient::connect(&server);
        c.send(b"refresh_certs\r\n");
        assert_eq!(
            c.line(),
            "Error TLS not enabled",
            "{}",
            implementation.name()
        );
    }
}

/// A ClientHello as a rustls client sends it.
fn client_hello(pki: &Pki) -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut conn = rustls::ClientConnection::new(pki.client(false), name).expect("client");
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).expect("hello");
    }
    hello
}

#[test]
fn garbage_stalled_handshakes_and_oversized_records_are_closed_and_counted() {
    let tls = Tls::start(&["-o", "ssl_handshake_timeout=1"]);
    let mut watcher = tls.client();
    // Garbage instead of a ClientHello.
    let mut garbage = TcpStream::connect(tls.addr()).expect("connect");
    garbage.set_read_timeout(Some(PATIENCE)).expect("timeout");
    garbage.write_all(&[0x42; 2048]).expect("write");
    let mut sink = Vec::new();
    let _ = garbage.read_to_end(&mut sink);
    // Half a ClientHello, then silence: closed at the handshake deadline.
    let hello = client_hello(&tls.pki);
    let mut stalled = TcpStream::connect(tls.addr()).expect("connect");
    stalled.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stalled.write_all(&hello[..hello.len() / 2]).expect("write");
    let began = Instant::now();
    let _ = stalled.read_to_end(&mut sink);
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_millis(500),
        "closed too soon: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(8),
        "closed too late: {waited:?}"
    );
    eventually("both handshake errors counted", || {
        stat(&mut watcher, "ssl_handshake_errors") == "2"
    });
    // After the handshake: a record header announcing more than TLS allows.
    let mut good = connect(tls.addr(), tls.pki.client(false), PATIENCE).expect("connect");
    good.write_all(b"version\r\n").expect("write");
    let mut line = [0u8; 64];
    assert!(good.read(&mut line).expect("version") > 0);
    good.sock
        .write_all(&[0x17, 0x03, 0x03, 0xff, 0xff])
        .expect("write");
    good.sock.write_all(&[0u8; 4096]).expect("write");
    let mut rest = Vec::new();
    let _ = good.sock.read_to_end(&mut rest);
    eventually("the protocol error counted", || {
        stat(&mut watcher, "ssl_proto_errors") == "1"
    });
    assert_eq!(watcher.set("alive", b"1"), "STORED");
}

#[test]
fn a_flood_of_handshakes_does_not_hold_up_an_established_connection() {
    let tls = Tls::start(&["-o", "ssl_handshake_timeout=2"]);
    let mut client = tls.client();
    assert_eq!(client.set("k", b"v"), "STORED");
    let hello = client_hello(&tls.pki);
    let addr = tls.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooders: Vec<_> = (0..2)
        .map(|_| {
            let (hello, stop) = (hello.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut sent = 0u64;
                let mut open = std::collections::VecDeque::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(mut s) = TcpStream::connect(addr) {
                        // Each makes the server do a key exchange and a signature, then
                        // never answers: half-open until the deadline.
                        let _ = s.write_all(&hello);
                        sent += 1;
                        open.push_back(s);
                        if open.len() > 200 {
                            open.pop_front();
                        }
                    }
                }
                sent
            })
        })
        .collect();
    let mut worst = Duration::ZERO;
    let began = Instant::now();
    let mut gets = 0;
    while began.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        assert_eq!(client.get("k").as_deref(), Some(&b"v"[..]));
        worst = worst.max(t.elapsed());
        gets += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: u64 = flooders
        .into_iter()
        .map(|f| f.join().expect("flooder"))
        .sum();
    assert!(sent > 100, "the flood never got going: {sent} handshakes");
    // Generous for a loaded 2-core machine: a stalled loop would show seconds.
    assert!(
        worst < Duration::from_secs(3),
        "a get waited {worst:?} behind {sent} handshakes ({gets} gets)"
    );
    eprintln!("{gets} gets, worst {worst:?}, beside {sent} handshakes in 3 s");
}

#[test]
fn openssl_s_client_and_python_ssl_are_served() {
    let tls = Tls::start(&[]);
    let port = tls.server.port().to_string();
    let mut s_client = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-CAfile"])
        .arg(&tls.files.ca)
        .args(["-connect", &format!("127.0.0.1:{port}")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl s_client (Debian's openssl package)");
    s_client
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"set s 0 0 2\r\nhi\r\nget s\r\nquit\r\n")
        .expect("write");
    let out = s_client.wait_with_output().expect("s_client output");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "STORED\r\nVALUE s 0 2\r\nhi\r\nEND\r\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let script = format!(
        "import ssl\nfrom pymemcache.client.base import Client\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         c = Client(('127.0.0.1', {port}), tls_context=ctx)\n\
         c.set('py', b'x' * 100000)\n\
         assert c.get('py') == b'x' * 100000\n\
         assert c.get('s') == b'hi'\nprint('ok')\n",
        ca = tls.files.ca.display().to_string()
    );
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .output()
        .expect("python3 (with python3-pymemcache, which ./scripts/test installs)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn corvid_bench_drives_a_tls_server_without_errors() {
    let tls = Tls::start(&[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_corvid"))
        .args([
            "bench",
            "--server",
            &format!("127.0.0.1:{}", tls.server.port()),
        ])
        .arg("--tls-ca")
        .arg(&tls.files.ca)
        .args([
            "--requests",
            "3000",
            "--connections",
            "4",
            "--pipeline",
            "8",
        ])
        .args(["--prefill", "--keys", "500", "--quiet", "--json"])
        .output()
        .expect("corvid bench");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("\"errors\": 0"), "{text}");
}
