//! Mutual TLS against a rustls server in the test, with certificates made
//! by rcgen: the client verifies the chain against the CA but not the host
//! name (the server certificate names another host), and a server signed by
//! another CA is refused.
mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use loghog_client::Client;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use support::Records;

const WAIT: Duration = Duration::from_secs(10);

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Pki { ca }
    }

    /// A leaf certificate and its key, signed by this CA.
    fn leaf(&self, name: &str) -> (Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert, key)
    }

    fn write_ca(&self, path: &Path) {
        std::fs::write(path, self.ca.pem()).unwrap();
    }

    /// A client PEM: key and certificate in one file, as loghog-client-cert writes.
    fn write_client_pem(&self, path: &Path) {
        let (cert, key) = self.leaf("test-client");
        std::fs::write(path, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    }
}

/// A TLS server that requires a client certificate from `client_ca` and
/// presents a certificate for a name that is not the address dialled.
fn tls_server(server_pki: &Pki, client_ca: &Pki, records: Records) -> u16 {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(client_ca.ca.der().clone()).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .unwrap();
    let (cert, key) = server_pki.leaf("not-this-host.example");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert.der().clone(), server_pki.ca.der().clone()], key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { continue };
            let (config, records) = (config.clone(), records.clone());
            std::thread::spawn(move || {
                sock.set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                let conn = ServerConnection::new(config).unwrap();
                let mut stream = StreamOwned::new(conn, sock);
                support::read_frames(&mut stream, &records, &AtomicBool::new(false));
            });
        }
    });
    port
}

fn files(dir: &Path, pki: &Pki) -> (PathBuf, PathBuf) {
    let (pem, ca) = (dir.join("client.pem"), dir.join("ca.cert"));
    pki.write_client_pem(&pem);
    pki.write_ca(&ca);
    (pem, ca)
}

#[test]
fn mutual_tls_delivers_and_ignores_the_host_name() {
    let pki = Pki::new("test ca");
    let records = Records::default();
    let port = tls_server(&pki, &pki, records.clone());
    let dir = tempfile::tempdir().unwrap();
    let (pem, ca) = files(dir.path(), &pki);
    let client = Client::builder("tls-app")
        .host("127.0.0.1")
        .port(port)
        .tls(&pem, &ca)
        .build()
        .unwrap();
    for i in 0..100 {
        client.send("tls", &format!("secret record {i}"));
    }
    client.close(WAIT).unwrap();
    let got = records.wait_for(100, WAIT);
    let bodies: Vec<_> = got.iter().map(|r| r.message.body.to_string()).collect();
    assert_eq!(
        bodies,
        (0..100)
            .map(|i| format!("secret record {i}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_server_from_another_ca_is_refused() {
    let ours = Pki::new("our ca");
    let theirs = Pki::new("their ca");
    let records = Records::default();
    let port = tls_server(&theirs, &ours, records.clone());
    let dir = tempfile::tempdir().unwrap();
    let (pem, ca) = files(dir.path(), &ours);
    let client = Client::builder("tls-app")
        .host("127.0.0.1")
        .port(port)
        .tls(&pem, &ca)
        .build()
        .unwrap();
    client.send("tls", "must not be sent");
    let err = client.close(Duration::from_millis(500)).unwrap_err();
    assert!(err.to_string().contains("TLS handshake"), "{err}");
    assert_eq!(records.len(), 0);
}

#[test]
fn unreadable_tls_files_fail_at_build() {
    let err = Client::builder("tls-app")
        .tls("/nonexistent/client.pem", "/nonexistent/ca.cert")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/"), "{err}");
}
