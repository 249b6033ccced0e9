//! `loghog-server-cert --upgrade` on what the original's openssl scripts
//! made (X.509 v1 over RSA-2048 keys): the CA key is kept byte for byte, the
//! CA certificate is re-issued as v3 with the same key and subject, the new
//! server certificate verifies against the *old* CA file (so deployed
//! clients keep working), and bad input changes nothing. Also: a client pem
//! made through sudo belongs to the sudo user.
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tempfile::TempDir;
use x509_parser::prelude::{FromDer, X509Certificate};

mod support;
use support::*;

fn openssl(dir: &Path, args: &[&str]) -> Option<Output> {
    match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(out) => Some(out),
        Err(e) => {
            eprintln!("note: openssl not runnable ({e}); test skipped");
            None
        }
    }
}

/// What the original's openssl scripts made, by the script the package
/// test uses too. Returns false when openssl is missing.
fn original_pki(dir: &Path, bits: &str) -> bool {
    if openssl(dir, &["version"]).is_none() {
        return false;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../packaging/tests/original-pki.sh"
    );
    let out = Command::new("sh")
        .arg(script)
        .arg(dir)
        .arg(bits)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    true
}

fn cert(path: &Path) -> (u32, String, Vec<u8>) {
    let der = CertificateDer::from_pem_file(path).unwrap();
    let (_, c) = X509Certificate::from_der(&der).unwrap();
    (
        c.version().0,
        c.subject().to_string(),
        c.public_key().subject_public_key.data.to_vec(),
    )
}

#[test]
fn upgrade_keeps_the_ca_key_and_old_ca_files_verify_the_new_server() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    if !original_pki(d, "2048") {
        return;
    }
    fs::copy(d.join("loghog-ca.cert"), d.join("old-ca.cert")).unwrap();
    let key_before = fs::read(d.join("loghog-ca.key")).unwrap();
    let (v, old_subject, old_key) = cert(&d.join("loghog-ca.cert"));
    assert_eq!(v, 0, "openssl x509 -req must have made a v1 CA");
    assert_eq!(cert(&d.join("loghog-server.pem")).0, 0);

    // What the issue saw: a plain run refuses, and now points at --upgrade.
    let out = run(SERVER_CERT, d, &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--upgrade"), "{}", text(&out));

    let out = run(SERVER_CERT, d, &["--upgrade"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("re-issued") && said.contains("X.509 v1"),
        "{said}"
    );

    assert_eq!(fs::read(d.join("loghog-ca.key")).unwrap(), key_before);
    let (v, subject, key) = cert(&d.join("loghog-ca.cert"));
    assert_eq!(v, 2, "the CA certificate is v3 now");
    assert_eq!(subject, old_subject);
    assert_eq!(key, old_key);
    assert_eq!(cert(&d.join("loghog-server.pem")).0, 2);
    assert_eq!(
        fs::metadata(d.join("loghog-server.pem"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let backups: Vec<String> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".old-"))
        .collect();
    assert_eq!(backups.len(), 2, "{backups:?}");

    // Deployed clients hold the old v1 CA file: OpenSSL must accept the new
    // server certificate with it, and with the new one.
    for ca in ["old-ca.cert", "loghog-ca.cert"] {
        let out = openssl(d, &["verify", "-CAfile", ca, "loghog-server.pem"]).unwrap();
        assert!(out.status.success(), "{ca}: {}", text(&out));
    }
    // A client certificate made afterwards chains to the same CA.
    let out = run(CLIENT_CERT, d, &["app", "."]);
    assert!(out.status.success(), "{}", text(&out));
    let out = openssl(d, &["verify", "-CAfile", "old-ca.cert", "app.pem"]).unwrap();
    assert!(out.status.success(), "{}", text(&out));

    // A second run finds everything usable and changes nothing.
    let snapshot = |p: &str| fs::read(d.join(p)).unwrap();
    let (ca, server) = (snapshot("loghog-ca.cert"), snapshot("loghog-server.pem"));
    let out = run(SERVER_CERT, d, &["--upgrade"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("kept"), "{}", text(&out));
    assert_eq!(snapshot("loghog-ca.cert"), ca);
    assert_eq!(snapshot("loghog-server.pem"), server);
}

#[test]
fn upgrade_refuses_what_it_cannot_fix_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    if !original_pki(d, "1024") {
        return;
    }
    let listing = || {
        let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    // A 1024-bit CA key: only a new CA helps.
    let before = listing();
    let out = run(SERVER_CERT, d, &["--upgrade"]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("loghog-ca.key") && said.contains("1024-bit"),
        "{said}"
    );
    assert!(said.contains("--force"), "{said}");
    assert_eq!(listing(), before);

    // A corrupt key: named, nothing written.
    fs::write(
        d.join("loghog-ca.key"),
        "-----BEGIN PRIVATE KEY-----\nnot base64!\n",
    )
    .unwrap();
    let before = listing();
    let out = run(SERVER_CERT, d, &["--upgrade"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("loghog-ca.key"), "{}", text(&out));
    assert_eq!(listing(), before);

    // A CA certificate of another key: not silently replaced.
    let other = TempDir::new().unwrap();
    assert!(run(SERVER_CERT, other.path(), &[]).status.success());
    assert!(run(SERVER_CERT, other.path(), &["other"]).status.success());
    fs::copy(
        other.path().join("other-ca.cert"),
        other.path().join("loghog-ca.cert"),
    )
    .unwrap();
    let out = run(SERVER_CERT, other.path(), &["--upgrade"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("does not belong"), "{}", text(&out));

    // No CA at all.
    let empty = TempDir::new().unwrap();
    let out = run(SERVER_CERT, empty.path(), &["--upgrade"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("loghog-ca.key"), "{}", text(&out));
    assert_eq!(fs::read_dir(empty.path()).unwrap().count(), 0);
}

#[test]
fn client_cert_through_sudo_belongs_to_the_sudo_user() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("note: not root; sudo hand-over test skipped");
        return;
    }
    let dir = TempDir::new().unwrap();
    assert!(run(SERVER_CERT, dir.path(), &[]).status.success());
    let out = Command::new(CLIENT_CERT)
        .args(["web01", "."])
        .current_dir(dir.path())
        .env("SUDO_USER", "someone")
        .env("SUDO_UID", "4321")
        .env("SUDO_GID", "4322")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("gave"), "{}", text(&out));
    let meta = fs::metadata(dir.path().join("web01.pem")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // Without sudo's variables the file stays root's.
    let out = Command::new(CLIENT_CERT)
        .args(["web02", "."])
        .current_dir(dir.path())
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fs::metadata(dir.path().join("web02.pem")).unwrap().uid(), 0);
}
