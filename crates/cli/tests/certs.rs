//! The certificate commands as a user runs them: the real binaries in temp
//! directories, their files and modes, and the certificates checked by
//! OpenSSL (`openssl verify`, and `openssl s_server` with Python's `ssl` as
//! the client). OpenSSL and Python parts are skipped with a note if missing.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tempfile::TempDir;
use x509_parser::prelude::{FromDer, X509Certificate};

mod support;
use support::*;

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", text(&out));
    out
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn tool_available(name: &str, probe: &[&str]) -> bool {
    let found = Command::new(name)
        .args(probe)
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("note: {name} not available; that part of the test is skipped");
    }
    found
}

/// The public key algorithm OID of the first certificate in a PEM file.
fn key_algorithm(pem: &Path) -> String {
    let der = CertificateDer::from_pem_file(pem).unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    cert.public_key().algorithm.algorithm.to_id_string()
}

const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

#[test]
fn server_cert_writes_ca_and_server_files_with_safe_modes() {
    let dir = TempDir::new().unwrap();
    let out = ok(run(SERVER_CERT, dir.path(), &[]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("loghog-server.pem"), "{stdout}");
    assert_eq!(mode(&dir.path().join("loghog-ca.key")), 0o600);
    assert_eq!(mode(&dir.path().join("loghog-ca.cert")), 0o644);
    assert_eq!(mode(&dir.path().join("loghog-server.pem")), 0o600);
    let pem = fs::read_to_string(dir.path().join("loghog-server.pem")).unwrap();
    assert!(
        pem.contains("PRIVATE KEY") && pem.contains("CERTIFICATE"),
        "{pem}"
    );
    assert_eq!(
        key_algorithm(&dir.path().join("loghog-server.pem")),
        EC_PUBLIC_KEY
    );

    ok(run(SERVER_CERT, dir.path(), &["--rsa", "logs.example.com"]));
    let server = dir.path().join("logs.example.com-server.pem");
    assert_eq!(key_algorithm(&server), RSA_ENCRYPTION);
    assert_eq!(
        key_algorithm(&dir.path().join("logs.example.com-ca.cert")),
        RSA_ENCRYPTION
    );
    let der = CertificateDer::from_pem_file(&server).unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(
        format!("{:?}", san.general_names),
        "[DNSName(\"logs.example.com\")]"
    );
}

#[test]
fn existing_files_are_refused_unless_forced() {
    let dir = TempDir::new().unwrap();
    ok(run(SERVER_CERT, dir.path(), &[]));
    let key = dir.path().join("loghog-ca.key");
    let before = fs::read(&key).unwrap();

    let out = run(SERVER_CERT, dir.path(), &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        fs::read(&key).unwrap(),
        before,
        "refused run must not touch files"
    );

    // Only one target in the way: still nothing written.
    let other = TempDir::new().unwrap();
    fs::write(other.path().join("loghog-server.pem"), "mine").unwrap();
    assert!(!run(SERVER_CERT, other.path(), &[]).status.success());
    assert!(!other.path().join("loghog-ca.key").exists());
    assert_eq!(
        fs::read_to_string(other.path().join("loghog-server.pem")).unwrap(),
        "mine"
    );

    // --force replaces, and a loosened mode does not survive.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    ok(run(SERVER_CERT, dir.path(), &["--force"]));
    assert_ne!(fs::read(&key).unwrap(), before);
    assert_eq!(mode(&key), 0o600);

    ok(run(CLIENT_CERT, dir.path(), &["app"]));
    let out = run(CLIENT_CERT, dir.path(), &["app"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("app.pem already exists"));
    ok(run(CLIENT_CERT, dir.path(), &["app", "--force"]));
}

#[test]
fn client_cert_finds_the_ca_in_cwd_or_in_ca_dir() {
    let ca_dir = TempDir::new().unwrap();
    ok(run(SERVER_CERT, ca_dir.path(), &[]));
    ok(run(SERVER_CERT, ca_dir.path(), &["example"]));

    // Default CA name, searched from the current directory first.
    let out = ok(run(CLIENT_CERT, ca_dir.path(), &["web-01"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("using CA ./loghog-ca.key"), "{stdout}");
    let pem = ca_dir.path().join("web-01.pem");
    assert_eq!(mode(&pem), 0o600);
    assert_eq!(key_algorithm(&pem), EC_PUBLIC_KEY);

    // Explicit CA directory and name; the file lands in the current directory.
    let work = TempDir::new().unwrap();
    let ca_arg = ca_dir.path().to_str().unwrap();
    let out = ok(run(
        CLIENT_CERT,
        work.path(),
        &["--rsa", "db", ca_arg, "example"],
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("example-ca.key"), "{stdout}");
    let pem = work.path().join("db.pem");
    assert_eq!(key_algorithm(&pem), RSA_ENCRYPTION);
    let der = CertificateDer::from_pem_file(&pem).unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(cert.issuer().to_string(), "O=LogHog, CN=example CA");

    // Nowhere to be found: the error lists where it looked.
    let out = run(CLIENT_CERT, work.path(), &["x", ca_arg, "no-such-ca"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no-such-ca-ca.key") && stderr.contains(ca_arg),
        "{stderr}"
    );
    let out = run(CLIENT_CERT, work.path(), &["x", "/nonexistent/dir"]);
    assert!(!out.status.success());
    assert!(!work.path().join("x.pem").exists());
}

#[test]
fn bad_names_and_help() {
    let dir = TempDir::new().unwrap();
    let out = run(SERVER_CERT, dir.path(), &["../escape"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid domain"));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);

    for bin in [SERVER_CERT, CLIENT_CERT] {
        let out = ok(run(bin, dir.path(), &["--help"]));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("Usage:") && stdout.contains("--rsa"),
            "{stdout}"
        );
    }
    let out = run(CLIENT_CERT, dir.path(), &[]);
    assert!(!out.status.success(), "the client name is required");
}

#[test]
fn weak_ca_from_old_scripts_is_refused() {
    if !tool_available("openssl", &["version"]) {
        return;
    }
    let dir = TempDir::new().unwrap();
    ok(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-sha1",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "old-ca.key",
            "-out",
            "old-ca.cert",
            "-subj",
            "/CN=old CA",
            "-days",
            "30",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap());
    let out = run(CLIENT_CERT, dir.path(), &["app", ".", "old"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("too weak") && stderr.contains("loghog-server-cert"),
        "{stderr}"
    );
}

#[test]
fn openssl_verifies_server_and_client_certificates() {
    if !tool_available("openssl", &["version"]) {
        return;
    }
    for rsa in [false, true] {
        let dir = TempDir::new().unwrap();
        let flag: &[&str] = if rsa { &["--rsa"] } else { &[] };
        ok(run(SERVER_CERT, dir.path(), flag));
        ok(run(CLIENT_CERT, dir.path(), &[flag, &["client1"]].concat()));
        for (pem, purpose) in [
            ("loghog-server.pem", "sslserver"),
            ("client1.pem", "sslclient"),
        ] {
            let out = ok(Command::new("openssl")
                .args(["verify", "-x509_strict", "-purpose", purpose, "-CAfile"])
                .args(["loghog-ca.cert", pem])
                .current_dir(dir.path())
                .output()
                .unwrap());
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(stdout.trim(), format!("{pem}: OK"), "rsa={rsa}");
        }
    }
}

/// Python's ssl client, as the 0.7 client sets it up: verify the chain, not
/// the host name; present the client certificate. Retries while the server
/// is not yet listening, prints the TLS version on success.
const PYTHON_CLIENT: &str = r#"
import socket, ssl, sys, time
port, ca, pem = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(ca)
ctx.load_cert_chain(pem)
deadline = time.time() + 20
while True:
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        break
    except ConnectionRefusedError:
        if time.time() > deadline:
            raise
        time.sleep(0.05)
with ctx.wrap_socket(raw) as conn:
    conn.sendall(b"hello\n")
    print(conn.version())
"#;

#[test]
fn python_ssl_client_and_openssl_server_accept_the_certificates() {
    if !tool_available("openssl", &["version"]) || !tool_available("python3", &["-c", "import ssl"])
    {
        return;
    }
    for rsa in [false, true] {
        let dir = TempDir::new().unwrap();
        let flag: &[&str] = if rsa { &["--rsa"] } else { &[] };
        ok(run(SERVER_CERT, dir.path(), flag));
        ok(run(CLIENT_CERT, dir.path(), &[flag, &["client1"]].concat()));
        // A free port: bound then released; s_server binds it again at once.
        // Another test may take it in between: then try another one.
        let mut attempt = 0;
        let (client, server_out) = loop {
            attempt += 1;
            let (client, server_out) = s_server_and_python_client(dir.path());
            let server_err = String::from_utf8_lossy(&server_out.stderr);
            if server_err.contains("in use") && attempt < 5 {
                continue;
            }
            break (client, server_out);
        };
        let server_stdout = String::from_utf8_lossy(&server_out.stdout);
        assert!(
            client.status.success(),
            "rsa={rsa}: python: {}\ns_server: {}",
            String::from_utf8_lossy(&client.stderr),
            String::from_utf8_lossy(&server_out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&client.stdout).trim(), "TLSv1.3");
        assert!(
            server_stdout.contains("hello"),
            "rsa={rsa}: s_server got {server_stdout:?}"
        );
    }
}

/// `openssl s_server` on a free port with the certificates in `dir`, and
/// the Python client connecting to it once; their outputs.
fn s_server_and_python_client(dir: &Path) -> (Output, Output) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut server = Command::new("openssl")
        .args(["s_server", "-accept", &port, "-naccept", "1", "-quiet"])
        .args(["-cert", "loghog-server.pem", "-key", "loghog-server.pem"])
        .args([
            "-CAfile",
            "loghog-ca.cert",
            "-Verify",
            "1",
            "-verify_return_error",
        ])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = Command::new("python3")
        .args(["-c", PYTHON_CLIENT, &port, "loghog-ca.cert", "client1.pem"])
        .current_dir(dir)
        .output()
        .unwrap();
    // s_server exits after its one connection; do not wait forever if it does not.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if server.try_wait().unwrap().is_none() {
        server.kill().unwrap();
    }
    (client, server.wait_with_output().unwrap())
}
