//! TLS interop: certificates made by `loghog-server-cert`/`loghog-client-cert`
//! (fixtures in `data/tls/`) loaded by `server_config`, and Python's `ssl`
//! module (OpenSSL, as the 0.7 client uses it) as the client.
//!
//! Python checks the chain but not the host name, like the 0.7 client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use loghog_daemon::ingest::tls::{self, HandshakeError, PemRole, TlsSetupError, Weakness};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(rel)
}

/// The client: connect, handshake, print the TLS version, send a line, print the reply.
const PYTHON_CLIENT: &str = r#"
import socket, ssl, sys
host, port, ca, pem, version = sys.argv[1:6]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(ca)
if pem != "-":
    ctx.load_cert_chain(pem)
if version == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
with socket.create_connection((host, int(port)), timeout=10) as raw:
    with ctx.wrap_socket(raw) as conn:
        print(conn.version(), flush=True)
        conn.sendall(b"hello from python\n")
        reply = conn.recv(100)
        if not reply:
            sys.exit("connection closed without a reply")
        print(reply.decode().strip())
"#;

fn python_available() -> bool {
    match Command::new("python3").args(["-c", "import ssl"]).output() {
        Ok(out) if out.status.success() => true,
        _ => {
            eprintln!("note: python3 with ssl not available; Python handshake test skipped");
            false
        }
    }
}

fn run_python(addr: SocketAddr, ca: &Path, pem: Option<&Path>, version: &str) -> Output {
    let pem = pem.map_or("-".to_owned(), |p| p.display().to_string());
    Command::new("python3")
        .args(["-c", PYTHON_CLIENT, "127.0.0.1", &addr.port().to_string()])
        .arg(ca)
        .args([pem.as_str(), version])
        .output()
        .expect("run python3")
}

/// Serves one connection with the config from `dir` while Python connects;
/// returns the server's result (the line read) and Python's output.
async fn serve_one(
    dir: &str,
    client_pem: Option<&Path>,
    client_ca: &Path,
    version: &str,
) -> (Result<String, HandshakeError>, Output) {
    let config = tls::server_config(
        &data(&format!("{dir}/localhost-server.pem")),
        &data(&format!("{dir}/localhost-ca.cert")),
    )
    .expect("fixture config loads");
    let acceptor = TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client_ca = client_ca.to_owned();
    let client_pem = client_pem.map(Path::to_owned);
    let version = version.to_owned();
    let python =
        std::thread::spawn(move || run_python(addr, &client_ca, client_pem.as_deref(), &version));
    // Bounded, so a Python that dies before connecting fails the test instead of hanging it.
    let (tcp, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
        .await
        .expect("python connected")
        .unwrap();
    let served = async {
        let tls = tls::accept(&acceptor, tcp, Duration::from_secs(10)).await?;
        let mut reader = BufReader::new(tls);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .await
            .map_err(HandshakeError::Io)?;
        reader
            .get_mut()
            .write_all(b"ok\n")
            .await
            .map_err(HandshakeError::Io)?;
        reader
            .get_mut()
            .shutdown()
            .await
            .map_err(HandshakeError::Io)?;
        Ok(line)
    }
    .await;
    let output = tokio::task::spawn_blocking(move || python.join().unwrap())
        .await
        .unwrap();
    (served, output)
}

#[tokio::test]
async fn python_client_with_certificate_talks_tls_1_3_and_1_2() {
    if !python_available() {
        return;
    }
    for dir in ["ecdsa", "rsa"] {
        for (version, expected) in [("any", "TLSv1.3"), ("1.2", "TLSv1.2")] {
            let ca = data(&format!("{dir}/localhost-ca.cert"));
            let pem = data(&format!("{dir}/client1.pem"));
            let (served, out) = serve_one(dir, Some(&pem), &ca, version).await;
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{dir} {version}: python failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(served.unwrap(), "hello from python\n", "{dir} {version}");
            assert_eq!(stdout, format!("{expected}\nok\n"), "{dir} {version}");
        }
    }
}

#[tokio::test]
async fn python_client_without_certificate_is_refused() {
    if !python_available() {
        return;
    }
    let ca = data("ecdsa/localhost-ca.cert");
    let (served, out) = serve_one("ecdsa", None, &ca, "any").await;
    assert_eq!(served.unwrap_err().reason(), "no_certificate");
    assert!(!out.status.success(), "python should have failed");
}

#[tokio::test]
async fn python_client_from_regenerated_ca_is_refused() {
    if !python_available() {
        return;
    }
    let ca = data("ecdsa/localhost-ca.cert");
    let pem = data("other/client1.pem");
    let (served, out) = serve_one("ecdsa", Some(&pem), &ca, "any").await;
    assert_eq!(served.unwrap_err().reason(), "unknown_ca");
    assert!(!out.status.success(), "python should have failed");
}

#[test]
fn legacy_openssl_certificates_are_refused_with_advice() {
    let good_ca = data("ecdsa/localhost-ca.cert");
    let err = tls::server_config(&data("legacy/loghog-server.pem"), &good_ca).unwrap_err();
    assert!(
        matches!(
            err,
            TlsSetupError::Weak {
                role: PemRole::Pemfile,
                weakness: Weakness::RsaKey { bits: 1024 },
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(msg.contains("legacy/loghog-server.pem"), "{msg}");
    assert!(msg.contains("1024-bit RSA key"), "{msg}");
    assert!(msg.contains("loghog-server-cert --upgrade"), "{msg}");

    let good_pem = data("ecdsa/localhost-server.pem");
    let err = tls::server_config(&good_pem, &data("legacy/loghog-ca.cert")).unwrap_err();
    assert!(
        matches!(
            err,
            TlsSetupError::Weak {
                role: PemRole::Cacert,
                weakness: Weakness::RsaKey { bits: 1024 },
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(msg.contains("the CA key itself must be replaced"), "{msg}");
    assert!(msg.contains("loghog-client-cert <name>"), "{msg}");
}
