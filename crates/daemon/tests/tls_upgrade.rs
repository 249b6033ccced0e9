//! A server upgraded from the original keeps its `/etc/loghogd` and the
//! X.509 v1 certificates the original's openssl scripts made. loghogd must
//! then keep serving its plain listeners and say the real reason the ssl
//! listener is off; after `loghog-server-cert --upgrade` the TLS listener
//! works for clients that still hold the old CA file, and an old v1 client
//! certificate is refused with a line saying how to replace it.
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use loghog_cli::certs::{self, KeyType};
use support::*;

/// The original's certificates in `dir/certs` (RSA-2048, SHA-256, v1), by
/// the script the package test uses too. False when openssl is missing.
fn original_pki(dir: &Path) -> bool {
    let have = Command::new("openssl").arg("version").output().is_ok();
    let python = Command::new("python3")
        .args(["-c", "import ssl"])
        .status()
        .is_ok_and(|s| s.success());
    if !have || !python {
        eprintln!("note: openssl or python3 missing; test skipped");
        return false;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../packaging/tests/original-pki.sh"
    );
    let out = Command::new("sh")
        .arg(script)
        .arg(dir.join("certs"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    true
}

fn tls_conf() -> String {
    daemon_conf(
        "listen_ipv4_ssl = 127.0.0.1:0\npemfile = certs/loghog-server.pem\n\
         cacert = certs/loghog-ca.cert\nhandshake_timeout = 2\n",
    )
}

#[test]
fn original_certificates_keep_plain_listeners_then_upgrade_in_place() {
    let dir = tempfile::tempdir().unwrap();
    if !original_pki(dir.path()) {
        return;
    }
    let certs_dir: PathBuf = dir.path().join("certs");
    let old_ca = dir.path().join("old-ca.cert");
    std::fs::copy(certs_dir.join("loghog-ca.cert"), &old_ca).unwrap();
    std::fs::write(dir.path().join("facilities.conf"), GOLDEN_FACILITIES).unwrap();
    std::fs::write(dir.path().join("loghogd.conf"), tls_conf()).unwrap();

    // Before the upgrade: plain listeners serve; the reason is X.509 v1,
    // not weakness, and the advice keeps the CA.
    let d = Daemon::start_in(dir);
    assert!(d.tls.is_none(), "{}", d.output());
    let out = d.output();
    assert!(out.contains("ssl listeners not started"), "{out}");
    assert!(
        out.contains("X.509 v1") && out.contains("--upgrade"),
        "{out}"
    );
    assert!(!out.contains("too weak"), "{out}");
    assert!(
        out.contains("loghogd.conf:"),
        "names the setting's line: {out}"
    );
    d.connect()
        .write_all(&frame("test-app", "", "plain while tls is off"))
        .unwrap();
    assert!(poll(|| read_lines(&d.log("test-app/root.log"))
        .iter()
        .any(|l| l.ends_with("plain while tls is off"))));

    // The upgrade, as the package runs it; then a new client certificate.
    certs::upgrade_server_files(&certs_dir, "loghog", KeyType::Ecdsa, "test").unwrap();
    let ca = certs::find_ca_in(std::slice::from_ref(&certs_dir), "loghog").unwrap();
    let new_client =
        certs::make_client_file(&certs_dir, "app1", &ca, KeyType::Ecdsa, false).unwrap();

    let d = d.restart();
    let tls = d
        .tls
        .unwrap_or_else(|| panic!("no TLS listener:\n{}", d.output()));
    let sent = send_tls_with_python(
        tls,
        &old_ca,
        Some(&new_client),
        &[frame("test-app", "", "over tls with the old CA file")],
    );
    assert!(sent.status.success(), "{sent:?}");
    assert!(poll(|| read_lines(&d.log("test-app/root.log"))
        .iter()
        .any(|l| l.ends_with("over tls with the old CA file"))));

    // The old v1 client certificate: refused, with the reason and the fix.
    let old_client = certs_dir.join("client.pem");
    let _ = send_tls_with_python(
        tls,
        &old_ca,
        Some(&old_client),
        &[frame("test-app", "", "from a v1 client certificate")],
    );
    assert!(d.wait_for_output("reason=v1_certificate"), "{}", d.output());
    let line = d.output();
    let line = line
        .lines()
        .find(|l| l.contains("reason=v1_certificate"))
        .unwrap();
    assert!(line.contains("loghog-client-cert"), "{line}");
    assert!(
        !read_lines(&d.log("test-app/root.log"))
            .iter()
            .any(|l| l.contains("from a v1 client certificate"))
    );
}
