//! TLS for the whole-server tests: a certificate authority, a server certificate and a
//! client certificate made at test time (rcgen; no key is committed), the files `-Z`
//! reads, and rustls clients that trust that authority.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A client connection over TLS, blocking, as the tests' other streams are.
pub type TlsClient = StreamOwned<ClientConnection, TcpStream>;

/// A CA, a certificate it signed for `localhost`/127.0.0.1 (the server's) and one for a
/// client, with their keys.
pub struct Pki {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub server_pem: String,
    pub server_key_pem: String,
    pub client_der: CertificateDer<'static>,
    pub client_key_der: Vec<u8>,
}

impl Pki {
    pub fn new() -> Pki {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name = named("Corvid test CA");
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let server_key = rcgen::KeyPair::generate().expect("server key");
        let mut server_params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("params");
        // Names of their own: OpenSSL takes a certificate named as its issuer for a
        // self-signed one.
        server_params.distinguished_name = named("localhost");
        let server = server_params
            .signed_by(&server_key, &ca, &ca_key)
            .expect("server certificate");
        let client_key = rcgen::KeyPair::generate().expect("client key");
        let mut client_params =
            rcgen::CertificateParams::new(vec!["client".into()]).expect("params");
        client_params.distinguished_name = named("client");
        let client = client_params
            .signed_by(&client_key, &ca, &ca_key)
            .expect("client certificate");
        Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            server_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_der: client.der().clone(),
            client_key_der: client_key.serialize_der(),
        }
    }

    /// Writes `cert.pem`, `key.pem` and `ca.pem` into `dir`.
    pub fn write(&self, dir: &Path) -> TlsFiles {
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write a TLS test file");
            path
        };
        TlsFiles {
            cert: file("cert.pem", &self.server_pem),
            key: file("key.pem", &self.server_key_pem),
            ca: file("ca.pem", &self.ca_pem),
        }
    }

    /// A client trusting the CA; with `with_cert`, presenting the client certificate.
    pub fn client(&self, with_cert: bool) -> Arc<ClientConfig> {
        self.client_with(with_cert, rustls::DEFAULT_VERSIONS)
    }

    /// The same, speaking only `versions`.
    pub fn client_with(
        &self,
        with_cert: bool,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("CA certificate");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots);
        let config = if with_cert {
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.client_key_der.clone()));
            builder
                .with_client_auth_cert(vec![self.client_der.clone()], key)
                .expect("client certificate")
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }
}

fn named(common_name: &str) -> rcgen::DistinguishedName {
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, common_name);
    name
}

/// Where [`Pki::write`] put the files.
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl TlsFiles {
    /// The `-Z -o ...` arguments serving this certificate.
    pub fn args(&self) -> Vec<String> {
        vec![
            "-Z".into(),
            "-o".into(),
            format!(
                "ssl_chain_cert={},ssl_key={}",
                self.cert.display(),
                self.key.display()
            ),
        ]
    }
}

/// Connects and completes the handshake (bounded by `timeout`).
pub fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    timeout: Duration,
) -> std::io::Result<TlsClient> {
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let name = ServerName::try_from("localhost").expect("name");
    let conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}
