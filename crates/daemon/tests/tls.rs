//! TLS listeners: mutual TLS beside plain listeners on one daemon, with the
//! published client's way of connecting (Python's ssl module), and the ways
//! a handshake can fail without affecting anything else.
mod support;

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(rel)
}

fn start_tls(kind: &str) -> Daemon {
    Daemon::start_with(
        GOLDEN_FACILITIES,
        &format!(
            "listen_ipv4_ssl = 127.0.0.1:0\npemfile = {}\ncacert = {}\nhandshake_timeout = 1\n",
            data(&format!("{kind}/localhost-server.pem")).display(),
            data(&format!("{kind}/localhost-ca.cert")).display()
        ),
    )
}

fn python_ok() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import ssl"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("note: python3 with ssl missing; test skipped");
    }
    ok
}

fn send_with_python(
    d: &Daemon,
    kind: &str,
    pem: Option<&str>,
    frames: &[Vec<u8>],
) -> std::process::Output {
    let pem = pem.map(data);
    send_tls_with_python(
        d.tls.unwrap(),
        &data(&format!("{kind}/localhost-ca.cert")),
        pem.as_deref(),
        frames,
    )
}

#[test]
fn python_ssl_client_with_a_certificate_from_our_ca_is_written_like_plain_tcp() {
    if !python_ok() {
        return;
    }
    for kind in ["ecdsa", "rsa"] {
        let d = start_tls(kind);
        let goldens: Vec<_> = golden_frames().into_iter().map(|(_, f, _)| f).collect();
        let out = send_with_python(&d, kind, Some(&format!("{kind}/client1.pem")), &goldens);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = wait_lines(&d.log("my-first-app/web.requests.log"), 1);
        assert!(
            lines[0].ends_with(" - athens - INFO - Hello world!"),
            "{lines:?}"
        );
        // The plain listener on the same daemon works too.
        let mut plain = d.connect();
        plain
            .write_all(&frame("test-app", "", "plain beside tls"))
            .unwrap();
        let ok = poll(|| {
            read_lines(&d.log("test-app/root.log"))
                .iter()
                .any(|l| l.ends_with("plain beside tls"))
        });
        assert!(ok, "{}", d.output());
    }
}

#[test]
fn clients_without_a_good_certificate_are_refused_and_logged() {
    if !python_ok() {
        return;
    }
    let d = start_tls("ecdsa");
    let goldens: Vec<_> = golden_frames().into_iter().map(|(_, f, _)| f).collect();
    // No client certificate. (With TLS 1.3 the client may finish its side
    // of the handshake and even "send" before the server's refusal arrives,
    // so the server's log and the files are what tell.)
    send_with_python(&d, "ecdsa", None, &goldens);
    assert!(d.wait_for_output("reason=no_certificate"), "{}", d.output());
    // A certificate from another CA.
    send_with_python(&d, "ecdsa", Some("other/client1.pem"), &goldens);
    assert!(d.wait_for_output("reason=unknown_ca"), "{}", d.output());
    // Nothing of theirs was written, and a good client still gets through.
    assert!(!d.log("my-first-app").exists());
    let out = send_with_python(&d, "ecdsa", Some("ecdsa/client1.pem"), &goldens);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_lines(&d.log("my-first-app/web.requests.log"), 1);
}

#[test]
fn a_connection_that_never_says_hello_is_closed_after_the_handshake_timeout() {
    let d = start_tls("ecdsa");
    let mut silent = TcpStream::connect(d.tls.unwrap()).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let n = std::io::Read::read(&mut silent, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected the server to close the connection");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(d.wait_for_output("reason=timeout"), "{}", d.output());
}

#[test]
fn weak_legacy_certificates_fail_check_config_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("facilities.conf"), GOLDEN_FACILITIES).unwrap();
    std::fs::write(
        dir.path().join("loghogd.conf"),
        daemon_conf(&format!(
            "listen_ipv4_ssl = 127.0.0.1:0\npemfile = {}\ncacert = {}\n",
            data("legacy/loghog-server.pem").display(),
            data("legacy/loghog-ca.cert").display()
        )),
    )
    .unwrap();
    let conf = dir.path().join("loghogd.conf");
    // At start-up the same files only turn the ssl listeners off (see
    // tls_upgrade.rs); --check-config reports them as errors.
    let (code, _, err) = run_loghogd(&["-c".as_ref(), conf.as_os_str(), "--check-config".as_ref()]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("loghog-server-cert"), "{err}");
    assert!(err.contains("loghog-server.pem"), "{err}");
    assert!(err.contains("[server] pemfile"), "{err}");
}

/// Regression: with TLS 1.3 session tickets, a client that never reads (as
/// v1 clients do) closed with unread tickets in its buffer; its kernel then
/// sent a reset, and the reset discarded records the daemon had not yet
/// read. The daemon sends no tickets, so an abrupt close loses nothing.
#[test]
fn a_client_that_closes_abruptly_after_a_burst_loses_nothing() {
    if !python_ok() {
        return;
    }
    let d = start_tls("ecdsa");
    let script = r#"
import socket, ssl, sys
port, ca, pem, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.load_verify_locations(ca)
ctx.load_cert_chain(pem)
raw = socket.create_connection(("127.0.0.1", port))
s = ctx.wrap_socket(raw)
frames = b"".join(bytes.fromhex(h) for h in sys.stdin.read().split())
s.sendall(frames)
raw.close()   # no TLS shutdown, no read: as abrupt as clients get
"#;
    let n = 20_000;
    let hex: String = (0..n)
        .map(|i| {
            frame("test-app", "", &format!("burst {i}"))
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                + "\n"
        })
        .collect();
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(d.tls.unwrap().port().to_string())
        .arg(data("ecdsa/localhost-ca.cert"))
        .arg(data("ecdsa/client1.pem"))
        .arg(n.to_string())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(hex.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let lines = wait_lines(&d.log("test-app/root.log"), n);
    assert_eq!(lines.len(), n);
}
