//! TLS streams against a rustls client over real loopback sockets, with certificates made
//! by the test (rcgen).

use super::*;
use crate::{Outcome, Stream};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A directory of test files, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(label: &str) -> Dir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Relaxed);
        let path =
            std::env::temp_dir().join(format!("channel-tls-{}-{label}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Dir(path)
    }
    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA and a certificate it signed for `name`.
struct Issued {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

fn issue(name: &str) -> Issued {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("signed");
    Issued {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

fn settings(dir: &Dir, server: &Issued) -> TlsSettings {
    TlsSettings {
        chain_cert: Some(dir.file("chain.pem", server.cert_pem.as_bytes())),
        key: Some(dir.file("key.pem", server.key_pem.as_bytes())),
        ..TlsSettings::default()
    }
}

fn client_config(
    ca: &CertificateDer<'static>,
    client: Option<&Issued>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .expect("versions")
    .with_root_certificates(roots);
    Arc::new(match client {
        Some(c) => builder
            .with_client_auth_cert(
                vec![c.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.clone())),
            )
            .expect("client cert"),
        None => builder.with_no_client_auth(),
    })
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A server-side stream over a fresh loopback connection, and the client's socket.
fn pair(context: &TlsContext, mutual: bool) -> (Stream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (accepted, _) = listener.accept().expect("accept");
    accepted.set_nonblocking(true).expect("nonblocking");
    let stream = Stream::Tcp(mio::net::TcpStream::from_std(accepted));
    (stream.into_tls(context, mutual).expect("wrapped"), client)
}

/// Runs the server side until `done` says so: echoes whatever it reads, retrying (with
/// a short pause) while nothing can move, up to a deadline.
fn serve_echo(stream: &mut Stream, until_bytes: usize) -> Result<usize, crate::Abort> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut echoed = 0;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    while echoed < until_bytes || !pending.is_empty() || stream.holds_output() {
        assert!(Instant::now() < deadline, "server side stuck");
        let mut moved = false;
        match stream.read(&mut buf) {
            Outcome::Done(n) => {
                pending.extend_from_slice(&buf[..n]);
                moved = true;
            }
            Outcome::Retry => {}
            Outcome::Abort(why) => return Err(why),
        }
        if !pending.is_empty() {
            match stream.write(&pending) {
                Outcome::Done(n) => {
                    pending.drain(..n);
                    echoed += n;
                    moved = true;
                }
                Outcome::Retry => {}
                Outcome::Abort(why) => return Err(why),
            }
        } else if let Outcome::Abort(why) = stream.send_held() {
            return Err(why);
        }
        if !moved {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(echoed)
}

fn client_talk(
    config: Arc<rustls::ClientConfig>,
    sock: TcpStream,
    message: Vec<u8>,
) -> std::thread::JoinHandle<std::io::Result<(Vec<u8>, Vec<CertificateDer<'static>>)>> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_secs(20)))?;
        let conn =
            rustls::ClientConnection::new(config, ServerName::try_from("localhost").expect("name"))
                .map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        // Write and read at once: a large message does not fit the socket buffers whole.
        let mut got = vec![0u8; message.len()];
        let mut sent = 0;
        let mut read = 0;
        while read < got.len() {
            if sent < message.len() {
                let end = (sent + 65536).min(message.len());
                tls.write_all(&message[sent..end])?;
                sent = end;
            }
            if read < sent {
                read += tls.read(&mut got[read..])?;
            }
        }
        let certs = tls
            .conn
            .peer_certificates()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        Ok((got, certs))
    })
}

#[test]
fn a_client_talks_through_the_handshake_and_large_writes_leave_in_chunks() {
    let dir = Dir::new("echo");
    let server = issue("localhost");
    let mut s = settings(&dir, &server);
    s.wbuf_size = 4096;
    let context = TlsContext::new(s).expect("loads");
    let (mut stream, client) = pair(&context, false);
    assert!(stream.buffers_input());
    assert!(stream.is_handshaking());
    let message: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let talk = client_talk(
        client_config(&server.ca_der, None, BOTH),
        client,
        message.clone(),
    );
    assert_eq!(serve_echo(&mut stream, message.len()), Ok(message.len()));
    let (got, _) = talk.join().expect("client thread").expect("client io");
    assert!(got == message, "echo differs");
    assert!(!stream.is_handshaking());
    assert_eq!(context.counters().handshakes.load(Relaxed), 1);
    assert_eq!(context.counters().handshake_errors.load(Relaxed), 0);
}

#[test]
fn reload_changes_the_certificate_of_new_connections_only_and_a_failed_one_keeps_the_old() {
    let dir = Dir::new("reload");
    let first = issue("localhost");
    let context = TlsContext::new(settings(&dir, &first)).expect("loads");
    let (mut old, old_client) = pair(&context, false);

    let second = issue("localhost");
    dir.file("chain.pem", second.cert_pem.as_bytes());
    dir.file("key.pem", second.key_pem.as_bytes());
    context.reload().expect("reloads");
    let (mut new, new_client) = pair(&context, false);

    let talk = client_talk(
        client_config(&first.ca_der, None, BOTH),
        old_client,
        b"old".to_vec(),
    );
    serve_echo(&mut old, 3).expect("old connection");
    let (_, certs) = talk
        .join()
        .expect("thread")
        .expect("old keeps the first certificate");
    assert_eq!(certs[0], first.cert_der);
    let talk = client_talk(
        client_config(&second.ca_der, None, BOTH),
        new_client,
        b"new".to_vec(),
    );
    serve_echo(&mut new, 3).expect("new connection");
    let (_, certs) = talk
        .join()
        .expect("thread")
        .expect("new gets the second certificate");
    assert_eq!(certs[0], second.cert_der);

    // A key that does not match: the reload fails, says why, and changes nothing.
    dir.file("key.pem", first.key_pem.as_bytes());
    let err = context.reload().expect_err("mismatch");
    assert_eq!(err.to_string(), "Error validating the certificate");
    std::fs::remove_file(dir.0.join("chain.pem")).expect("rm");
    let err = context.reload().expect_err("missing");
    assert!(
        err.to_string().starts_with(&format!(
            "Error loading the certificate chain: {}",
            dir.0.join("chain.pem").display()
        )),
        "{err}"
    );
    let (mut still, client) = pair(&context, false);
    let talk = client_talk(
        client_config(&second.ca_der, None, BOTH),
        client,
        b"x".to_vec(),
    );
    serve_echo(&mut still, 1).expect("served");
    let (_, certs) = talk.join().expect("thread").expect("second still in force");
    assert_eq!(certs[0], second.cert_der);
}

#[test]
fn start_up_errors_name_the_file() {
    let dir = Dir::new("errors");
    let server = issue("localhost");
    let mut s = settings(&dir, &server);
    s.key = Some(dir.file("bad-key.pem", b"not a key"));
    let err = TlsContext::new(s).expect_err("bad key");
    assert!(
        err.to_string().starts_with("Error loading the key: "),
        "{err}"
    );
    let err = TlsContext::new(TlsSettings::default()).expect_err("no chain");
    assert!(
        err.to_string()
            .starts_with("Error loading the certificate chain: (null) : "),
        "{err}"
    );
    let mut s = settings(&dir, &server);
    s.verify_mode = VerifyMode::Require;
    let err = TlsContext::new(s).expect_err("verification needs a CA");
    assert!(err.to_string().contains("needs ssl_ca_cert"), "{err}");
    let mut s = settings(&dir, &server);
    s.ca_cert = Some(dir.file("ca.pem", b"nothing here"));
    s.verify_mode = VerifyMode::Require;
    let err = TlsContext::new(s).expect_err("empty CA file");
    assert!(
        err.to_string()
            .starts_with("Error loading the CA certificate: "),
        "{err}"
    );
    // The key may come from the chain file itself; a DER key is read as such.
    let mut s = settings(&dir, &server);
    let both = format!("{}{}", server.cert_pem, server.key_pem);
    s.chain_cert = Some(dir.file("both.pem", both.as_bytes()));
    s.key = None;
    TlsContext::new(s).expect("key from the chain file");
    let mut s = settings(&dir, &server);
    s.key = Some(dir.file("key.der", &server.key_der));
    s.key_format = KeyFormat::Der;
    TlsContext::new(s).expect("DER key");
}

#[test]
fn garbage_instead_of_a_client_hello_is_a_counted_handshake_error() {
    let dir = Dir::new("garbage");
    let server = issue("localhost");
    let context = TlsContext::new(settings(&dir, &server)).expect("loads");
    let (mut stream, mut client) = pair(&context, false);
    client
        .write_all(b"get foo\r\nGET / HTTP/1.1\r\n\r\n")
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Outcome::Abort(_) => break,
            Outcome::Retry => std::thread::sleep(Duration::from_millis(1)),
            Outcome::Done(n) => panic!("plaintext from garbage: {n} bytes"),
        }
        assert!(Instant::now() < deadline, "never gave up");
    }
    assert_eq!(context.counters().handshake_errors.load(Relaxed), 1);
}

#[test]
fn a_tls13_minimum_refuses_a_tls12_client() {
    let dir = Dir::new("min13");
    let server = issue("localhost");
    let mut s = settings(&dir, &server);
    s.min_version = MinVersion::Tls13;
    let context = TlsContext::new(s).expect("loads");
    let (mut stream, client) = pair(&context, false);
    let talk = client_talk(
        client_config(&server.ca_der, None, &[&rustls::version::TLS12]),
        client,
        b"hi".to_vec(),
    );
    assert!(serve_echo(&mut stream, 2).is_err());
    drop(stream);
    assert!(
        talk.join().expect("thread").is_err(),
        "a TLS 1.2 client got through"
    );
    assert_eq!(context.counters().handshake_errors.load(Relaxed), 1);
}

#[test]
fn mutual_tls_takes_a_good_client_certificate_and_refuses_none() {
    let dir = Dir::new("mutual");
    let server = issue("localhost");
    let client = issue("client");
    let mut s = settings(&dir, &server);
    s.ca_cert = Some(dir.file("clients.pem", client.ca_pem.as_bytes()));
    let context = TlsContext::new(s).expect("loads");
    assert!(context.supports_mutual());

    let (mut stream, sock) = pair(&context, true);
    let talk = client_talk(
        client_config(&server.ca_der, Some(&client), BOTH),
        sock,
        b"ok".to_vec(),
    );
    serve_echo(&mut stream, 2).expect("certificate accepted");
    talk.join().expect("thread").expect("client served");

    let (mut stream, sock) = pair(&context, true);
    let talk = client_talk(
        client_config(&server.ca_der, None, BOTH),
        sock,
        b"no".to_vec(),
    );
    assert!(serve_echo(&mut stream, 2).is_err());
    drop(stream);
    assert!(
        talk.join().expect("thread").is_err(),
        "served without a certificate"
    );

    // ssl_verify_mode 0 on the ordinary listener: no certificate needed there.
    let (mut stream, sock) = pair(&context, false);
    let talk = client_talk(
        client_config(&server.ca_der, None, BOTH),
        sock,
        b"ok".to_vec(),
    );
    serve_echo(&mut stream, 2).expect("served");
    talk.join().expect("thread").expect("client served");
}

#[test]
fn a_unix_stream_is_not_wrapped() {
    let dir = Dir::new("unix");
    let server = issue("localhost");
    let context = TlsContext::new(settings(&dir, &server)).expect("loads");
    let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
    let stream = Stream::Unix(mio::net::UnixStream::from_std(a));
    let stream = stream.into_tls(&context, false).expect("kept");
    assert!(!stream.buffers_input());
    assert!(Path::new(&dir.0).exists());
}

#[test]
fn drained_means_nothing_held_and_the_socket_read_empty_by_this_very_read() {
    let dir = Dir::new("drained");
    let server = issue("localhost");
    let context = TlsContext::new(settings(&dir, &server)).expect("loads");
    let (mut stream, tcp) = pair(&context, false);
    let name = ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(client_config(&server.ca_der, None, BOTH), name)
        .expect("client");
    let mut client = rustls::StreamOwned::new(conn, tcp);
    // Drive the handshake: the client blocks on its socket, so it runs on a thread.
    let talk = std::thread::spawn(move || {
        client.write_all(b"0123456789").expect("first record");
        client.flush().expect("flush");
        let mut ack = [0u8; 1];
        client.read_exact(&mut ack).expect("ack");
        client.write_all(b"abcdefghij").expect("second record");
        client.flush().expect("flush");
        client.read_exact(&mut ack).expect("ack");
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let read_some = |stream: &mut Stream, buf: &mut [u8]| loop {
        assert!(Instant::now() < deadline, "nothing came");
        match stream.read(buf) {
            Outcome::Done(n) => return n,
            Outcome::Retry => {
                while stream.holds_output() {
                    let _ = stream.send_held();
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Outcome::Abort(why) => panic!("{why:?}"),
        }
    };
    // A read that took part of the record: rustls still holds the rest.
    let mut small = [0u8; 4];
    assert_eq!(read_some(&mut stream, &mut small), 4);
    assert!(!stream.input_drained());
    // The rest comes from rustls alone: this read touched no socket, so it cannot say.
    let mut rest = [0u8; 64];
    assert_eq!(read_some(&mut stream, &mut rest), 6);
    assert!(!stream.input_drained());
    assert_eq!(stream.write(b"k"), Outcome::Done(1));
    // A whole record read from the socket, which it emptied: drained.
    assert_eq!(read_some(&mut stream, &mut rest), 10);
    assert_eq!(&rest[..10], b"abcdefghij");
    assert!(stream.input_drained());
    assert_eq!(stream.write(b"k"), Outcome::Done(1));
    while stream.holds_output() {
        let _ = stream.send_held();
    }
    talk.join().expect("client");
}
