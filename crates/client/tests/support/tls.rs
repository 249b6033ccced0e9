//! Test PKI (rcgen) and a mutual-TLS frame receiver (rustls) for tests.
//!
//! The server certificate names a host that is never dialled, so a client
//! that checked host names would fail against it.
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use super::Records;

pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Pki { ca }
    }

    /// A leaf certificate and its key, signed by this CA.
    pub fn leaf(&self, name: &str) -> (Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert, key)
    }

    pub fn write_ca(&self, path: &Path) {
        std::fs::write(path, self.ca.pem()).unwrap();
    }

    /// A client PEM: key and certificate in one file, as loghog-client-cert writes.
    pub fn write_client_pem(&self, path: &Path) {
        let (cert, key) = self.leaf("test-client");
        std::fs::write(path, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    }
}

/// A TLS server that requires a client certificate from `client_ca` and
/// presents a certificate for a name that is not the address dialled.
pub fn tls_server(server_pki: &Pki, client_ca: &Pki, records: Records) -> u16 {
    tls_server_closing_first(server_pki, client_ca, records, None)
}

/// Like [`tls_server`], but when `close_first_after` is set the first
/// connection is closed politely (close_notify, then FIN) once that many
/// records have arrived, as a restarting daemon would.
pub fn tls_server_closing_first(
    server_pki: &Pki,
    client_ca: &Pki,
    records: Records,
    close_first_after: Option<usize>,
) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
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
        for (i, sock) in listener.incoming().enumerate() {
            let Ok(sock) = sock else { continue };
            let (config, records) = (config.clone(), records.clone());
            let close_after = close_first_after.filter(|_| i == 0);
            std::thread::spawn(move || {
                sock.set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                let conn = ServerConnection::new(config).unwrap();
                let mut stream = StreamOwned::new(conn, sock);
                let stop = Arc::new(AtomicBool::new(false));
                if let Some(n) = close_after {
                    let (stop, records) = (stop.clone(), records.clone());
                    std::thread::spawn(move || {
                        records.wait_for(n, Duration::from_secs(30));
                        stop.store(true, Ordering::SeqCst);
                    });
                }
                super::read_frames(&mut stream, &records, &stop);
                stream.conn.send_close_notify();
                let _ = stream.flush();
            });
        }
    });
    port
}
