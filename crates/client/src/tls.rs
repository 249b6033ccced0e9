//! TLS client configuration: a client certificate (key + certificate in one
//! PEM file) and a CA certificate that the server's chain must lead to.
//!
//! The server's host name is NOT checked, as the 0.7 client (Python `ssl`
//! with `check_hostname` off) did not: daemons are often reached by IP or an
//! alias. Only a name mismatch is forgiven; every chain error still fails.
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::ClientError;

/// Builds a rustls client configuration from the client PEM (private key and
/// certificate chain) and the CA certificate file, with the ring provider
/// (fork-safe: see Cargo.toml).
pub fn tls_config(pem: &Path, ca: &Path) -> Result<Arc<ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca, "CA certificate")? {
        roots.add(cert).map_err(|e| ClientError::Pem {
            what: "CA certificate",
            path: ca.to_path_buf(),
            detail: e.to_string(),
        })?;
    }
    let chain = load_certs(pem, "client certificate")?;
    let key = PrivateKeyDer::from_pem_file(pem).map_err(|e| ClientError::Pem {
        what: "private key",
        path: pem.to_path_buf(),
        detail: e.to_string(),
    })?;
    let inner =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier { inner }))
        .with_client_auth_cert(chain, key)?;
    Ok(Arc::new(config))
}

fn load_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let pem_error = |detail: String| ClientError::Pem {
        what,
        path: path.to_path_buf(),
        detail,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error("no certificate in the file".into()));
    }
    Ok(certs)
}

/// Verifies the server's chain against the CA with webpki and accepts any
/// host name.
#[derive(Debug)]
struct ChainOnlyVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the name only after the chain verified, so a name
        // error means the chain is good.
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
